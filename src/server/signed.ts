/**
 * A publisher's signed read (POST /v1/licenses/check, POST /v1/records, docs/API.md): answered only
 * when a publisher key the service trusts signed it, within the clock skew.
 */
import { createHash } from 'node:crypto';
import { verifyMessage } from '../crypto/signer.js';
import { toHex } from '../format/encoding.js';

/** A refusal with its status and error code. */
export interface Refusal {
  status: 400 | 403 | 404;
  body: { error: { code: string; message: string } };
}

/** A refusal of `status` with `code` and `message`. */
export function refuse(status: Refusal['status'], code: string, message: string): Refusal {
  return { status, body: { error: { code, message } } };
}

/** What checking a signed read needs of the service. */
export interface SignedReadBook {
  /** Publisher keys (SPKI DER) the service answers. */
  publishers: readonly Uint8Array[];
  now: Date;
  skewMs: number;
}

/**
 * Null when a trusted `publisher` (SPKI DER, base64) signed `bytes` (`signature`, base64) at `time`
 * within the skew; otherwise the 403 refusal saying which of those failed.
 */
export function checkSignedRead(
  signed: { publisher: string; signature: string; time: string; bytes: Uint8Array; what: string },
  book: SignedReadBook,
): Refusal | null {
  const spki = Buffer.from(signed.publisher, 'base64');
  if (!book.publishers.some((p) => Buffer.from(p).equals(spki))) {
    const id = `sha256:${toHex(createHash('sha256').update(spki).digest())}`;
    return refuse(403, 'UNTRUSTED_SIGNER', `publisher ${id} is not among the publishers this service answers`);
  }
  if (!verifyMessage(spki, signed.bytes, Buffer.from(signed.signature, 'base64')))
    return refuse(403, 'SIGNATURE_INVALID', `the ${signed.what}'s signature does not verify under its publisher key`);
  if (Math.abs(book.now.getTime() - Date.parse(signed.time)) > book.skewMs)
    return refuse(403, 'STALE_TIMESTAMP', `the ${signed.what}'s time is outside the service's accepted clock skew`);
  return null;
}
