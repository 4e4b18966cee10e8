/**
 * The records of a running release service, asked for with requests its publisher signs
 * (POST /v1/records, docs/API.md): what `audit export --server <url>` puts in the pack. Asks made
 * together go in one query (at most 256 items each); every answer is cached, so an item is asked once.
 */
import { ModelsealError } from '../errors.js';
import type { EvidenceRecords, PolicySetRecord, RecipientEvidence, SnapshotRecord } from '../compliance/records.js';
import type { Publisher } from '../keystore/keystore.js';
import {
  isRecordKey,
  MAX_RECORDS_PER_QUERY,
  signRecordsQuery,
  type RecordsAnswer,
  type RecordsWanted,
} from '../release/records.js';
import { publisherPost } from '../providers/release.js';

type Kind = keyof RecordsWanted;
type Pending = { kind: Kind; key: string; resolve: (v: unknown) => void; reject: (e: unknown) => void };

const isObject = (v: unknown): boolean => typeof v === 'object' && v !== null;

/** One POST /v1/records; throws UNTRUSTED_SIGNER or PROVIDER_UNAVAILABLE saying what to do. */
async function ask(base: string, want: RecordsWanted, publisher: Publisher): Promise<RecordsAnswer> {
  const query = { v: 1 as const, want, time: new Date().toISOString() };
  const kinds: Kind[] = ['policySets', 'snapshots', 'recipients'];
  return publisherPost<RecordsAnswer>(
    base,
    '/v1/records',
    await signRecordsQuery(query, publisher.signer),
    'the records query',
    (b) => kinds.every((k) => isObject(b[k])),
  );
}

/** Whether `v` (an answered item) is the record of `key`: the service must not answer another one. */
function isRecordOf(kind: Kind, key: string, v: unknown): boolean {
  const o = v as { hash?: unknown; ref?: unknown; name?: unknown } | null;
  if (o === null) return true;
  if (typeof o !== 'object') return false;
  return kind === 'policySets' ? o.hash === key : kind === 'snapshots' ? o.ref === key : o.name === key;
}

/** The records the service at `url` keeps, asked for as `publisher`. */
export function remoteRecords(url: string, publisher: Publisher): EvidenceRecords {
  const base = url.replace(/\/+$/, '');
  const cache = new Map<string, Promise<unknown>>();
  const queue: Pending[] = [];
  const flush = async () => {
    const batch = queue.splice(0, MAX_RECORDS_PER_QUERY);
    if (queue.length) setImmediate(() => void flush());
    const want: RecordsWanted = { policySets: [], snapshots: [], recipients: [] };
    for (const p of batch) want[p.kind].push(p.key);
    try {
      const answer = await ask(base, want, publisher);
      for (const p of batch) {
        const v = answer[p.kind][p.key];
        if (v === undefined || !isRecordOf(p.kind, p.key, v))
          p.reject(
            new ModelsealError(
              'PROVIDER_UNAVAILABLE',
              `the release service at ${base} answered no record for ${p.key}`,
            ),
          );
        else p.resolve(v);
      }
    } catch (e) {
      batch.forEach((p) => p.reject(e));
    }
  };
  const get = <T>(kind: Kind, key: string): Promise<T | null> => {
    if (!isRecordKey(kind, key)) return Promise.resolve(null); // nothing is kept under such a name
    const k = `${kind}\n${key}`;
    let hit = cache.get(k);
    if (!hit) {
      hit = new Promise((resolve, reject) => {
        if (queue.push({ kind, key, resolve, reject }) === 1) setImmediate(() => void flush());
      });
      // A failed ask is asked again next time, not cached.
      hit.catch(() => cache.delete(k));
      cache.set(k, hit);
    }
    return hit as Promise<T | null>;
  };
  return {
    policySet: (hash) => get<PolicySetRecord>('policySets', hash),
    snapshot: (ref) => get<SnapshotRecord>('snapshots', ref),
    recipient: (logged) => get<RecipientEvidence>('recipients', logged),
    close: () => Promise.resolve(),
  };
}
