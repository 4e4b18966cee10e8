/**
 * The gateway's API keys (src/gate/keys.ts): stored hashed, verified against the secret, refused
 * when revoked, expired, of a revoked or unknown recipient; a revoke made by another process (a
 * rewritten file) takes effect on the next verify.
 */
import { generateKeyPairSync } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyStore, apiKeyHash, apiKeyId, keyCoversModel, parseKeyExpiry } from '../../src/gate/keys.js';
import { RecipientRegistry } from '../../src/server/recipients.js';
import { tempDir } from '../support/fixtures.js';

const dir = tempDir('modelseal-api-keys-');
const recipients = new RecipientRegistry(join(dir, 'recipients'));
const keysDir = join(dir, 'api-keys');
const now = new Date('2026-06-01T12:00:00Z');

beforeAll(async () => {
  for (const name of ['acme', 'gone']) {
    const { publicKey } = generateKeyPairSync('ed25519');
    await recipients.register(name, { org: `${name} Ltd`, country: 'DE' }, publicKey);
  }
});

describe('ApiKeyStore', () => {
  it('issues msk_<id>_<secret>, stores only its SHA-256, and verifies the key but not a changed one', async () => {
    const store = new ApiKeyStore(keysDir, recipients);
    const { record, key } = await store.issue('acme', { models: ['tiny'], label: 'ci runner' }, now);
    expect(key).toMatch(/^msk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    expect(apiKeyId(key)).toBe(record.id);
    const file = join(keysDir, `${record.id}.json`);
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain(key.slice(22));
    expect(JSON.parse(text)).toMatchObject({ recipient: 'acme', hash: apiKeyHash(key), models: ['tiny'] });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(await store.verify(key, now)).toMatchObject({ id: record.id, recipient: 'acme' });
    const last = key.at(-1) === 'A' ? 'B' : 'A';
    expect(await store.verify(key.slice(0, -1) + last, now)).toBeNull();
    expect(await store.verify(`msk_${'0'.repeat(16)}_${key.slice(-43)}`, now)).toBeNull();
    expect(await store.verify('Bearer nonsense', now)).toBeNull();
    expect(keyCoversModel(record, 'tiny')).toBe(true);
    expect(keyCoversModel(record, 'other')).toBe(false);
    expect(keyCoversModel({ ...record, models: [] }, 'other')).toBe(true);
  });

  it('refuses an expired key, and a key whose recipient is revoked or unknown', async () => {
    const store = new ApiKeyStore(keysDir, recipients);
    const expiring = await store.issue('acme', { expires: '2026-06-02T00:00:00Z' }, now);
    expect(await store.verify(expiring.key, now)).not.toBeNull();
    expect(await store.verify(expiring.key, new Date('2026-06-02T00:00:00Z'))).toBeNull();
    const gone = await store.issue('gone', {}, now);
    expect(await store.verify(gone.key, now)).not.toBeNull();
    await recipients.revoke('gone');
    expect(await store.verify(gone.key, now)).toBeNull();
    expect(await store.check(gone.key, now)).toMatchObject({
      ok: false,
      reason: 'recipient-revoked',
      id: gone.record.id,
    });
    expect(await store.check(expiring.key, new Date('2026-06-03T00:00:00Z'))).toMatchObject({ reason: 'expired' });
    // A wrong secret is "unknown", as a key that does not exist: nothing is said about the stored record.
    const wrong = gone.key.slice(0, -1) + (gone.key.endsWith('A') ? 'B' : 'A');
    expect(await store.check(wrong, now)).toEqual({ ok: false, reason: 'unknown', id: gone.record.id });
    expect(await store.check('sk-not-ours', now)).toEqual({ ok: false, reason: 'unknown', id: null });
    await expect(store.issue('gone', {}, now)).rejects.toThrow(/revoked/);
    await expect(store.issue('nobody', {}, now)).rejects.toThrow(/no recipient named "nobody"/);
    // A key file whose recipient's file was removed: unknown recipient.
    const orphan = await store.issue('acme', {}, now);
    const f = join(keysDir, `${orphan.record.id}.json`);
    writeFileSync(f, JSON.stringify({ ...JSON.parse(readFileSync(f, 'utf8')), recipient: 'nobody' }));
    expect(await store.verify(orphan.key, now)).toBeNull();
    expect(await store.check(orphan.key, now)).toMatchObject({ reason: 'recipient-unknown' });
  });

  it('takes a revoke made through another store instance (another process) on the next verify', async () => {
    const gateway = new ApiKeyStore(keysDir, recipients);
    const cli = new ApiKeyStore(keysDir, recipients);
    const { record, key } = await cli.issue('acme', {}, now);
    expect(await gateway.verify(key, now)).not.toBeNull(); // cached now
    const revoked = await cli.revoke(record.id, now);
    expect(revoked.revoked).toBe(now.toISOString());
    expect(await gateway.verify(key, now)).toBeNull();
    expect(await gateway.check(key, now)).toMatchObject({ ok: false, reason: 'revoked' });
    expect((await cli.revoke(record.id, new Date('2027-01-01T00:00:00Z'))).revoked).toBe(now.toISOString());
    await expect(cli.revoke('0123456789abcdef')).rejects.toMatchObject({ code: 'API_KEY_UNKNOWN' });
  });

  it('lists keys, of one recipient when asked, and refuses bad options naming them', async () => {
    const store = new ApiKeyStore(keysDir, recipients);
    const all = await store.list();
    expect(all.length).toBe(readdirSync(keysDir).filter((f) => f.endsWith('.json')).length);
    expect((await store.list('gone')).map((k) => k.recipient)).toEqual(['gone']);
    await expect(store.issue('acme', { models: ['has space'] }, now)).rejects.toThrow(/--model/);
    await expect(store.issue('acme', { label: 'a\nb' }, now)).rejects.toThrow(/--label/);
  });
});

describe('parseKeyExpiry', () => {
  it('takes ISO dates and durations, refuses past times and anything else', () => {
    expect(parseKeyExpiry('30d', now)).toBe('2026-07-01T12:00:00.000Z');
    expect(parseKeyExpiry('12h', now)).toBe('2026-06-02T00:00:00.000Z');
    expect(parseKeyExpiry('2027-01-01', now)).toBe('2027-01-01T00:00:00.000Z');
    expect(parseKeyExpiry('2027-01-01T10:00:00+02:00', now)).toBe('2027-01-01T08:00:00.000Z');
    expect(() => parseKeyExpiry('2020-01-01', now)).toThrow(/already past/);
    expect(() => parseKeyExpiry('soon', now)).toThrow(/--expires "soon"/);
    expect(() => parseKeyExpiry('0d', now)).toThrow(/--expires/);
  });
});
