/**
 * `x25519`: an offline recipient's public key, HPKE-style (RFC 9180 DHKEM shape, by hand):
 * ephemeral X25519 → shared secret → HKDF-SHA-256(salt = ephemeral ‖ recipient public key)
 * → AES-256-GCM wrap of the data key with the release context as AAD.
 * Stanza: type "x25519", args [ephemeral public key], body = nonce ‖ ct ‖ tag.
 */
import { diffieHellman, hkdfSync, type KeyObject } from 'node:crypto';
import { ModelsealError } from '../errors.js';
import { fromB64, toB64, utf8 } from '../format/encoding.js';
import type { Stanza } from '../format/header.js';
import { aeadUnwrap, aeadWrap } from '../crypto/aead.js';
import {
  formatX25519Recipient,
  newX25519,
  parseX25519Recipient,
  rawPublic,
  x25519PrivateFromRaw,
  x25519PublicFromRaw,
} from '../crypto/x25519.js';
import { loadX25519Secret, newX25519KeyFile, noPassphrase, type PassphraseSource } from '../keystore/keystore.js';
import type { KeyFile } from '../keystore/keyfile.js';
import { releaseContextBytes, type Identity, type Recipient, type ReleaseContext, type WrappedKey } from './types.js';

export { formatX25519Recipient, parseX25519Recipient };

const INFO = utf8.encode('modelseal/v1 x25519');
const ZERO_NONCE = new Uint8Array(12); // each wrap key is fresh (new ephemeral), so a fixed nonce is safe

function wrapKey(shared: Uint8Array, ephemeral: Uint8Array, recipient: Uint8Array): Uint8Array {
  if (shared.every((b) => b === 0)) {
    throw new ModelsealError(
      'DECRYPTION_FAILED',
      'the package failed authentication; it may be damaged or tampered with',
    );
  }
  return new Uint8Array(hkdfSync('sha256', shared, Buffer.concat([ephemeral, recipient]), INFO, 32));
}

/** Wraps data keys to an offline recipient's X25519 public key. */
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
    // A low-order point (all zeros, ...) gives an all-zero shared secret, which OpenSSL refuses: no key could be
    // wrapped to it.
    try {
      diffieHellman({ privateKey: newX25519().privateKey, publicKey: this.#key });
    } catch (cause) {
      throw new ModelsealError(
        'INVALID_ARGUMENT',
        `${this.id} is not a usable x25519 public key (a low-order point); ask the recipient for their recipient ` +
          'string',
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

/** Unwraps the x25519 stanzas addressed to its key; null for any other stanza. */
export class X25519Identity implements Identity {
  readonly description: string;
  readonly recipient: X25519Recipient;
  readonly #private: KeyObject;
  readonly #raw: Uint8Array;

  /** @param privateKey 32 raw secret bytes */
  constructor(privateKey: Uint8Array, description = 'x25519 identity') {
    if (privateKey.length !== 32) throw new ModelsealError('INVALID_ARGUMENT', 'x25519 private key: expected 32 bytes');
    // Once per identity, so the slow DER import is fine here (JWK would need the public key first).
    this.#private = x25519PrivateFromRaw(privateKey);
    const pub = rawPublic(this.#private);
    this.#raw = pub;
    this.recipient = new X25519Recipient(pub);
    this.description = `${description} (${this.recipient.id.slice(0, 19)}…)`;
  }

  /** A new identity and its 32 secret bytes. */
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

/** The x25519 identity in a key store file (`modelseal keygen`, keys/identity.x25519). */
export async function loadX25519Identity(
  path: string,
  passphrase: PassphraseSource = noPassphrase,
): Promise<X25519Identity> {
  return new X25519Identity((await loadX25519Secret(path, passphrase)).secret, `x25519 identity ${path}`);
}

/** A new x25519 identity and its key file (secret sealed with `passphrase` when given). */
export function newX25519Key(passphrase?: string): { file: KeyFile; identity: X25519Identity } {
  const { file, secret } = newX25519KeyFile(passphrase);
  return { file, identity: new X25519Identity(secret) };
}
