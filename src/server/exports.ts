/** A publisher's export submission (POST /v1/export): checked, then logged one entry per event. */
import { createHash } from 'node:crypto';
import { ModelsealError } from '../errors.js';
import { verifyMessage } from '../crypto/signer.js';
import { toHex } from '../format/encoding.js';
import { encodeEvent } from '../log/events.js';
import type { TransparencyLog } from '../log/log.js';
import { exportBytes } from '../release/exports.js';
import { wellFormedExports } from './shapes.js';
import type { ServiceReply } from './replies.js';

/**
 * Logs a publisher's export events (one entry each) and answers with their receipts. Only events
 * signed by a trusted publisher key, and naming that key, are logged: the log is no open mailbox.
 */
export async function recordExports(
  body: unknown,
  publishers: readonly Uint8Array[],
  log: TransparencyLog,
): Promise<ServiceReply> {
  const refuse = (status: number, code: string, message: string): ServiceReply => ({
    status,
    body: { error: { code, message } },
  });
  if (!wellFormedExports(body)) return refuse(400, 'INVALID_ARGUMENT', 'the body is not a modelseal export submission');
  const spki = Buffer.from(body.publisher, 'base64');
  const id = `sha256:${toHex(createHash('sha256').update(spki).digest())}`;
  if (!publishers.some((p) => Buffer.from(p).equals(spki)))
    return refuse(403, 'UNTRUSTED_SIGNER', `publisher ${id} is not among the publishers this service logs exports for`);
  if (!body.events.every((e) => e.publisher === id))
    return refuse(403, 'UNTRUSTED_SIGNER', 'the events name another publisher than the one that signed them');
  if (!verifyMessage(spki, exportBytes(body.events), Buffer.from(body.signature, 'base64')))
    return refuse(403, 'SIGNATURE_INVALID', "the submission's signature does not verify under its publisher key");
  try {
    const receipts = await Promise.all(body.events.map((e) => log.append(encodeEvent(e))));
    return { status: 200, body: { receipts: receipts.map((r) => r.proof) } };
  } catch (e) {
    return refuse(
      503,
      e instanceof ModelsealError ? e.code : 'LOG_UNAVAILABLE',
      'the transparency log could not record the export; do not ship the package, retry later',
    );
  }
}
