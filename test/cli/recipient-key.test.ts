/**
 * `recipient key issue | revoke | list`: the key printed once (stdout, or a 0600 file), never in
 * stderr or the listing, stored hashed; revoke by id; usage and unknown-id errors.
 */
import { generateKeyPairSync } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyStore, RecipientRegistry } from '../../src/index.js';
import { cli } from '../support/cli.js';
import { tempDir } from '../support/fixtures.js';

const dir = tempDir('modelseal-cli-apikey-');
const keys = join(dir, 'keys');
const data = join(dir, 'data');
const ms = cli(keys, dir);
const KEY = /msk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}/;

beforeAll(() => {
  const r = ms(['init', '--log-origin', 'apikey.test/log']);
  if (r.code !== 0) throw new Error(r.stderr);
  const pem = join(dir, 'k.pem');
  writeFileSync(pem, generateKeyPairSync('ed25519').publicKey.export({ format: 'pem', type: 'spki' }));
  const reg = ms([
    'recipient',
    'register',
    'acme',
    '--data',
    data,
    '--org',
    'Acme',
    '--country',
    'FR',
    '--public-key',
    pem,
  ]);
  if (reg.code !== 0) throw new Error(reg.stderr);
});

const store = () => new ApiKeyStore(join(data, 'api-keys'), new RecipientRegistry(join(data, 'recipients')));

describe('recipient key', () => {
  it('issue prints the key once on stdout, which verifies; list and stderr never show it', async () => {
    const r = ms([
      'recipient',
      'key',
      'issue',
      'acme',
      '--data',
      data,
      '--model',
      'tiny',
      '--model',
      'big',
      '--expires',
      '30d',
      '--label',
      'ci',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const key = r.stdout.trim();
    expect(key).toMatch(new RegExp(`^${KEY.source}$`));
    expect(r.stderr).not.toContain(key.slice(22));
    const record = await store().verify(key, new Date());
    expect(record).toMatchObject({ recipient: 'acme', models: ['tiny', 'big'], label: 'ci' });
    for (const f of readdirSync(join(data, 'api-keys')))
      expect(readFileSync(join(data, 'api-keys', f), 'utf8')).not.toContain(key);
    const list = ms(['recipient', 'key', 'list', 'acme', '--data', data, '--json']);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).not.toMatch(KEY);
    expect(list.json().keys).toEqual([
      expect.objectContaining({ id: record!.id, models: ['tiny', 'big'], revoked: null }),
    ]);
    expect(list.json().keys[0].hash).toBeUndefined();
    const human = ms(['recipient', 'key', 'list', '--data', data]);
    expect(human.stderr).toContain(record!.id);
    expect(human.stderr).toContain('tiny,big');
  });

  it('issue --out writes the key to a new 0600 file; --json then names the file, not the key', async () => {
    const out = join(dir, 'acme.key');
    const r = ms(['recipient', 'key', 'issue', 'acme', '--data', data, '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const key = readFileSync(out, 'utf8').trim();
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(r.stdout).not.toContain(key);
    expect(r.json()).toMatchObject({ ok: true, command: 'recipient key issue', keyFile: out });
    expect(r.json().key.id).toBe(key.slice(4, 20));
    const before = readdirSync(join(data, 'api-keys')).length;
    expect(ms(['recipient', 'key', 'issue', 'acme', '--data', data, '--out', out]).code).toBe(10);
    expect(readdirSync(join(data, 'api-keys'))).toHaveLength(before); // no key issued that nobody holds
  });

  it('issue --json without --out gives id and key; revoke refuses the key from then on', async () => {
    const r = ms(['recipient', 'key', 'issue', 'acme', '--data', data, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const { key, apiKey } = r.json();
    expect(apiKey).toMatch(KEY);
    const s = store();
    expect(await s.verify(apiKey, new Date())).not.toBeNull();
    const rv = ms(['recipient', 'key', 'revoke', key.id, '--data', data, '--json']);
    expect(rv.code, rv.stderr).toBe(0);
    expect(rv.json().key.revoked).toEqual(expect.any(String));
    expect(await s.verify(apiKey, new Date())).toBeNull();
    const human = ms(['recipient', 'key', 'list', 'acme', '--data', data]);
    expect(human.stderr).toMatch(new RegExp(`${key.id}.*REVOKED`));
  });

  it('refuses an unknown recipient, an unknown id, and a bad --expires', () => {
    expect(ms(['recipient', 'key', 'issue', 'nobody', '--data', data]).code).toBe(2);
    const unknown = ms(['recipient', 'key', 'revoke', '0123456789abcdef', '--data', data]);
    expect(unknown.code).toBe(32);
    expect(unknown.stderr).toContain('recipient key list');
    const bad = ms(['recipient', 'key', 'issue', 'acme', '--data', data, '--expires', 'tomorrow']);
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe('');
  });
});
