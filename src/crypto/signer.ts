/**
 * Publisher and log signatures: the `Signer` interface (a local key, a KMS key or an HSM key all
 * fit), the local implementation, and ECDSA P-256 (DER, SHA-256) verification over modelseal/v1
 * signed messages.
 */
import { createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { ModelsealError } from '../errors.js';

/** The signature algorithms a signer may offer: ECDSA P-256 over SHA-256 (DER) for packages, Ed25519 for log notes. */
export type SignerAlgorithm = 'ecdsa-p256-sha256' | 'ed25519';

/**
 * Something that signs with a key it may never reveal. `sign` returns, for `ecdsa-p256-sha256`, a
 * DER-encoded ECDSA signature over SHA-256(message); for `ed25519`, the 64-byte RFC 8032 signature.
 */
export interface Signer {
  readonly algorithm: SignerAlgorithm;
  /** The public key, SubjectPublicKeyInfo DER. */
  readonly publicKey: Uint8Array;
  /** Where the key lives, for messages (a KMS key ARN, a token/label); never secret. */
  readonly keyId?: string;
  sign(message: Uint8Array): Promise<Uint8Array>;
}

/** A signer whose key is in this process: it can also sign synchronously. */
export interface LocalSigner extends Signer {
  signSync(message: Uint8Array): Uint8Array;
}

/** A signer over a private key held in this process (P-256 or Ed25519). */
export function localSigner(privateKey: KeyObject): LocalSigner {
  if (privateKey.type !== 'private')
    throw new ModelsealError('INVALID_ARGUMENT', 'localSigner: expected a private key');
  const algorithm: SignerAlgorithm =
    privateKey.asymmetricKeyType === 'ed25519'
      ? 'ed25519'
      : (checkP256(privateKey, 'signing key'), 'ecdsa-p256-sha256');
  const signSync = (message: Uint8Array) =>
    new Uint8Array(
      algorithm === 'ed25519'
        ? sign(null, message, privateKey)
        : sign('sha256', message, { key: privateKey, dsaEncoding: 'der' }),
    );
  return { algorithm, publicKey: spkiDer(privateKey), signSync, sign: async (message) => signSync(message) };
}

/** Signs `message` with `signer`, which must offer `algorithm`; checks the signature's shape. */
export async function signWith(signer: Signer, algorithm: SignerAlgorithm, message: Uint8Array): Promise<Uint8Array> {
  if (signer.algorithm !== algorithm)
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `the signer${signer.keyId ? ` ${signer.keyId}` : ''} signs ${signer.algorithm}; ${algorithm} is needed here`,
    );
  const sig = await signer.sign(message);
  if (algorithm === 'ed25519' ? sig.length !== 64 : sig.length < 8 || sig.length > 72 || sig[0] !== 0x30)
    throw new ModelsealError(
      'INTERNAL',
      `the signer${signer.keyId ? ` ${signer.keyId}` : ''} returned no ${algorithm} signature`,
    );
  return sig;
}

/**
 * Whether `signature` is a DER ECDSA P-256 signature over SHA-256(message) by the SPKI DER key; false on any malformed
 * input.
 */
export function verifyMessage(spkiDer: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(spkiDer), format: 'der', type: 'spki' });
  } catch {
    return false;
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') return false;
  try {
    return verify('sha256', message, { key, dsaEncoding: 'der' }, signature);
  } catch {
    return false;
  }
}

/** Throws INVALID_ARGUMENT (naming `what`) unless `key` is an EC P-256 key. */
export function checkP256(key: KeyObject, what: string): void {
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new ModelsealError('INVALID_ARGUMENT', `${what}: expected an ECDSA P-256 key`);
  }
}

/** The SubjectPublicKeyInfo DER of a key (its public half for a private key). */
export function spkiDer(key: KeyObject): Uint8Array {
  const pub = key.type === 'public' ? key : createPublicKey(key);
  return new Uint8Array(pub.export({ format: 'der', type: 'spki' }));
}

/** The public key of an SPKI DER, checked to be of `algorithm`'s type (P-256 or Ed25519). */
export function signerPublicKey(spki: Uint8Array, algorithm: SignerAlgorithm, what: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch (cause) {
    throw new ModelsealError('INVALID_ARGUMENT', `${what}: not a SubjectPublicKeyInfo public key`, { cause });
  }
  if (algorithm === 'ecdsa-p256-sha256') checkP256(key, what);
  else if (key.asymmetricKeyType !== 'ed25519')
    throw new ModelsealError('INVALID_ARGUMENT', `${what}: expected an Ed25519 key`);
  return key;
}

/** DER SEQUENCE{INTEGER r, INTEGER s} from a raw r ‖ s ECDSA signature (PKCS#11 CKM_ECDSA, IEEE P1363). */
export function ecdsaRawToDer(raw: Uint8Array): Uint8Array {
  if (raw.length === 0 || raw.length % 2 !== 0 || raw.length > 132)
    throw new ModelsealError('INVALID_ARGUMENT', `an ECDSA r ‖ s signature has an even length, not ${raw.length}`);
  const int = (b: Uint8Array): Buffer => {
    let i = 0;
    while (i < b.length - 1 && b[i] === 0) i++;
    const v = Buffer.from(b.subarray(i));
    const body = v[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v;
    return Buffer.concat([Buffer.from([0x02, body.length]), body]);
  };
  const half = raw.length / 2;
  const seq = Buffer.concat([int(raw.subarray(0, half)), int(raw.subarray(half))]);
  const len = seq.length < 0x80 ? Buffer.from([seq.length]) : Buffer.from([0x81, seq.length]);
  return new Uint8Array(Buffer.concat([Buffer.from([0x30]), len, seq]));
}
