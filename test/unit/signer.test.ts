/**
 * The Signer interface: the local signer, a signer whose key this process never holds (as a KMS or
 * an HSM), and every place the publisher or the log signs going through it with the same bytes.
 */
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ecdsaRawToDer,
  localSigner,
  signWith,
  verifyMessage,
  type Signer,
  type SignerAlgorithm,
} from '../../src/crypto/signer.js';
import { NoteSigner, openNote, parseVerifierKey, signNote } from '../../src/log/note.js';
import { formatCheckpoint } from '../../src/log/checkpoint.js';
import { publisherFromSigner } from '../../src/keystore/keystore.js';
import { open, readHead, rewrap, seal, verifyPackage } from '../../src/index.js';
import { exportBytes, signExports } from '../../src/release/exports.js';
import { parseSignerSpec, signerFromSpec } from '../../src/providers/signers.js';
import type { KmsClient } from '../../src/providers/awskms-client.js';
import { detBytes, makeKeys, tempDir } from '../support/fixtures.js';

const keys = makeKeys();
const dir = tempDir();

/** A signer that keeps its key to itself and records what it was asked to sign: a KMS or HSM stand-in. */
function remoteSigner(algorithm: SignerAlgorithm): Signer & { calls: Uint8Array[] } {
  const { privateKey } =
    algorithm === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const local = localSigner(privateKey);
  const calls: Uint8Array[] = [];
  return {
    algorithm,
    publicKey: local.publicKey,
    keyId: 'test:remote',
    calls,
    sign: async (m) => {
      calls.push(m);
      await new Promise((r) => setImmediate(r)); // answers later, as a service would
      return local.sign(m);
    },
  };
}

describe('localSigner', () => {
  it('signs P-256 as DER over SHA-256 and Ed25519 as 64 bytes', async () => {
    const ec = localSigner(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
    const msg = new TextEncoder().encode('modelseal/v1 test');
    const sig = await signWith(ec, 'ecdsa-p256-sha256', msg);
    expect(sig[0]).toBe(0x30);
    expect(verifyMessage(ec.publicKey, msg, sig)).toBe(true);
    expect(verifyMessage(ec.publicKey, new TextEncoder().encode('other'), sig)).toBe(false);
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const ed = localSigner(privateKey);
    const edSig = await signWith(ed, 'ed25519', msg);
    expect(edSig.length).toBe(64);
    expect(verify(null, msg, publicKey, edSig)).toBe(true);
  });

  it('refuses keys it cannot sign with, and a signer of the wrong algorithm', async () => {
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
    expect(() => localSigner(p384)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    const ed = localSigner(generateKeyPairSync('ed25519').privateKey);
    await expect(signWith(ed, 'ecdsa-p256-sha256', new Uint8Array(1))).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    expect(() => publisherFromSigner(ed)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  it('a signer that returns no signature of its algorithm is an error, not a package', async () => {
    const bad: Signer = {
      ...localSigner(generateKeyPairSync('ed25519').privateKey),
      sign: async () => new Uint8Array(3),
    };
    await expect(signWith(bad, 'ed25519', new Uint8Array(1))).rejects.toMatchObject({ code: 'INTERNAL' });
  });
});

describe('ecdsaRawToDer (PKCS#11 CKM_ECDSA gives r ‖ s)', () => {
  it('turns IEEE P1363 signatures into DER ones that verify, whatever the leading bits', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const msg = Buffer.from('raw to der');
    let highBit = 0;
    for (let i = 0; i < 300; i++) {
      const raw = sign('sha256', msg, { key: privateKey, dsaEncoding: 'ieee-p1363' });
      if (raw[0]! & 0x80 || raw[32]! & 0x80) highBit++;
      const der = ecdsaRawToDer(raw);
      expect(verify('sha256', msg, { key: publicKey, dsaEncoding: 'der' }, der)).toBe(true);
    }
    expect(highBit).toBeGreaterThan(0);
    // Leading zero bytes are dropped, and a high bit gets a zero byte in front (DER INTEGERs are signed).
    const forced = ecdsaRawToDer(
      Buffer.concat([Buffer.alloc(31), Buffer.from([1]), Buffer.alloc(31), Buffer.from([0x80])]),
    );
    expect(Buffer.from(forced).toString('hex')).toBe('3007020101020200' + '80');
    expect(() => ecdsaRawToDer(new Uint8Array(63))).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});

describe('a publisher whose key never enters this process', () => {
  it('seals (header, trailer and model.sig), verifies, opens and rewraps with the same signatures as a local key', async () => {
    const signer = remoteSigner('ecdsa-p256-sha256');
    const publisher = publisherFromSigner(signer);
    const src = join(dir, 'remote.bin');
    writeFileSync(src, detBytes(200_000, 'remote'));
    const pkg = join(dir, 'remote.mseal');
    await seal({ input: src, output: pkg, recipients: [keys.local], publisher });
    // model.sig, the header signature and the trailer: three messages.
    expect(signer.calls.length).toBe(3);
    const head = await readHead(pkg);
    expect(Buffer.from(head.trailer.publicKey)).toEqual(Buffer.from(signer.publicKey));
    await verifyPackage(pkg, { trustedPublishers: [publisher.spki] });
    await expect(verifyPackage(pkg, { trustedPublishers: keys.trusted })).rejects.toMatchObject({
      code: 'UNTRUSTED_SIGNER',
    });
    const out = join(dir, 'remote-out');
    await open({ input: pkg, output: out, identities: [keys.local], trustedPublishers: [publisher.spki] });
    expect(readFileSync(out).equals(readFileSync(src))).toBe(true);
    await rewrap(pkg, {
      identities: [keys.local],
      trustedPublishers: [publisher.spki],
      publisher,
      add: [keys.alice.recipient],
    });
    expect(signer.calls.length).toBe(5);
    await verifyPackage(pkg, { trustedPublishers: [publisher.spki] });
  });

  it('signs export submissions the service checks', async () => {
    const signer = remoteSigner('ecdsa-p256-sha256');
    const sub = await signExports([], signer);
    expect(Buffer.from(sub.publisher, 'base64')).toEqual(Buffer.from(signer.publicKey));
    expect(verifyMessage(signer.publicKey, exportBytes([]), Buffer.from(sub.signature, 'base64'))).toBe(true);
  });
});

describe('NoteSigner over a Signer', () => {
  it('gives the same key id, verifier key and (Ed25519 being deterministic) the same note bytes as the local key', async () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    const local = NoteSigner.fromKey('modelseal.test/log', privateKey);
    const inner = localSigner(privateKey);
    const remote = NoteSigner.fromSigner('modelseal.test/log', {
      algorithm: 'ed25519',
      publicKey: inner.publicKey,
      sign: (m) => inner.sign(m),
    });
    expect(remote.keyId).toBe(local.keyId);
    expect(remote.verifierKey).toBe(local.verifierKey);
    const text = formatCheckpoint({ origin: local.name, size: 3, root: Buffer.alloc(32, 7), extensions: [] });
    const note = await signNote(text, [remote]);
    expect(note).toBe(await signNote(text, [local]));
    expect(openNote(note, [parseVerifierKey(remote.verifierKey)]).verifiedBy).toEqual(['modelseal.test/log']);
    expect(() => remote.seed).toThrow(/held by its signer/);
  });

  it('refuses a signer that is not Ed25519', () => {
    expect(() => NoteSigner.fromSigner('modelseal.test/log', remoteSigner('ecdsa-p256-sha256'))).toThrow(
      expect.objectContaining({ code: 'LOG_INVALID' }),
    );
  });
});

describe('signer specs (seal --signer)', () => {
  it('parses aws-kms and pkcs11 specs', () => {
    expect(parseSignerSpec('aws-kms:arn:aws:kms:eu-west-1:111122223333:key/abc')).toEqual({
      type: 'aws-kms',
      key: 'arn:aws:kms:eu-west-1:111122223333:key/abc',
    });
    expect(parseSignerSpec('aws-kms:alias/pub?region=eu-west-1&endpoint=http://127.0.0.1:5000')).toEqual({
      type: 'aws-kms',
      key: 'alias/pub',
      region: 'eu-west-1',
      endpoint: 'http://127.0.0.1:5000',
    });
    expect(parseSignerSpec('pkcs11:hsm/publisher key')).toEqual({
      type: 'pkcs11',
      token: 'hsm',
      label: 'publisher key',
    });
    expect(parseSignerSpec('pkcs11:token=my%20hsm;object=pub;module-path=/usr/lib/softhsm/libsofthsm2.so')).toEqual({
      type: 'pkcs11',
      token: 'my hsm',
      label: 'pub',
      module: '/usr/lib/softhsm/libsofthsm2.so',
    });
    expect(parseSignerSpec('pkcs11:label=pub;token=hsm?module=/m.so')).toEqual({
      type: 'pkcs11',
      token: 'hsm',
      label: 'pub',
      module: '/m.so',
    });
  });

  it('says what is wrong, and never echoes a PIN', () => {
    const invalid = (spec: string, what: RegExp) =>
      expect(() => parseSignerSpec(spec)).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(what) }),
      );
    invalid('gcp-kms:key', /unknown signer type "gcp-kms"/);
    invalid('aws-kms:', /no KMS key/);
    invalid('aws-kms:alias/x?profile=prod', /only region=<region> and endpoint/);
    invalid('pkcs11:hsm', /pkcs11:<token label>\/<key label>/);
    invalid('pkcs11:token=hsm', /names its token and object/);
    invalid('pkcs11:token=hsm;object=k;id=%01', /only token, object/);
    for (const spec of [
      'pkcs11:token=hsm;object=k;pin-value=secret-4242',
      'pkcs11:token=hsm;object=k?pin-value=secret-4242',
    ]) {
      let err: unknown;
      try {
        parseSignerSpec(spec);
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('PIN never goes') });
      expect(JSON.stringify({ m: (err as Error).message, d: (err as { details?: unknown }).details })).not.toContain(
        '4242',
      );
    }
  });
});

describe('log signer specs (serve --log-signer)', () => {
  it('refuses an AWS KMS key before KMS is called, and names --log-signer in its errors', async () => {
    const calls: string[] = [];
    const client = {
      getPublicKey: () => {
        calls.push('getPublicKey');
        return Promise.reject(new Error('no KMS here'));
      },
    } as unknown as KmsClient;
    await expect(signerFromSpec('aws-kms:alias/log', { kms: { client } }, 'log')).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/^--log-signer aws-kms:alias\/log: AWS KMS keys cannot sign log checkpoints/),
    });
    expect(calls).toEqual([]);
    // As a publisher key the same spec goes to KMS.
    await expect(signerFromSpec('aws-kms:alias/log', { kms: { client } })).rejects.toBeTruthy();
    expect(calls).toEqual(['getPublicKey']);
    expect(() => parseSignerSpec('pkcs11:hsm', 'log')).toThrow(
      expect.objectContaining({ message: expect.stringMatching(/^--log-signer "pkcs11:hsm": /) }),
    );
    await expect(signerFromSpec('pkcs11:hsm/log', {}, 'log')).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/^--log-signer pkcs11:hsm\/log: no PKCS#11 module/),
    });
  });
});
