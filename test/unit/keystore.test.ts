/**
 * The key store returns key material, and the providers make Recipients and Identities of it
 * (keystore is the lower layer: docs/ARCHITECTURE.md).
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isModelsealError } from '../../src/errors.js';
import type { ReleaseContext } from '../../src/providers/types.js';
import {
  initKeystore,
  KEYSTORE_FILES,
  loadLocalKek,
  loadX25519Secret,
  newX25519KeyFile,
} from '../../src/keystore/keystore.js';
import { readKeyFile, writeKeyFile } from '../../src/keystore/keyfile.js';
import { LocalKey, loadLocalKey } from '../../src/providers/local.js';
import { loadX25519Identity, newX25519Key, X25519Recipient } from '../../src/providers/x25519.js';
import { formatX25519Recipient, parseX25519Recipient } from '../../src/crypto/x25519.js';
import * as api from '../../src/index.js';
import { tempDir } from '../support/fixtures.js';

const context: ReleaseContext = {
  packageId: new Uint8Array(32).fill(1),
  artifactDigest: new Uint8Array(32).fill(2),
  recipient: 'r',
  license: 'L',
  policy: 'none',
};

const rejects = async (p: Promise<unknown>) => {
  try {
    await p;
    return 'none';
  } catch (e) {
    return isModelsealError(e) ? e.code : String(e);
  }
};

describe('the key store hands out key material', () => {
  const dir = tempDir('modelseal-keystore-');
  const ready = initKeystore(dir);

  it('the local KEK and its id, which the local provider turns into a working key', async () => {
    await ready;
    const path = join(dir, KEYSTORE_FILES.localKek);
    const { id, kek } = await loadLocalKek(path);
    expect(id).toMatch(/^[0-9a-f]{16}$/);
    expect(kek).toHaveLength(32);
    const key = await loadLocalKey(path);
    expect(key.id).toBe(`local:${id}`);
    const wrapped = key.wrapDataKey(new Uint8Array(32).fill(9), context);
    const byHand = new LocalKey(id, kek);
    const stanza = { type: 'local', recipient: key.id, license: 'L', policy: 'none', ...wrapped };
    expect(byHand.unwrapDataKey(stanza, context)).toEqual(new Uint8Array(32).fill(9));
  });

  it("the x25519 secret, checked against the file's recipient string", async () => {
    const init = await ready;
    const path = join(dir, KEYSTORE_FILES.identity);
    const { secret, recipient } = await loadX25519Secret(path);
    expect(secret).toHaveLength(32);
    expect(recipient).toBe(init.x25519Recipient);
    const identity = await loadX25519Identity(path);
    expect(identity.recipient.id).toBe(recipient);
    expect(identity.description).toContain(path);
  });

  it('refuses an x25519 key file whose public key is not its private key', async () => {
    const f = newX25519KeyFile();
    const other = formatX25519Recipient(parseX25519Recipient(newX25519KeyFile().recipient));
    expect(other).not.toBe(f.recipient);
    const path = join(dir, 'mismatch.x25519');
    await writeKeyFile(path, { ...f.file, public: other });
    expect(await rejects(loadX25519Secret(path))).toBe('KEYSTORE');
    expect(await rejects(loadX25519Identity(path))).toBe('KEYSTORE');
  });

  it('refuses a key file of the wrong kind for each loader', async () => {
    await ready;
    expect(await rejects(loadLocalKek(join(dir, KEYSTORE_FILES.identity)))).toBe('KEYSTORE');
    expect(await rejects(loadX25519Secret(join(dir, KEYSTORE_FILES.localKek)))).toBe('KEYSTORE');
  });

  it('makes x25519 key files the provider opens, protected or not', async () => {
    const plain = newX25519KeyFile();
    expect(plain.file.public).toBe(plain.recipient);
    expect(plain.file.id).toBe(plain.recipient.slice(7, 23));
    const { file, identity } = newX25519Key('correct horse');
    const path = join(dir, 'protected.x25519');
    await writeKeyFile(path, file);
    expect((await readKeyFile(path)).secret.protection).toBe('scrypt');
    const loaded = await loadX25519Identity(path, async () => 'correct horse');
    expect(loaded.recipient.id).toBe(identity.recipient.id);
    const w = new X25519Recipient(parseX25519Recipient(identity.recipient.id)).wrapDataKey(randomBytes(32), context);
    expect(w.body).toHaveLength(60);
  });

  it('keeps the public API names working from src/index.ts', () => {
    for (const name of ['loadLocalKey', 'loadX25519Identity', 'newX25519Key', 'formatX25519Recipient'] as const)
      expect(typeof api[name]).toBe('function');
  });
});
