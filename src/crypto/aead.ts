/** AES-256-GCM for wrapping a 32-byte data key: body = nonce(12) ‖ ciphertext(32) ‖ tag(16). */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** The size of a wrapped 32-byte key: nonce, ciphertext and tag. */
export const WRAPPED_KEY_BYTES = 12 + 32 + 16;

/** Encrypts `plaintext` under `key` with `aad`; a fresh random nonce unless one is given. */
export function aeadWrap(
  key: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array,
  nonce: Uint8Array = randomBytes(12),
): Uint8Array {
  const c = createCipheriv('aes-256-gcm', key, nonce);
  c.setAAD(aad);
  return new Uint8Array(Buffer.concat([nonce, c.update(plaintext), c.final(), c.getAuthTag()]));
}

/** Decrypts a body made by {@link aeadWrap}; returns null when it does not authenticate. */
export function aeadUnwrap(key: Uint8Array, body: Uint8Array, aad: Uint8Array): Uint8Array | null {
  if (body.length < 28) return null;
  const d = createDecipheriv('aes-256-gcm', key, body.subarray(0, 12));
  d.setAAD(aad);
  d.setAuthTag(body.subarray(body.length - 16));
  try {
    return new Uint8Array(Buffer.concat([d.update(body.subarray(12, body.length - 16)), d.final()]));
  } catch {
    return null;
  }
}
