/**
 * One payload chunk: AES-256-GCM with the STREAM nonce of age (C2SP age §Payload):
 * 11-byte big-endian chunk counter ‖ 1 byte final flag. Used by worker threads, so it imports
 * nothing but node:crypto.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';

export const NONCE_BYTES = 12;

export function chunkNonce(counter: number, final: boolean): Buffer {
  const n = Buffer.alloc(NONCE_BYTES);
  // Counters stay below 2^53 (file sizes are safe integers), so the top 4 bytes are zero.
  n.writeUIntBE(Math.floor(counter / 2 ** 32), 3, 3);
  n.writeUInt32BE(counter >>> 0, 7);
  n[11] = final ? 1 : 0;
  return n;
}

/** Returns ciphertext ‖ 16-byte tag. */
export function encryptChunk(key: Uint8Array, counter: number, final: boolean, plaintext: Uint8Array): Buffer {
  const c = createCipheriv('aes-256-gcm', key, chunkNonce(counter, final));
  const out = Buffer.allocUnsafeSlow(plaintext.length + 16);
  let n = c.update(plaintext).copy(out, 0);
  n += c.final().copy(out, n);
  c.getAuthTag().copy(out, n);
  return out;
}

/** Returns the plaintext, or null when the tag does not verify (wrong key, position, flag or bytes). */
export function decryptChunk(key: Uint8Array, counter: number, final: boolean, sealed: Uint8Array): Buffer | null {
  if (sealed.length < 16) return null;
  const d = createDecipheriv('aes-256-gcm', key, chunkNonce(counter, final));
  d.setAuthTag(sealed.subarray(sealed.length - 16));
  const out = Buffer.allocUnsafeSlow(sealed.length - 16);
  try {
    const n = d.update(sealed.subarray(0, sealed.length - 16)).copy(out, 0);
    d.final().copy(out, n);
  } catch {
    return null;
  }
  return out;
}
