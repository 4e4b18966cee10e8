/**
 * push, pull and open oci:// against a real registry (Debian's docker-registry, distribution 2.8,
 * started by test/support/registry.ts) without auth, with basic auth and with token auth, through
 * the built CLI: byte-identical round trips by tag and digest, a tampered blob refused, a partial
 * pull resumed, the annotations read back by ociPackageInfo, and open oci:// end to end.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ociPackageInfo } from '../../src/index.js';
import { pullPartialPath } from '../../src/registry/oci/index.js';
import { cli } from '../support/cli.js';
import { tempDir } from '../support/fixtures.js';
import { within } from '../support/wait.js';
import { startRegistry, type RegistryAuth, type TestRegistry } from '../support/registry.js';

const dir = tempDir('modelseal-oci-');
const keys = join(dir, 'keys');
const ms = cli(keys, dir);
const pkg = join(dir, 'model.mseal');
const sha = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

beforeAll(() => {
  for (const args of [
    ['--json', 'init', '--log-origin', 'oci.test/log'],
    ['--json', 'seal', resolve('samples/checkpoint'), '--to', 'local', '-o', pkg, '--log', join(dir, 'log')],
  ]) {
    const r = ms(args);
    expect(r.code, r.stderr).toBe(0);
  }
});

/** Runs the CLI with DOCKER_CONFIG pointing at `config`. */
function withConfig<T>(config: string, f: () => T): T {
  const before = process.env.DOCKER_CONFIG;
  process.env.DOCKER_CONFIG = config;
  try {
    return f();
  } finally {
    if (before === undefined) delete process.env.DOCKER_CONFIG;
    else process.env.DOCKER_CONFIG = before;
  }
}

describe.each<RegistryAuth>(['none', 'basic', 'token'])('registry with auth %s', (auth) => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startRegistry({ auth });
  }, 30_000);
  afterAll(async () => {
    await reg.stop();
  });

  it('push → pull by tag and by digest: byte-identical, the digest printed, the package verified', () => {
    const ref = `oci://${reg.host}/models/sample:v1`;
    withConfig(reg.dockerConfig, () => {
      const pushed = ms(['push', pkg, ref]);
      expect(pushed.code, pushed.stderr + reg.log()).toBe(0);
      const digest = pushed.stdout.trim();
      expect(digest).toMatch(/^sha256:[a-f0-9]{64}$/);
      const byTag = join(dir, `tag-${auth}.mseal`);
      const pulled = ms(['pull', ref, '-o', byTag]);
      expect(pulled.code, pulled.stderr).toBe(0);
      expect(pulled.stdout.trim()).toBe(digest); // the tag resolved to what push printed
      expect(pulled.stderr).toContain('signature verified');
      expect(readFileSync(byTag).equals(readFileSync(pkg))).toBe(true);
      const byDigest = join(dir, `digest-${auth}.mseal`);
      const r = ms(['--json', 'pull', `oci://${reg.host}/models/sample@${digest}`, '-o', byDigest]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.json()).toMatchObject({ manifestDigest: digest, packageDigest: sha(readFileSync(pkg)), tag: null });
      expect(readFileSync(byDigest).equals(readFileSync(pkg))).toBe(true);
    });
    if (auth === 'token') expect(reg.token!.issued().length).toBeGreaterThan(0);
  });

  // Without auth there is nothing to refuse: this case exists for the two modes that ask.
  if (auth !== 'none')
    it('without credentials: REGISTRY_AUTH (exit 26), no password in the output', () => {
      const empty = mkdtempSync(join(tmpdir(), 'no-docker-config-'));
      withConfig(empty, () => {
        const r = ms(['push', pkg, `oci://${reg.host}/models/sample:denied`]);
        expect(r.code, r.stderr).toBe(26);
        expect(r.stderr).toMatch(/docker login/);
      });
      const wrong = mkdtempSync(join(tmpdir(), 'wrong-docker-config-'));
      const auth64 = Buffer.from(`${reg.username}:not-the-password`).toString('base64');
      writeFileSync(join(wrong, 'config.json'), JSON.stringify({ auths: { [reg.host]: { auth: auth64 } } }));
      withConfig(wrong, () => {
        const r = ms(['pull', `oci://${reg.host}/models/sample:v1`, '-o', join(dir, `never-${auth}.mseal`)]);
        expect(r.code, r.stderr).toBe(26);
        expect(r.stdout + r.stderr).not.toContain('not-the-password');
        expect(r.stdout + r.stderr).not.toContain(reg.password!);
      });
    });
});

describe('against one registry without auth', () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startRegistry({ auth: 'none' });
    const r = withConfig(reg.dockerConfig, () => ms(['push', pkg, `oci://${reg.host}/models/sample:v1`]));
    expect(r.code, r.stderr).toBe(0);
  }, 30_000);
  afterAll(async () => {
    await reg.stop();
  });

  it('refuses a blob the registry serves altered (REGISTRY_ERROR, exit 25) and writes nothing', () => {
    const ref = `oci://${reg.host}/models/tampered:v1`;
    const other = join(dir, 'other.mseal');
    const sealed = ms(['seal', resolve('samples/checkpoint'), '--to', 'local', '-o', other]);
    expect(sealed.code, sealed.stderr).toBe(0);
    withConfig(reg.dockerConfig, () => expect(ms(['push', other, ref]).code).toBe(0));
    const hex = sha(readFileSync(other)).slice(7);
    const stored = join(reg.storage, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
    const bytes = readFileSync(stored);
    bytes[bytes.length >> 1]! ^= 1;
    writeFileSync(stored, bytes);
    const out = join(dir, 'tampered.mseal');
    const r = withConfig(reg.dockerConfig, () => ms(['pull', ref, '-o', out]));
    expect(r.code, r.stderr).toBe(25);
    expect(r.stderr).toMatch(/not sha256:/);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.includes('tampered') && f.includes('partial'))).toEqual([]);
  });

  it('a digest reference the registry does not hold is REGISTRY_NOT_FOUND (exit 27)', () => {
    const r = withConfig(reg.dockerConfig, () =>
      ms(['pull', `oci://${reg.host}/models/sample@sha256:${'0'.repeat(64)}`, '-o', join(dir, 'x.mseal')]),
    );
    expect(r.code, r.stderr).toBe(27);
  });

  it('resumes an interrupted pull from the partial file with a Range request', async () => {
    const whole = readFileSync(pkg);
    const out = join(dir, 'resumed.mseal');
    const partial = pullPartialPath(out, sha(whole));
    writeFileSync(partial, whole.subarray(0, 300_000)); // what an interrupted pull leaves
    const r = withConfig(reg.dockerConfig, () =>
      ms(['--json', 'pull', `oci://${reg.host}/models/sample:v1`, '-o', out]),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().resumedFrom).toBe(300_000);
    expect(readFileSync(out).equals(whole)).toBe(true);
    expect(existsSync(partial)).toBe(false);
    // The registry answered the blob GET with 206 Partial Content: only the rest was sent.
    const blobGet = new RegExp(`"GET /v2/models/sample/blobs/${sha(whole)} HTTP/1.1" 206 ${whole.length - 300_000} `);
    await within(5000, 'the 206 in the registry access log', () => blobGet.test(reg.log()));
  });

  it('a second push skips the blob the repository has; to another repository it mounts it (--mount-from)', () => {
    withConfig(reg.dockerConfig, () => {
      const again = ms(['--json', 'push', pkg, `oci://${reg.host}/models/sample:v2`]);
      expect(again.code, again.stderr).toBe(0);
      expect(again.json().blob).toBe('exists');
      const mounted = ms([
        '--json',
        'push',
        pkg,
        `oci://${reg.host}/mirror/sample:v1`,
        '--mount-from',
        'models/sample',
      ]);
      expect(mounted.code, mounted.stderr).toBe(0);
      expect(mounted.json().blob).toBe('mounted');
      const back = join(dir, 'mounted.mseal');
      expect(ms(['pull', `oci://${reg.host}/mirror/sample:v1`, '-o', back]).code).toBe(0);
      expect(readFileSync(back).equals(readFileSync(pkg))).toBe(true);
    });
  });

  it('ociPackageInfo reads the annotations push wrote from the manifest alone', async () => {
    const inspected = ms(['--json', 'inspect', pkg]).json() as { model: { rootDigest: string }; signer: string };
    const info = await ociPackageInfo(`oci://${reg.host}/models/sample:v1`, { dockerConfig: reg.dockerConfig });
    expect(info).toMatchObject({
      packageDigest: sha(readFileSync(pkg)),
      modelDigest: inspected.model.rootDigest,
      publisher: inspected.signer,
      releaseUrl: null,
    });
    expect(info.reference).toMatch(new RegExp(`^oci://${reg.host}/models/sample@sha256:[a-f0-9]{64}$`));
  });

  it('open oci:// pulls, verifies and opens as open <file> does, and leaves no package behind', () => {
    const out = join(dir, 'opened');
    const r = withConfig(reg.dockerConfig, () => ms(['open', `oci://${reg.host}/models/sample:v1`, '-o', out]));
    expect(r.code, r.stderr).toBe(0);
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json'])
      expect(readFileSync(join(out, f)).equals(readFileSync(resolve('samples/checkpoint', f)))).toBe(true);
    expect(existsSync(join(out, 'model.sig'))).toBe(true);
    expect(readdirSync(dir).filter((f) => f.includes('oci-package'))).toEqual([]);
  });
});

describe('usage', () => {
  it('refuses dev.modelseal.* annotations, a push to a digest, a bad reference, an existing output (before any request)', () => {
    const at = 'oci://127.0.0.1:9/models/x'; // nothing listens on port 9: a request would fail with 25, not these
    const annotated = ms(['push', pkg, `${at}:v1`, '--annotation', 'dev.modelseal.package.digest=sha256:00']);
    expect(annotated.code, annotated.stderr).toBe(2);
    expect(annotated.stderr).toMatch(/set by push from the package/);
    expect(ms(['push', pkg, `${at}@sha256:${'a'.repeat(64)}`]).code).toBe(2);
    expect(ms(['pull', 'registry.example/models/x:v1', '-o', join(dir, 'y.mseal')]).code).toBe(2);
    const exists = ms(['pull', `${at}:v1`, '-o', pkg]);
    expect(exists.code, exists.stderr).toBe(10);
  });
});
