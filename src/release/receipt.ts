/**
 * Receipts (C2SP tlog-proof, docs/LOG.md): a client trusts an answer of the release service only
 * once its receipt verifies under the log's key and carries that very event.
 */
import { ModelsealError } from '../errors.js';
import { verifyProof } from '../log/checkpoint.js';
import { decodeEvent, encodeEvent, type PublisherEvent } from '../log/events.js';
import type { NoteVerifier } from '../log/note.js';

/**
 * Checks that `receipt` proves the log holds the release event of request `id` with `decision`;
 * throws LOG_INVALID when it is for another request or decision (and whatever verifyProof throws).
 */
export function checkReleaseReceipt(receipt: string, id: string, decision: string, logKey: NoteVerifier): void {
  const proof = verifyProof(receipt, undefined, logKey);
  const event = decodeEvent(proof.entry) as { type?: string; request?: string; decision?: string } | null;
  if (event?.type !== 'release' || event.request !== id || event.decision !== decision) {
    throw new ModelsealError(
      'LOG_INVALID',
      `the release service's receipt is for another request or decision (request ${id}); nothing was used`,
    );
  }
}

/** Checks each receipt against its export event under the log's key; returns the entries' indexes. */
export function checkExportReceipts(
  receipts: readonly unknown[],
  events: readonly PublisherEvent[],
  logKey: NoteVerifier,
): number[] {
  return events.map((e, i) => verifyProof(String(receipts[i]), encodeEvent(e), logKey).index);
}
