/**
 * `local`: the data key wrapped by a key-encryption key (KEK) held in the key store under keys/.
 * The zero-setup default. Stanza: type "local", args [kek id], body = AES-256-GCM(KEK, DEK, AAD = release context).
 */
import { ModelsealError } from '../errors.js';
import type { Stanza } from '../format/header.js';
import { aeadUnwrap, aeadWrap, WRAPPED_KEY_BYTES } from '../crypto/aead.js';
import { loadLocalKek, noPassphrase, type PassphraseSource } from '../keystore/keystore.js';
import { releaseContextBytes, type Identity, type Recipient, type ReleaseContext, type WrappedKey } from './types.js';

/** A key-encryption key that both wraps and unwraps (the `local` provider). */
export class LocalKey implements Recipient, Identity {
  readonly type = 'local';
  readonly id: string;
  readonly description: string;
  readonly #kek: Uint8Array;

  /** @param kekId short public id of the KEK (hex); @param kek 32 secret bytes */
  constructor(kekId: string, kek: Uint8Array) {
    if (!/^[0-9a-f]{16}$/.test(kekId))
      throw new ModelsealError('INVALID_ARGUMENT', 'local key id: expected 16 hex characters');
    if (kek.length !== 32) throw new ModelsealError('INVALID_ARGUMENT', 'local key: expected 32 bytes');
    this.id = `local:${kekId}`;
    this.description = `local key ${kekId}`;
    this.#kek = kek;
  }

  wrapDataKey(dataKey: Uint8Array, context: ReleaseContext): WrappedKey {
    return { args: [this.id.slice(6)], body: aeadWrap(this.#kek, dataKey, releaseContextBytes(context)) };
  }

  unwrapDataKey(stanza: Stanza, context: ReleaseContext): Uint8Array | null {
    if (stanza.type !== this.type || stanza.recipient !== this.id || stanza.args[0] !== this.id.slice(6)) return null;
    const dek =
      stanza.body.length === WRAPPED_KEY_BYTES
        ? aeadUnwrap(this.#kek, stanza.body, releaseContextBytes(context))
        : null;
    if (!dek)
      throw new ModelsealError(
        'DECRYPTION_FAILED',
        'the package failed authentication; it may be damaged or tampered with',
      );
    return dek;
  }
}

/** The key store's local key (keys/local.kek) as a recipient and identity. */
export async function loadLocalKey(path: string, passphrase: PassphraseSource = noPassphrase): Promise<LocalKey> {
  const { id, kek } = await loadLocalKek(path, passphrase);
  return new LocalKey(id, kek);
}
