/** OCI references, Docker config credentials (auths; credHelpers through a real helper program), challenges. */
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { dockerCredential, parseChallenge } from '../../src/registry/oci/auth.js';
import { formatReference, isLoopback, parseReference } from '../../src/registry/oci/reference.js';
import { paramSize } from '../../src/registry/oci/modelpack.js';

const D = `sha256:${'ab'.repeat(32)}`;

describe('references', () => {
  it.each([
    ['oci://reg.example/m', { registry: 'reg.example', repository: 'm', tag: null, digest: null }],
    [
      'oci://127.0.0.1:5000/team/llama:v1.2',
      { registry: '127.0.0.1:5000', repository: 'team/llama', tag: 'v1.2', digest: null },
    ],
    [`oci://reg.example/a/b@${D}`, { registry: 'reg.example', repository: 'a/b', tag: null, digest: D }],
    [`oci://localhost:5000/a:t@${D}`, { registry: 'localhost:5000', repository: 'a', tag: 't', digest: D }],
  ])('parses %s and formats it back', (text, want) => {
    expect(parseReference(text)).toEqual(want);
    expect(formatReference(parseReference(text))).toBe(text);
  });

  it.each([
    'reg.example/m',
    'oci://reg.example',
    'oci://reg.example/UPPER',
    'oci://reg.example/m:bad tag',
    'oci://reg.example/m@sha256:abc',
    'oci://reg example/m',
  ])('refuses %s with INVALID_ARGUMENT', (text) => {
    expect(() => parseReference(text)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  it('knows loopback hosts', () => {
    expect(isLoopback('127.0.0.1:5000')).toBe(true);
    expect(isLoopback('localhost')).toBe(true);
    expect(isLoopback('[::1]:5000')).toBe(true);
    expect(isLoopback('10.0.0.1:5000')).toBe(false);
    expect(isLoopback('registry.example')).toBe(false);
  });

  it('spells parameter counts as model-spec paramSize', () => {
    expect(paramSize(8_030_261_248)).toBe('8.0B');
    expect(paramSize(124_439_808)).toBe('124.4M');
    expect(paramSize(999)).toBe('999');
  });
});

describe('Docker config', () => {
  const path0 = process.env.PATH;
  afterEach(() => {
    process.env.PATH = path0;
  });

  it('reads auths (base64 user:password) under the names docker writes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dcfg-'));
    const auth = Buffer.from('alice:pa:ss').toString('base64');
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ auths: { 'https://reg.example': { auth } } }));
    expect(await dockerCredential('reg.example', dir)).toEqual({ username: 'alice', password: 'pa:ss' });
    expect(await dockerCredential('other.example', dir)).toBeNull();
  });

  it('asks the credential helper named for the registry (docker-credential-<name> get, server on stdin)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dcfg-'));
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    const helper = join(bin, 'docker-credential-fake');
    writeFileSync(
      helper,
      '#!/bin/sh\nread server\n[ "$1" = get ] || exit 3\n' +
        'if [ "$server" = "https://reg.example" ]; then echo \'{"Username":"svc","Secret":"from-helper"}\'; ' +
        'else echo "credentials not found in native keychain"; exit 1; fi\n',
    );
    chmodSync(helper, 0o755);
    process.env.PATH = `${bin}${delimiter}${path0}`;
    writeFileSync(
      join(dir, 'config.json'),
      JSON.stringify({ credHelpers: { 'reg.example': 'fake' }, credsStore: 'fake', auths: {} }),
    );
    expect(await dockerCredential('reg.example', dir)).toEqual({ username: 'svc', password: 'from-helper' });
    expect(await dockerCredential('nobody.example', dir)).toBeNull();
  });

  it('no config is anonymous; a config that is not JSON is REGISTRY_AUTH', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dcfg-'));
    expect(await dockerCredential('reg.example', dir)).toBeNull();
    writeFileSync(join(dir, 'config.json'), '{nope');
    await expect(dockerCredential('reg.example', dir)).rejects.toMatchObject({ code: 'REGISTRY_AUTH' });
  });
});

describe('challenges', () => {
  it('parses a distribution Bearer challenge with a quoted, comma-holding scope', () => {
    expect(
      parseChallenge('Bearer realm="https://auth.example/token",service="registry",scope="repository:a/b:pull,push"'),
    ).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://auth.example/token', service: 'registry', scope: 'repository:a/b:pull,push' },
    });
    expect(parseChallenge('Basic realm="Registry Realm"')).toEqual({
      scheme: 'basic',
      params: { realm: 'Registry Realm' },
    });
  });
});
