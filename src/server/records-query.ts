/**
 * A publisher's records query (POST /v1/records, docs/API.md): checked like a license check (a
 * trusted publisher key, its signature, the clock skew), then answered from the data directory's
 * records. Read-only: nothing is logged in the transparency log.
 */
import type { EvidenceRecords, PolicySetRecord, RecipientEvidence, SnapshotRecord } from '../compliance/records.js';
import { recordsQueryBytes, wellFormedRecordsQuery, type RecordsAnswer } from '../release/records.js';
import { checkSignedRead, refuse, type Refusal, type SignedReadBook } from './signed.js';

/** An answer: every item asked (200), or a refusal with its error code. */
export type RecordsReply =
  { status: 200; body: RecordsAnswer<PolicySetRecord, SnapshotRecord, RecipientEvidence> } | Refusal;

/** Each of `keys` with what `get` finds for it, in the order asked. */
async function each<T>(keys: string[], get: (k: string) => Promise<T | null>): Promise<Record<string, T | null>> {
  const out: Record<string, T | null> = {};
  for (const k of keys) out[k] = await get(k);
  return out;
}

/** Answers a publisher's records query: refused unless a trusted publisher signed it just now. */
export async function answerRecordsQuery(
  body: unknown,
  book: SignedReadBook & { records: EvidenceRecords | null },
): Promise<RecordsReply> {
  if (!wellFormedRecordsQuery(body))
    return refuse(400, 'INVALID_ARGUMENT', 'the body is not a modelseal records query');
  const { query } = body;
  const bytes = recordsQueryBytes(query);
  const signed = { publisher: body.publisher, signature: body.signature, time: query.time, bytes, what: 'query' };
  const refused = checkSignedRead(signed, book);
  if (refused) return refused;
  const records = book.records;
  if (!records)
    return refuse(404, 'NOT_FOUND', 'this service keeps no records (it was started without a data directory)');
  return {
    status: 200,
    body: {
      policySets: await each(query.want.policySets, (h) => records.policySet(h)),
      snapshots: await each(query.want.snapshots, (r) => records.snapshot(r)),
      recipients: await each(query.want.recipients, (n) => records.recipient(n)),
    },
  };
}
