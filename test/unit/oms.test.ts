/** OMS (model-signing) bundles: round trip, tamper detection, and the root digest's ordering rule. */
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isModelsealError } from '../../src/errors.js';
import { computeRootDigest, signModel, verifyModelSignature, type ManifestEntry } from '../../src/provenance/oms.js';
import { localSigner } from '../../src/crypto/signer.js';

const sha = (s: string): Uint8Array => new Uint8Array(createHash('sha256').update(s).digest());
const entry = (path: string, content = path): ManifestEntry => ({ path, size: content.length, sha256: sha(content) });

function newKey(): { privateKey: KeyObject; publicKey: KeyObject; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKey, publicKey, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }) as string };
}

const ENTRIES = [entry('weights/model-00001.safetensors'), entry('config.json'), entry('a.txt'), entry('a/b')];
const key = newKey();
const signer = localSigner(key.privateKey);
const signed = await signModel({ modelName: 'demo', entries: ENTRIES, ignorePaths: ['model.sig'], signer });

function expectInvalid(f: () => unknown): void {
  let caught: unknown;
  try {
    f();
  } catch (e) {
    caught = e;
  }
  expect(isModelsealError(caught, 'SIGNATURE_INVALID'), String(caught)).toBe(true);
}

/** Edits the decoded bundle (and optionally its decoded statement) and re-serializes it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the edits reach into arbitrary decoded JSON
function edit(bundleText: string, f: (b: any, statement: any) => void): string {
  const b = JSON.parse(bundleText);
  const st = JSON.parse(Buffer.from(b.dsseEnvelope.payload, 'base64').toString('utf8'));
  const before = JSON.stringify(st);
  f(b, st);
  if (JSON.stringify(st) !== before) b.dsseEnvelope.payload = Buffer.from(JSON.stringify(st)).toString('base64');
  return JSON.stringify(b);
}

/** Replaces the statement and re-signs it correctly (DSSE PAE, DER ECDSA) with `privateKey`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the edits reach into arbitrary decoded JSON
function resign(bundleText: string, privateKey: KeyObject, f: (statement: any) => void): string {
  const b = JSON.parse(bundleText);
  const st = JSON.parse(Buffer.from(b.dsseEnvelope.payload, 'base64').toString('utf8'));
  f(st);
  const payload = Buffer.from(JSON.stringify(st));
  const pae = Buffer.concat([Buffer.from(`DSSEv1 28 application/vnd.in-toto+json ${payload.length} `), payload]);
  b.dsseEnvelope.payload = payload.toString('base64');
  b.dsseEnvelope.signatures[0].sig = sign('sha256', pae, privateKey).toString('base64');
  return JSON.stringify(b);
}

describe('OMS signatures', () => {
  it('round-trips sign and verify', () => {
    const v = verifyModelSignature(signed, key.publicKey);
    expect(v.modelName).toBe('demo');
    expect(v.ignorePaths).toEqual(['model.sig']);
    expect(Buffer.from(v.rootDigest)).toEqual(Buffer.from(computeRootDigest(ENTRIES)));
    // Sorted by path components like PurePosixPath: "a/b" before "a.txt".
    expect(v.entries.map((e) => e.path)).toEqual(['a/b', 'a.txt', 'config.json', 'weights/model-00001.safetensors']);
    for (const e of v.entries) expect(Buffer.from(e.sha256)).toEqual(Buffer.from(entry(e.path).sha256));
  });

  it('writes the bundle shape model-signing writes', () => {
    const b = JSON.parse(signed);
    expect(b.mediaType).toBe('application/vnd.dev.sigstore.bundle.v0.3+json');
    expect(b.verificationMaterial).toEqual({
      publicKey: { hint: createHash('sha256').update(key.publicKeyPem).digest('hex') },
      tlogEntries: [],
    });
    expect(b.dsseEnvelope.payloadType).toBe('application/vnd.in-toto+json');
    const st = JSON.parse(Buffer.from(b.dsseEnvelope.payload, 'base64').toString('utf8'));
    expect(st.predicateType).toBe('https://model_signing/signature/v1.0');
    expect(st.predicate.serialization).toEqual({
      method: 'files',
      hash_type: 'sha256',
      allow_symlinks: false,
      ignore_paths: ['model.sig'],
    });
    // DER-encoded ECDSA signature: ASN.1 SEQUENCE.
    expect(Buffer.from(b.dsseEnvelope.signatures[0].sig, 'base64')[0]).toBe(0x30);
  });

  it('rejects a tampered payload', () => {
    expectInvalid(() =>
      verifyModelSignature(
        edit(signed, (_b, st) => (st.subject[0].name = 'other')),
        key.publicKey,
      ),
    );
  });

  it('rejects a tampered signature', () => {
    const b = JSON.parse(signed);
    const sig = Buffer.from(b.dsseEnvelope.signatures[0].sig, 'base64');
    sig[sig.length - 1]! ^= 1;
    b.dsseEnvelope.signatures[0].sig = sig.toString('base64');
    expectInvalid(() => verifyModelSignature(JSON.stringify(b), key.publicKey));
  });

  it('rejects a resource digest that does not match the subject, even when re-signed', () => {
    const b = resign(signed, key.privateKey, (st) => (st.predicate.resources[0].digest = '00'.repeat(32)));
    expect(
      verifyModelSignature(
        resign(signed, key.privateKey, () => {}),
        key.publicKey,
      ).modelName,
    ).toBe('demo');
    expect(() => verifyModelSignature(b, key.publicKey)).toThrow(/subject digest/);
    expectInvalid(() => verifyModelSignature(b, key.publicKey));
  });

  it('rejects another key', () => {
    expectInvalid(() => verifyModelSignature(signed, newKey().publicKey));
    // Even with the hint removed, the signature itself fails.
    const noHint = edit(signed, (b) => (b.verificationMaterial.publicKey = {}));
    expect(verifyModelSignature(noHint, key.publicKey).modelName).toBe('demo');
    expectInvalid(() => verifyModelSignature(noHint, newKey().publicKey));
  });

  it('rejects malformed bundles', () => {
    expectInvalid(() => verifyModelSignature('not json', key.publicKey));
    expectInvalid(() =>
      verifyModelSignature(
        edit(signed, (b) => (b.mediaType = 'x')),
        key.publicKey,
      ),
    );
    expectInvalid(() =>
      verifyModelSignature(
        edit(signed, (b) => (b.dsseEnvelope.payloadType = 'x')),
        key.publicKey,
      ),
    );
    expectInvalid(() =>
      verifyModelSignature(
        edit(signed, (b) => (b.dsseEnvelope.signatures = [])),
        key.publicKey,
      ),
    );
  });

  it('rejects another predicate type', () => {
    const b = resign(signed, key.privateKey, (st) => (st.predicateType = 'https://model_signing/Digests/v0.1'));
    expect(() => verifyModelSignature(b, key.publicKey)).toThrow(/predicate type/);
    expectInvalid(() => verifyModelSignature(b, key.publicKey));
  });

  it('computeRootDigest sorts like model-signing (order-independent, by path components)', () => {
    const reversed = [...ENTRIES].reverse();
    expect(Buffer.from(computeRootDigest(reversed))).toEqual(Buffer.from(computeRootDigest(ENTRIES)));
    const order = ['a/b', 'a.txt', 'config.json', 'weights/model-00001.safetensors'];
    const expected = createHash('sha256');
    for (const p of order) expected.update(entry(p).sha256);
    expect(Buffer.from(computeRootDigest(ENTRIES)).toString('hex')).toBe(expected.digest('hex'));
    // The empty model hashes nothing.
    expect(Buffer.from(computeRootDigest([])).toString('hex')).toBe(createHash('sha256').digest('hex'));
  });

  it('refuses inputs model-signing could not verify', async () => {
    const base = { modelName: 'm', ignorePaths: ['model.sig'], signer };
    await expect(signModel({ ...base, entries: [entry('./a')] })).rejects.toThrow(/normalized/);
    await expect(signModel({ ...base, entries: [entry('a'), entry('a')] })).rejects.toThrow(/twice/);
    await expect(signModel({ ...base, entries: [entry('model.sig')] })).rejects.toThrow(/ignored/);
    const ed25519 = localSigner(generateKeyPairSync('ed25519').privateKey);
    await expect(signModel({ ...base, entries: ENTRIES, signer: ed25519 })).rejects.toThrow(/P-256/);
  });
});
