/**
 * A publisher's records query (POST /v1/records, docs/API.md): the records logged decisions rest
 * on — archived policy sets, list snapshot records, recipient records — asked for by what the log
 * names them, signed by a publisher key the service trusts (records are not public). The shapes
 * and the bytes signed. No I/O here.
 */
import { signWith, type Signer } from '../crypto/signer.js';
import { canonicalJson } from '../log/events.js';

/** Most items one query may ask for, all kinds together. */
export const MAX_RECORDS_PER_QUERY = 256;

/** What is asked: policy-set hashes (64 hex), snapshot refs ("<source>@sha256:<hex>"), logged recipient names. */
export interface RecordsWanted {
  policySets: string[];
  snapshots: string[];
  recipients: string[];
}

/** The question, as signed. */
export interface RecordsQuery {
  v: 1;
  want: RecordsWanted;
  /** When it was asked (ISO 8601): accepted within the service's clock skew. */
  time: string;
}

/** A query signed by a publisher key, as sent. */
export interface RecordsSubmission {
  query: RecordsQuery;
  /** The publisher's public key, SPKI DER in base64. */
  publisher: string;
  /** ECDSA P-256 / SHA-256 over `recordsQueryBytes(query)`, base64. */
  signature: string;
}

/** The service's answer: every item asked, keyed as asked, null when it is not kept. */
export interface RecordsAnswer<P = unknown, S = unknown, R = unknown> {
  policySets: Record<string, P | null>;
  snapshots: Record<string, S | null>;
  recipients: Record<string, R | null>;
}

/** The bytes a publisher signs: a domain-separation line, then the query as canonical JSON. */
export function recordsQueryBytes(q: RecordsQuery): Buffer {
  return Buffer.from(`modelseal/v1 records\n${canonicalJson(q)}`, 'utf8');
}

/** The submission of `query`, signed by the publisher's `signer` (ECDSA P-256). */
export async function signRecordsQuery(query: RecordsQuery, signer: Signer): Promise<RecordsSubmission> {
  return {
    query,
    publisher: Buffer.from(signer.publicKey).toString('base64'),
    signature: Buffer.from(await signWith(signer, 'ecdsa-p256-sha256', recordsQueryBytes(query))).toString('base64'),
  };
}

const HASH = /^[0-9a-f]{64}$/;
const REF = /^[a-z0-9][a-z0-9._-]{0,63}@sha256:[0-9a-f]{64}$/;
/** A recipient as logged: a registered name, or a keyed-hash pseudonym (src/log/pseudonym.ts). */
const LOGGED_NAME = /^(?:[a-z0-9][a-z0-9._-]{0,63}|hmac:v1:[A-Za-z0-9_-]{43})$/;
/** Whether `key` can be asked for as an item of `kind` (no record is kept under any other). */
export function isRecordKey(kind: keyof RecordsWanted, key: string): boolean {
  return (kind === 'policySets' ? HASH : kind === 'snapshots' ? REF : LOGGED_NAME).test(key);
}
const hasOnly = (o: object, keys: readonly string[]) => Object.keys(o).every((k) => keys.includes(k));
const listOf = (v: unknown, item: RegExp): v is string[] =>
  Array.isArray(v) && v.length <= MAX_RECORDS_PER_QUERY && v.every((x) => typeof x === 'string' && item.test(x));
const isText = (v: unknown, max: number): v is string => typeof v === 'string' && v.length > 0 && v.length <= max;
/** Base64 in its one canonical form: Buffer.from would skip what follows "=" (a second spelling of the same bytes). */
const isBase64 = (v: unknown, max: number): v is string =>
  isText(v, max) && Buffer.from(v, 'base64').toString('base64') === v;

/** Whether `b` has exactly the shape of a records submission, every item well formed, at most 256 in all. */
export function wellFormedRecordsQuery(b: unknown): b is RecordsSubmission {
  if (!b || typeof b !== 'object' || !hasOnly(b, ['query', 'publisher', 'signature'])) return false;
  const o = b as Partial<RecordsSubmission>;
  const q = o.query as Partial<RecordsQuery> | undefined;
  if (!isBase64(o.publisher, 1024) || !isBase64(o.signature, 1024) || !q || typeof q !== 'object') return false;
  if (!hasOnly(q, ['v', 'want', 'time']) || q.v !== 1 || !isText(q.time, 40) || Number.isNaN(Date.parse(q.time)))
    return false;
  const w = q.want as Partial<RecordsWanted> | undefined;
  return (
    !!w &&
    typeof w === 'object' &&
    hasOnly(w, ['policySets', 'snapshots', 'recipients']) &&
    listOf(w.policySets, HASH) &&
    listOf(w.snapshots, REF) &&
    listOf(w.recipients, LOGGED_NAME) &&
    w.policySets.length + w.snapshots.length + w.recipients.length <= MAX_RECORDS_PER_QUERY
  );
}
