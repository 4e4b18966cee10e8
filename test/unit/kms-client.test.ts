/**
 * The aws-kms provider and signer over an injected client: an in-process KMS that does real crypto
 * (AES-256-GCM bound to the EncryptionContext, ECDSA P-256) and records every call, beside the
 * moto tests (test/interop/awskms.test.ts, signers.test.ts) that speak the real wire protocol.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  type KeyObject,
} from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  AwsKmsIdentity,
  AwsKmsRecipient,
  AwsKmsSigner,
  open,
  publisherFromSigner,
  seal,
  signerFromSpec,
  verifyPackage,
  type KmsClient,
} from '../../src/index.js';
import { verifyMessage } from '../../src/crypto/signer.js';
import { detBytes, makeKeys, tempDir } from '../support/fixtures.js';

const keys = makeKeys();
const dir = tempDir();

const awsError = (name: string) => Object.assign(new Error(`fake ${name}`), { name });
const ctxBytes = (c: Record<string, string>) =>
  Buffer.from(JSON.stringify(Object.entries(c).sort(([a], [b]) => (a < b ? -1 : 1))));

/** An in-process KMS: symmetric keys wrap under AES-256-GCM, P-256 keys sign; every call is recorded. */
class FakeKms implements KmsClient {
  readonly calls: { op: string; input: Record<string, unknown> }[] = [];
  readonly #aes = new Map<string, Buffer>();
  readonly #ec = new Map<string, KeyObject>();
  /** DIGEST signing: the fake signs the message whose SHA-256 it was given, which the test registers. */
  readonly preimages = new Map<string, Uint8Array>();
  /** Set to make Sign answer garbage, as a broken service might. */
  corruptSignatures = false;

  createKey(kind: 'aes' | 'ec'): string {
    const arn = `arn:aws:kms:us-east-1:111122223333:key/${randomBytes(8).toString('hex')}`;
    if (kind === 'aes') this.#aes.set(arn, randomBytes(32));
    else this.#ec.set(arn, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
    return arn;
  }

  #record(op: string, input: object) {
    this.calls.push({ op, input: input as Record<string, unknown> });
  }

  async describeKey(input: { KeyId: string }) {
    this.#record('DescribeKey', input);
    const ec = this.#ec.has(input.KeyId);
    if (!ec && !this.#aes.has(input.KeyId)) throw awsError('NotFoundException');
    return {
      KeyMetadata: {
        Arn: input.KeyId,
        KeyState: 'Enabled',
        KeyUsage: ec ? 'SIGN_VERIFY' : 'ENCRYPT_DECRYPT',
        KeySpec: ec ? 'ECC_NIST_P256' : 'SYMMETRIC_DEFAULT',
      },
    };
  }

  async encrypt(input: { KeyId: string; Plaintext: Uint8Array; EncryptionContext: Record<string, string> }) {
    this.#record('Encrypt', input);
    const key = this.#aes.get(input.KeyId);
    if (!key) throw awsError('NotFoundException');
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', key, iv).setAAD(ctxBytes(input.EncryptionContext));
    const ct = Buffer.concat([c.update(input.Plaintext), c.final()]);
    return { CiphertextBlob: new Uint8Array(Buffer.concat([iv, ct, c.getAuthTag()])) };
  }

  async decrypt(input: { KeyId: string; CiphertextBlob: Uint8Array; EncryptionContext: Record<string, string> }) {
    this.#record('Decrypt', input);
    const key = this.#aes.get(input.KeyId);
    if (!key) throw awsError('NotFoundException');
    const b = Buffer.from(input.CiphertextBlob);
    try {
      const d = createDecipheriv('aes-256-gcm', key, b.subarray(0, 12)).setAAD(ctxBytes(input.EncryptionContext));
      d.setAuthTag(b.subarray(b.length - 16));
      return { Plaintext: new Uint8Array(Buffer.concat([d.update(b.subarray(12, b.length - 16)), d.final()])) };
    } catch {
      throw awsError('InvalidCiphertextException');
    }
  }

  async getPublicKey(input: { KeyId: string }) {
    this.#record('GetPublicKey', input);
    const ec = this.#ec.get(input.KeyId);
    if (!ec) {
      if (this.#aes.has(input.KeyId))
        return { KeyId: input.KeyId, KeySpec: 'SYMMETRIC_DEFAULT', KeyUsage: 'ENCRYPT_DECRYPT' };
      throw awsError('NotFoundException');
    }
    return {
      KeyId: input.KeyId,
      KeySpec: 'ECC_NIST_P256',
      KeyUsage: 'SIGN_VERIFY',
      SigningAlgorithms: ['ECDSA_SHA_256'],
      PublicKey: new Uint8Array(createPublicKey(ec).export({ format: 'der', type: 'spki' })),
    };
  }

  async sign(input: { KeyId: string; Message: Uint8Array; MessageType: 'RAW' | 'DIGEST'; SigningAlgorithm: string }) {
    this.#record('Sign', input);
    const ec = this.#ec.get(input.KeyId);
    if (!ec) throw awsError('NotFoundException');
    if (input.SigningAlgorithm !== 'ECDSA_SHA_256') throw awsError('ValidationException');
    if (input.MessageType === 'RAW' && input.Message.length > 4096) throw awsError('ValidationException');
    const message =
      input.MessageType === 'RAW' ? input.Message : this.preimages.get(Buffer.from(input.Message).toString('hex'));
    if (!message) throw new Error('the test registered no message for this digest');
    const sig = sign('sha256', message, { key: ec, dsaEncoding: 'der' });
    if (this.corruptSignatures) sig[sig.length - 1]! ^= 1;
    return { Signature: new Uint8Array(sig) };
  }
}

describe('aws-kms over an injected client', () => {
  it('wraps and unwraps the data key through the client, the release context as EncryptionContext', async () => {
    const kms = new FakeKms();
    const arn = kms.createKey('aes');
    const src = join(dir, 'wrap.bin');
    writeFileSync(src, detBytes(100_000, 'wrap'));
    const pkg = join(dir, 'wrap.mseal');
    const recipient = await AwsKmsRecipient.resolve(arn, { client: kms });
    await seal({ input: src, output: pkg, recipients: [recipient], publisher: keys.publisher, license: 'EAR-9' });
    const out = join(dir, 'wrap-out');
    await open({
      input: pkg,
      output: out,
      identities: [new AwsKmsIdentity({ client: kms })],
      trustedPublishers: keys.trusted,
    });
    expect(readFileSync(out).equals(readFileSync(src))).toBe(true);
    expect(kms.calls.map((c) => c.op)).toEqual(['DescribeKey', 'Encrypt', 'Decrypt']);
    const [, enc, dec] = kms.calls;
    expect(enc!.input.EncryptionContext).toMatchObject({ license: 'EAR-9', recipient: `aws-kms:${arn}` });
    expect(dec!.input.EncryptionContext).toEqual(enc!.input.EncryptionContext);
    expect(dec!.input.KeyId).toBe(arn);
  });

  it('maps the client errors as for the SDK (a missing key, a stanza for another context)', async () => {
    const kms = new FakeKms();
    await expect(AwsKmsRecipient.resolve('arn:aws:kms:us-east-1:1:key/none', { client: kms })).rejects.toMatchObject({
      code: 'PROVIDER_UNAVAILABLE',
      details: { awsError: 'NotFoundException' },
    });
    await expect(AwsKmsRecipient.resolve(kms.createKey('ec'), { client: kms })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });
});

describe('AwsKmsSigner over an injected client', () => {
  it('signs a package with KMS Sign (RAW), which verifies under GetPublicKey', async () => {
    const kms = new FakeKms();
    const arn = kms.createKey('ec');
    const signer = await AwsKmsSigner.resolve(arn, { client: kms });
    expect(signer.keyId).toBe(arn);
    const publisher = publisherFromSigner(signer);
    const src = join(dir, 'signed.bin');
    writeFileSync(src, detBytes(50_000, 'signed'));
    const pkg = join(dir, 'signed.mseal');
    await seal({ input: src, output: pkg, recipients: [keys.local], publisher });
    await verifyPackage(pkg, { trustedPublishers: [publisher.spki] });
    const signs = kms.calls.filter((c) => c.op === 'Sign');
    expect(signs.length).toBe(3); // model.sig, header, trailer
    for (const s of signs)
      expect(s.input).toMatchObject({ KeyId: arn, MessageType: 'RAW', SigningAlgorithm: 'ECDSA_SHA_256' });
  });

  it('sends a message over 4096 bytes as its SHA-256 (DIGEST): the same signature', async () => {
    const kms = new FakeKms();
    const signer = await AwsKmsSigner.resolve(kms.createKey('ec'), { client: kms });
    const long = new Uint8Array(detBytes(10_000, 'long'));
    const digest = createHash('sha256').update(long).digest();
    kms.preimages.set(digest.toString('hex'), long);
    const sig = await signer.sign(long);
    expect(verifyMessage(signer.publicKey, long, sig)).toBe(true);
    const call = kms.calls.at(-1)!;
    expect(call.input.MessageType).toBe('DIGEST');
    expect(Buffer.from(call.input.Message as Uint8Array)).toEqual(digest);
  });

  it('refuses a key that is not a P-256 signing key, and a signature that does not verify', async () => {
    const kms = new FakeKms();
    await expect(AwsKmsSigner.resolve(kms.createKey('aes'), { client: kms })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('ECC_NIST_P256'),
    });
    await expect(AwsKmsSigner.resolve('alias/none', { client: kms })).rejects.toMatchObject({
      code: 'PROVIDER_UNAVAILABLE',
    });
    const signer = await AwsKmsSigner.resolve(kms.createKey('ec'), { client: kms });
    kms.corruptSignatures = true;
    await expect(signer.sign(new Uint8Array(10))).rejects.toMatchObject({ code: 'PROVIDER_UNAVAILABLE' });
  });
});

describe('signerFromSpec', () => {
  it('builds a KMS signer with the settings client, and says what a pkcs11 spec lacks', async () => {
    const kms = new FakeKms();
    const arn = kms.createKey('ec');
    const signer = await signerFromSpec(`aws-kms:${arn}?region=eu-west-1`, { kms: { client: kms } });
    expect(signer).toBeInstanceOf(AwsKmsSigner);
    expect(signer.keyId).toBe(arn);
    expect(kms.calls.map((c) => c.op)).toEqual(['GetPublicKey']);
    await expect(signerFromSpec('pkcs11:hsm/publisher', {})).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('--pkcs11-module'),
    });
    await expect(
      signerFromSpec('pkcs11:hsm/publisher', { pkcs11: { module: '/nonexistent/module.so' } as never }),
    ).rejects.toMatchObject({
      code: 'KEYSTORE',
    });
  });
});
