/**
 * The publisher's two signatures, both ECDSA P-256 by the same key (docs/FORMAT.md §7):
 * - the header signature (entry modelseal.header.sig, right after the header), over the header
 *   digest alone, so every reader authenticates the header before it asks any key provider;
 * - the trailer (entry modelseal.sig, last), over the header digest and the digest of the
 *   chunk-digest list, so the whole package is bound to the publisher.
 * Pure encode/parse; signing is in src/crypto/.
 */
import { ModelsealError } from '../errors.js';
import { decodeUtf8, fromB64, fromHex, toB64, toHex, utf8 } from './encoding.js';
import { LIMITS } from './limits.js';

export const SIGNATURE_ALG = 'ecdsa-p256-sha256';

export interface HeaderSignature {
  /** SPKI DER of the publisher's public key. */
  publicKey: Uint8Array;
  headerDigest: Uint8Array;
  /** DER-encoded ECDSA signature over headerSignedMessage(headerDigest). */
  signature: Uint8Array;
}

export interface SignatureTrailer extends HeaderSignature {
  chunksDigest: Uint8Array;
  /** DER-encoded ECDSA signature over signedMessage(headerDigest, chunksDigest). */
  signature: Uint8Array;
}

/** The exact bytes the publisher signs in the header signature. */
export function headerSignedMessage(headerDigest: Uint8Array): Uint8Array {
  return new Uint8Array(Buffer.concat([utf8.encode('modelseal/v1 header signature\n'), headerDigest]));
}

/** The exact bytes the publisher signs in the trailer. */
export function signedMessage(headerDigest: Uint8Array, chunksDigest: Uint8Array): Uint8Array {
  return new Uint8Array(Buffer.concat([utf8.encode('modelseal/v1 signature\n'), headerDigest, chunksDigest]));
}

function json(t: HeaderSignature & { chunksDigest?: Uint8Array }): string {
  return JSON.stringify({
    alg: SIGNATURE_ALG,
    publicKey: toB64(t.publicKey),
    headerDigest: `sha256:${toHex(t.headerDigest)}`,
    ...(t.chunksDigest ? { chunksDigest: `sha256:${toHex(t.chunksDigest)}` } : {}),
    signature: toB64(t.signature),
  });
}

export function encodeSignature(t: SignatureTrailer): Uint8Array {
  return utf8.encode(json(t) + '\n');
}

export function encodeHeaderSignature(t: HeaderSignature): Uint8Array {
  return utf8.encode(json({ publicKey: t.publicKey, headerDigest: t.headerDigest, signature: t.signature }) + '\n');
}

/** Parses one canonical JSON line of either kind; `what` names the entry in errors. */
function parseSigned(
  bytes: Uint8Array,
  what: string,
  maxBytes: number,
  withChunks: boolean,
): HeaderSignature & { chunksDigest?: Uint8Array } {
  if (bytes.length > maxBytes)
    throw new ModelsealError('MALFORMED_PACKAGE', `${what} is ${bytes.length} bytes; the limit is ${maxBytes}`);
  const text = decodeUtf8(bytes, what);
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch (cause) {
    throw new ModelsealError('MALFORMED_PACKAGE', `${what} is not valid JSON`, { cause });
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o))
    throw new ModelsealError('MALFORMED_PACKAGE', `${what} must be a JSON object`);
  const s = (k: string): string => {
    const v = (o as Record<string, unknown>)[k];
    if (typeof v !== 'string') throw new ModelsealError('MALFORMED_PACKAGE', `${what}: ${k} must be a string`);
    return v;
  };
  if (s('alg') !== SIGNATURE_ALG) {
    throw new ModelsealError(
      'MALFORMED_PACKAGE',
      `${what}: algorithm ${JSON.stringify(s('alg')).slice(0, 80)} is not supported (expected ${SIGNATURE_ALG})`,
    );
  }
  const digest = (k: string) => {
    const v = s(k);
    if (!v.startsWith('sha256:')) throw new ModelsealError('MALFORMED_PACKAGE', `${what}: ${k} must be sha256:<hex>`);
    return fromHex(v.slice(7), `${what} ${k}`, 32);
  };
  const t = {
    publicKey: fromB64(s('publicKey'), `${what} publicKey`),
    headerDigest: digest('headerDigest'),
    ...(withChunks ? { chunksDigest: digest('chunksDigest') } : {}),
    signature: fromB64(s('signature'), `${what} signature`),
  };
  if (json(t) + '\n' !== text) throw new ModelsealError('MALFORMED_PACKAGE', `${what} is not in canonical form`);
  return t;
}

export function parseSignature(bytes: Uint8Array): SignatureTrailer {
  return parseSigned(bytes, 'signature entry', LIMITS.maxSignatureBytes, true) as SignatureTrailer;
}

export function parseHeaderSignature(bytes: Uint8Array): HeaderSignature {
  return parseSigned(bytes, 'header signature entry', LIMITS.maxHeaderSignatureBytes, false);
}
