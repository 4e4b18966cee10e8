/**
 * X25519 primitives (RFC 7748) on node:crypto: key pairs, raw 32-byte public and secret keys, and
 * the text form of a public key ("x25519:<base64url>", the recipient string of docs/KEYS.md).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type JsonWebKey, type KeyObject } from 'node:crypto';
import { ModelsealError } from '../errors.js';
import { fromB64, toB64 } from '../format/encoding.js';

const PREFIX = 'x25519:';

// No KeyObject here comes out of generateKeyPairSync: on Node 20, exporting such a key as JWK
// deadlocks the process when the export's allocation triggers a garbage collection that finalises
// the key's generation job (it takes the key's lock, which the export holds; seen under load in the
// release service). A new key pair is exported inside its generation job instead, and imported.
// JWK, not DER: OpenSSL 3's DER decoders cost 100–600 µs a key, JWK 2–15 µs.
const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex');

/** A public KeyObject from 32 raw bytes. */
export function x25519PublicFromRaw(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: toB64(raw) }, format: 'jwk' });
}

/** A private KeyObject from 32 raw secret bytes (a DER import: slow, so once per long-lived key). */
export function x25519PrivateFromRaw(secret: Uint8Array): KeyObject {
  if (secret.length !== 32) throw new ModelsealError('INVALID_ARGUMENT', 'x25519 private key: expected 32 bytes');
  return createPrivateKey({ key: Buffer.concat([PKCS8_X25519, secret]), format: 'der', type: 'pkcs8' });
}

/** The 32 raw bytes of the public key of a public or private X25519 KeyObject. */
export function rawPublic(key: KeyObject): Uint8Array {
  const x = (key.type === 'public' ? key : createPublicKey(key)).export({ format: 'jwk' }).x;
  if (typeof x !== 'string') throw new ModelsealError('INTERNAL', 'X25519 key export failed');
  return fromB64(x, 'X25519 public key', 32);
}

/** A fresh X25519 key pair. */
export function newX25519(): { privateKey: KeyObject; secret: Uint8Array; publicRaw: Uint8Array } {
  // @types/node lacks the 'jwk' overload that Node has had since 15.12.
  const { privateKey: jwk } = (
    generateKeyPairSync as unknown as (t: 'x25519', o: object) => { privateKey: JsonWebKey }
  )('x25519', {
    publicKeyEncoding: { format: 'jwk' },
    privateKeyEncoding: { format: 'jwk' },
  });
  const publicRaw = fromB64(String(jwk.x), 'X25519 public key', 32);
  const secret = fromB64(String(jwk.d), 'X25519 private key', 32);
  return { privateKey: createPrivateKey({ key: jwk, format: 'jwk' }), secret, publicRaw };
}

/** Parses "x25519:<base64url 32 bytes>"; throws INVALID_ARGUMENT naming what is wrong. */
export function parseX25519Recipient(text: string): Uint8Array {
  const t = text.trim();
  if (!t.startsWith(PREFIX))
    throw new ModelsealError('INVALID_ARGUMENT', `x25519 public key must start with "${PREFIX}"`);
  try {
    return fromB64(t.slice(PREFIX.length), 'x25519 public key', 32);
  } catch (cause) {
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      'x25519 public key must be "x25519:" followed by 43 base64url characters',
      { cause },
    );
  }
}

/** The recipient string of a raw public key: "x25519:<base64url>". */
export function formatX25519Recipient(raw: Uint8Array): string {
  return PREFIX + toB64(raw);
}
