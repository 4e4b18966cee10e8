import { ModelsealError } from '../errors.js';

/** Base64url without padding (RFC 4648 §5), the only binary encoding in modelseal/v1 text. */
export function toB64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/**
 * Decodes base64url strictly: the text must be the canonical encoding of the bytes it yields
 * (Node's decoder alone accepts padding, stray characters and non-zero trailing bits).
 */
export function fromB64(text: string, what: string, expectedLength?: number): Uint8Array {
  const bytes = Buffer.from(text, 'base64url');
  if (bytes.toString('base64url') !== text) {
    throw new ModelsealError('MALFORMED_PACKAGE', `${what} is not canonical base64url`);
  }
  if (expectedLength !== undefined && bytes.length !== expectedLength) {
    throw new ModelsealError('MALFORMED_PACKAGE', `${what} must be ${expectedLength} bytes, got ${bytes.length}`);
  }
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export function fromHex(text: string, what: string, expectedLength: number): Uint8Array {
  if (!/^[0-9a-f]*$/.test(text) || text.length !== expectedLength * 2) {
    throw new ModelsealError('MALFORMED_PACKAGE', `${what} must be ${expectedLength} bytes of lowercase hex`);
  }
  return new Uint8Array(Buffer.from(text, 'hex'));
}

export const utf8 = new TextEncoder();
// ignoreBOM keeps a leading U+FEFF in the text, so a BOM makes the bytes non-canonical instead of vanishing.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function decodeUtf8(bytes: Uint8Array, what: string): string {
  try {
    return strictUtf8.decode(bytes);
  } catch (cause) {
    throw new ModelsealError('MALFORMED_PACKAGE', `${what} is not valid UTF-8`, { cause });
  }
}

/** Big-endian unsigned 32-bit integer. */
export function u32be(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}
