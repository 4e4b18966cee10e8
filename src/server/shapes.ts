/**
 * The shapes the release service accepts, checked before anything else looks at a request: exact
 * keys (nothing unchecked reaches the signed bytes, or a recursion) and bounded fields.
 */
import { classificationFromJson, summaryFromUnknown } from '../format/classification-json.js';
import type { ExportSubmission } from '../release/exports.js';
import {
  canonicalJson,
  type ExportEvent,
  type KmsGrantEvent,
  type LoggedScreening,
  type ScreeningOverrideEvent,
  type TraceEvent,
} from '../log/events.js';
import type { ReleaseRequest, SignedRequest } from '../release/request.js';

const isString = (v: unknown, max = 512): v is string => typeof v === 'string' && v.length > 0 && v.length <= max;

/**
 * A plain object with exactly these keys, and perhaps some of `optional`: nothing unchecked reaches
 * the signed bytes (or a recursion).
 */
function hasKeys(v: unknown, keys: readonly string[], optional: readonly string[] = []): boolean {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return false;
  const own = Object.keys(v);
  const extra = optional.filter((k) => Object.hasOwn(v, k)).length;
  return own.length === keys.length + extra && keys.every((k) => Object.hasOwn(v, k));
}

const SIGNED_KEYS = ['request', 'signature'] as const;
const REQUEST_KEYS = [
  'v',
  'package',
  'artifact',
  'stanza',
  'ephemeral',
  'nonce',
  'time',
  'destination',
  'recipient',
] as const;
const STANZA_KEYS = ['type', 'recipient', 'license', 'policy', 'args', 'body'] as const;

/** Whether `b` has exactly the shape of a signed release request (docs/API.md), every field within its bounds. */
export function wellFormed(b: unknown): b is SignedRequest {
  const o = b as Partial<SignedRequest> | null;
  const r = o?.request as Partial<ReleaseRequest> | undefined;
  const s = r?.stanza;
  return (
    hasKeys(o, SIGNED_KEYS) &&
    hasKeys(r, REQUEST_KEYS) &&
    hasKeys(s, STANZA_KEYS, ['model', 'classification']) &&
    !!r &&
    isString(o!.signature, 2048) &&
    r.v === 1 &&
    /^[0-9a-f]{64}$/.test(String(r.package)) &&
    /^sha256:[0-9a-f]{64}$/.test(String(r.artifact)) &&
    /^[A-Za-z0-9_-]{43}$/.test(String(r.ephemeral)) &&
    /^[A-Za-z0-9_-]{22}$/.test(String(r.nonce)) &&
    isString(r.time, 40) &&
    !Number.isNaN(Date.parse(r.time)) &&
    /^[A-Z]{2}$/.test(String(r.destination)) &&
    isString(r.recipient, 64) &&
    !!s &&
    isString(s.type, 32) &&
    isString(s.recipient, 512) &&
    isString(s.license, 512) &&
    isString(s.policy, 512) &&
    (s.model === undefined || (typeof s.model === 'string' && /^sha256:[0-9a-f]{64}$/.test(s.model))) &&
    (s.classification === undefined || summaryFromUnknown(s.classification) !== null) &&
    Array.isArray(s.args) &&
    s.args.length <= 16 &&
    s.args.every((a) => isString(a, 2048)) &&
    isString(s.body, 4096) &&
    /^[A-Za-z0-9+/]*={0,2}$/.test(s.body)
  );
}

const EXPORT_FIELDS = [
  'time',
  'package',
  'artifact',
  'model',
  'recipient',
  'provider',
  'license',
  'policy',
  'publisher',
] as const;
/** Events in one export submission at most (a package has at most this many recipient stanzas). */
export const MAX_EXPORT_EVENTS = 256;

/** Whether `b` has exactly the shape of an export submission (docs/API.md), every field within its bounds. */
export function wellFormedExports(b: unknown): b is ExportSubmission {
  const o = b as Partial<ExportSubmission> | null;
  return (
    !!o &&
    isString(o.publisher, 1024) &&
    isString(o.signature, 1024) &&
    Array.isArray(o.events) &&
    o.events.length >= 1 &&
    o.events.length <= MAX_EXPORT_EVENTS &&
    // Each event is any JSON value until checked.
    (o.events as unknown[]).every(
      (e) => wellFormedExport(e) || wellFormedOverride(e) || wellFormedKmsGrant(e) || wellFormedTrace(e),
    )
  );
}

function wellFormedExport(event: unknown): boolean {
  const e = event as Partial<ExportEvent> | null;
  return (
    !!e &&
    e.v === 1 &&
    e.type === 'export' &&
    EXPORT_FIELDS.every((f) => isString(e[f], 2048)) &&
    (e.fingerprint === null || isString(e.fingerprint, 256)) &&
    (e.classification === undefined || loggableClassification(e.classification)) &&
    Object.keys(e).length === EXPORT_FIELDS.length + 3 + (e.classification === undefined ? 0 : 1)
  );
}

/** A classification record as the header holds it, with integers only (so it can be logged). */
function loggableClassification(c: unknown): boolean {
  try {
    classificationFromJson(c);
    canonicalJson(c);
    return true;
  } catch {
    return false;
  }
}

const isStrings = (v: unknown, max: number, each = 512): v is string[] =>
  Array.isArray(v) && v.length <= max && v.every((x) => isString(x, each));
const exactKeys = (o: object, n: number) => Object.keys(o).length === n;

/** A screening-override event (docs/LOG.md): exactly its fields, strings only (no floats for the log). */
function wellFormedOverride(event: unknown): boolean {
  const e = event as Partial<ScreeningOverrideEvent> | null;
  const s = e?.screening as Partial<LoggedScreening> | null | undefined;
  const best = s?.best as Record<string, unknown> | null | undefined;
  return (
    !!e &&
    !!s &&
    e.v === 1 &&
    e.type === 'screening-override' &&
    exactKeys(e, 11) &&
    isStrings(e.entities, 256, 1024) &&
    ['time', 'recipient', 'org', 'reason', 'decidedBy', 'publisher'].every((f) =>
      isString(e[f as keyof ScreeningOverrideEvent], 2048),
    ) &&
    isStrings(e.countries, 64, 2) &&
    exactKeys(s, 4) &&
    ['clear', 'review', 'hit'].includes(s.decision as string) &&
    isStrings(s.lists, 256) &&
    isStrings(s.stale, 256) &&
    (best === null ||
      (!!best && exactKeys(best, 4) && ['entity', 'source', 'name', 'score'].every((f) => isString(best[f], 1024))))
  );
}

const GRANT_FIELDS = [
  'time',
  'package',
  'artifact',
  'recipient',
  'license',
  'key',
  'grant',
  'name',
  'grantee',
  'publisher',
];

/** A kms-grant event (docs/LOG.md, "KMS grants"): exactly its fields; the context is string pairs, few and short. */
function wellFormedKmsGrant(event: unknown): boolean {
  const e = event as Partial<KmsGrantEvent> | null;
  const context = e?.context as Record<string, unknown> | undefined;
  return (
    !!e &&
    e.v === 1 &&
    e.type === 'kms-grant' &&
    exactKeys(e, GRANT_FIELDS.length + 4) &&
    GRANT_FIELDS.every((f) => isString(e[f as keyof KmsGrantEvent], 2048)) &&
    isStrings(e.operations, 8, 64) &&
    !!context &&
    typeof context === 'object' &&
    !Array.isArray(context) &&
    Object.keys(context).length <= 16 &&
    Object.values(context).every((v) => isString(v, 2048))
  );
}

/** Accused recipients one trace event may name at most. */
export const MAX_TRACE_ACCUSED = 256;
const DIGEST = /^sha256:[0-9a-f]{64}$/;
const DECIMAL = /^-?(\d+(\.\d+)?(e[+-]?\d+)?|Infinity)$/;
const ACCUSED_FIELDS = ['recipient', 'copy', 'z', 'threshold', 'log10Bound'] as const;

/** A trace event (docs/LOG.md, "Traces"): exactly its fields; reals as bounded decimal strings, counts as integers. */
function wellFormedTrace(event: unknown): boolean {
  const e = event as Partial<TraceEvent> | null;
  const count = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= 1e9;
  const accused = (a: unknown) => {
    const o = a as Record<string, unknown> | null;
    return (
      !!o &&
      typeof o === 'object' &&
      !Array.isArray(o) &&
      exactKeys(o, ACCUSED_FIELDS.length) &&
      isString(o.recipient, 512) &&
      isString(o.copy, 256) &&
      ['z', 'threshold', 'log10Bound'].every((f) => isString(o[f], 32) && DECIMAL.test(o[f]))
    );
  };
  return (
    !!e &&
    e.v === 1 &&
    e.type === 'trace' &&
    exactKeys(e, 11) &&
    isString(e.time, 40) &&
    !Number.isNaN(Date.parse(e.time)) &&
    DIGEST.test(String(e.leak)) &&
    DIGEST.test(String(e.original)) &&
    typeof e.derived === 'boolean' &&
    Array.isArray(e.accused) &&
    e.accused.length <= MAX_TRACE_ACCUSED &&
    e.accused.every(accused) &&
    isString(e.epsilon, 32) &&
    DECIMAL.test(e.epsilon) &&
    count(e.traces) &&
    count(e.recipients) &&
    isString(e.publisher, 1024)
  );
}
