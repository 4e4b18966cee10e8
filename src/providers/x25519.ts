/**
 * `x25519`: an offline recipient's public key, HPKE-style (RFC 9180 DHKEM shape, by hand):
 * ephemeral X25519 → shared secret → HKDF-SHA-256(salt = ephemeral ‖ recipient public key)
 * → AES-256-GCM wrap of the data key with the release context as AAD.
 * Stanza: type "x25519", args [ephemeral public key], body = nonce ‖ ct ‖ tag.
 */
import {
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';
import { ModelsealError } from '../errors.js';
import { fromB64, toB64, utf8 } from '../format/encoding.js';
import type { Stanza } from '../format/header.js';
import { aeadUnwrap, aeadWrap } from './aead.js';
import { releaseContextBytes, type Identity, type Recipient, type ReleaseContext, type WrappedKey } from './types.js';

const PREFIX = 'x25519:';
const INFO = utf8.encode('modelseal/v1 x25519');
const ZERO_NONCE = new Uint8Array(12); // each wrap key is fresh (new ephemeral), so a fixed nonce is safe

// No KeyObject here comes out of generateKeyPairSync: on Node 20, exporting such a key as JWK
// deadlocks the process when the export's allocation triggers a garbage collection that finalises
// the key's generation job (it takes the key's lock, which the export holds; seen under load in the
// release service). A new key pair is exported inside its generation job instead, and imported.
// JWK, not DER: OpenSSL 3's DER decoders cost 100–600 µs a key, JWK 2–15 µs.
const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex');

export function x25519PublicFromRaw(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: toB64(raw) }, format: 'jwk' });
}

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

export function formatX25519Recipient(raw: Uint8Array): string {
  return PREFIX + toB64(raw);
}

function wrapKey(shared: Uint8Array, ephemeral: Uint8Array, recipient: Uint8Array): Uint8Array {
  if (shared.every((b) => b === 0)) {
    throw new ModelsealError(
      'DECRYPTION_FAILED',
      'the package failed authentication; it may be damaged or tampered with',
    );
  }
  return new Uint8Array(hkdfSync('sha256', shared, Buffer.concat([ephemeral, recipient]), INFO, 32));
}

export class X25519Recipient implements Recipient {
  readonly type = 'x25519';
  readonly id: string;
  readonly #raw: Uint8Array;
  readonly #key: KeyObject;

  constructor(publicKey: Uint8Array) {
    if (publicKey.length !== 32) throw new ModelsealError('INVALID_ARGUMENT', 'x25519 public key: expected 32 bytes');
    this.#raw = publicKey;
    this.#key = x25519PublicFromRaw(publicKey);
    this.id = formatX25519Recipient(publicKey);
    // A low-order point (all zeros, ...) gives an all-zero shared secret, which OpenSSL refuses: no key could be wrapped to it.
    try {
      diffieHellman({ privateKey: newX25519().privateKey, publicKey: this.#key });
    } catch (cause) {
      throw new ModelsealError(
        'INVALID_ARGUMENT',
        `${this.id} is not a usable x25519 public key (a low-order point); ask the recipient for their recipient string`,
        { cause },
      );
    }
  }

  wrapDataKey(dataKey: Uint8Array, context: ReleaseContext): WrappedKey {
    const eph = newX25519();
    eph.secret.fill(0);
    const ephRaw = eph.publicRaw;
    const shared = new Uint8Array(diffieHellman({ privateKey: eph.privateKey, publicKey: this.#key }));
    const key = wrapKey(shared, ephRaw, this.#raw);
    return { args: [toB64(ephRaw)], body: aeadWrap(key, dataKey, releaseContextBytes(context), ZERO_NONCE) };
  }
}

export class X25519Identity implements Identity {
  readonly description: string;
  readonly recipient: X25519Recipient;
  readonly #private: KeyObject;
  readonly #raw: Uint8Array;

  /** @param privateKey 32 raw secret bytes */
  constructor(privateKey: Uint8Array, description = 'x25519 identity') {
    if (privateKey.length !== 32) throw new ModelsealError('INVALID_ARGUMENT', 'x25519 private key: expected 32 bytes');
    // Once per identity, so the slow DER import is fine here (JWK would need the public key first).
    this.#private = createPrivateKey({ key: Buffer.concat([PKCS8_X25519, privateKey]), format: 'der', type: 'pkcs8' });
    const pub = rawPublic(this.#private);
    this.#raw = pub;
    this.recipient = new X25519Recipient(pub);
    this.description = `${description} (${this.recipient.id.slice(0, 19)}…)`;
  }

  static generate(): { identity: X25519Identity; secret: Uint8Array } {
    const { secret } = newX25519();
    return { identity: new X25519Identity(secret), secret };
  }

  unwrapDataKey(stanza: Stanza, context: ReleaseContext): Uint8Array | null {
    if (stanza.type !== 'x25519' || stanza.recipient !== this.recipient.id) return null;
    // The stanza names this key, so from here on a failure is tampering, not "someone else's stanza".
    const broken = () =>
      new ModelsealError('DECRYPTION_FAILED', 'the package failed authentication; it may be damaged or tampered with');
    if (stanza.args.length !== 1 || stanza.body.length !== 60) throw broken();
    let shared: Uint8Array;
    let eph: Uint8Array;
    try {
      eph = fromB64(stanza.args[0]!, 'ephemeral key', 32);
      shared = new Uint8Array(diffieHellman({ privateKey: this.#private, publicKey: x25519PublicFromRaw(eph) }));
    } catch {
      throw broken();
    }
    const dek = aeadUnwrap(wrapKey(shared, eph, this.#raw), stanza.body, releaseContextBytes(context));
    if (!dek) throw broken();
    return dek;
  }
}
