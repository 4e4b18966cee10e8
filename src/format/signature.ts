/**
 * The signature trailer (entry modelseal.sig): the publisher's ECDSA P-256 signature over the
 * header digest and the digest of the chunk-digest list. Pure encode/parse; signing is in src/crypto/.
 */
import { ModelsealError } from '../errors.js';
import { decodeUtf8, fromB64, fromHex, toB64, toHex, utf8 } from './encoding.js';
import { LIMITS } from './limits.js';

export const SIGNATURE_ALG = 'ecdsa-p256-sha256';

export interface SignatureTrailer {
  /** SPKI DER of the publisher's public key. */
  publicKey: Uint8Array;
  headerDigest: Uint8Array;
  chunksDigest: Uint8Array;
  /** DER-encoded ECDSA signature over signedMessage(headerDigest, chunksDigest). */
  signature: Uint8Array;
}

/** The exact bytes the publisher signs. */
export function signedMessage(headerDigest: Uint8Array, chunksDigest: Uint8Array): Uint8Array {
  return new Uint8Array(Buffer.concat([utf8.encode('modelseal/v1 signature\n'), headerDigest, chunksDigest]));
}

function json(t: SignatureTrailer): string {
  return JSON.stringify({
    alg: SIGNATURE_ALG,
    publicKey: toB64(t.publicKey),
    headerDigest: `sha256:${toHex(t.headerDigest)}`,
    chunksDigest: `sha256:${toHex(t.chunksDigest)}`,
    signature: toB64(t.signature),
  });
}

export function encodeSignature(t: SignatureTrailer): Uint8Array {
  return utf8.encode(json(t) + '\n');
}

export function parseSignature(bytes: Uint8Array): SignatureTrailer {
  if (bytes.length > LIMITS.maxSignatureBytes) {
    throw new ModelsealError('MALFORMED_PACKAGE', `signature entry is ${bytes.length} bytes; the limit is ${LIMITS.maxSignatureBytes}`);
  }
  const text = decodeUtf8(bytes, 'signature entry');
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(text) as Record<string, unknown>;
  } catch (cause) {
    throw new ModelsealError('MALFORMED_PACKAGE', 'signature entry is not valid JSON', { cause });
  }
  const s = (k: string): string => {
    const v = o?.[k];
    if (typeof v !== 'string') throw new ModelsealError('MALFORMED_PACKAGE', `signature entry: ${k} must be a string`);
    return v;
  };
  if (s('alg') !== SIGNATURE_ALG) {
    throw new ModelsealError('MALFORMED_PACKAGE', `signature algorithm ${JSON.stringify(s('alg'))} is not supported (expected ${SIGNATURE_ALG})`);
  }
  const digest = (k: string) => {
    const v = s(k);
    if (!v.startsWith('sha256:')) throw new ModelsealError('MALFORMED_PACKAGE', `signature entry: ${k} must be sha256:<hex>`);
    return fromHex(v.slice(7), k, 32);
  };
  const t: SignatureTrailer = {
    publicKey: fromB64(s('publicKey'), 'signature publicKey'),
    headerDigest: digest('headerDigest'),
    chunksDigest: digest('chunksDigest'),
    signature: fromB64(s('signature'), 'signature'),
  };
  if (json(t) + '\n' !== text) throw new ModelsealError('MALFORMED_PACKAGE', 'signature entry is not in canonical form');
  return t;
}
