/**
 * The events modelseal writes to its transparency log, as canonical JSON (keys sorted, no
 * whitespace: the bytes are the leaf, so the same event always hashes the same). docs/LOG.md.
 */
import { ModelsealError } from '../errors.js';
import type { ClassificationRecord } from '../format/classification.js';
import type { LogStore } from './store.js';

/** A package made for one recipient: sealing is an export too. */
export interface ExportEvent {
  v: 1;
  type: 'export';
  /** ISO 8601 UTC, when the package was completed. */
  time: string;
  /** Package id (hex). */
  package: string;
  /** The model's root digest, "sha256:…". */
  artifact: string;
  model: string;
  /** Recipient id and provider type, as in the package's stanza. */
  recipient: string;
  provider: string;
  license: string;
  policy: string;
  /** The publisher key, "sha256:" of its SPKI. */
  publisher: string;
  /** The per-recipient fingerprint id, when the weights carry one. */
  fingerprint: string | null;
  /**
   * The classification record the package's signed header binds (FLOPs and tokens as decimal
   * strings: a log entry holds integers only); absent for a package sealed without one.
   */
  classification?: ClassificationRecord;
}

/** A key-release request to the release service, allowed or denied. */
export interface ReleaseEvent {
  v: 1;
  type: 'release';
  time: string;
  /**
   * The signed request's id (docs/API.md), which the client checks; for a body that never parsed,
   * the exchange id below.
   */
  request: string;
  /** This exchange's own id, unique to every request the service answered (docs/API.md, "Request ids"). */
  id?: string;
  /** The registered recipient's name (a keyed-hash pseudonym when the operator set a pseudonym key). */
  recipient: string | null;
  /** Organisation and country of the registered recipient at the time of the request. */
  org: string | null;
  country: string | null;
  certificate: string | null;
  artifact: string | null;
  /**
   * The original model ("sha256:…") a fingerprinted copy was marked from, as the package's release
   * stanza names it (bound into its wrap: a false claim is denied as stanza-not-for-package).
   * Absent when the package holds no fingerprinted copy, or was sealed before stanzas named it.
   */
  model?: string;
  package: string | null;
  license: string | null;
  decision: 'allow' | 'deny';
  reason: string;
  /** The Cedar policy ids that decided. */
  policies: string[];
  policySet: string;
  /** The source address (a pseudonym when the operator set a pseudonym key). */
  ip: string;
  destination: string | null;
  nonce: string | null;
  /** The recipient's nationalities and citizenships at the time of the request, sorted (deemed exports). */
  nationalities?: string[];
  /** The recipient's screening against the lists active at the time of the request. */
  screening?: LoggedScreening;
  /** Where the request came from, as the service located it. */
  observed?: LoggedObservation;
  /**
   * Set on a release that happened outside the service, imported from its provider's audit trail
   * (`audit import-cloudtrail`): "aws-kms". Absent on the service's own releases.
   */
  path?: 'aws-kms';
  /** The KMS side of an imported release: the key, the calling principal and the CloudTrail event id. */
  kms?: { key: string; principal: string; event: string };
  /**
   * The package's classification as its release stanza binds it (record digest, US-EAR
   * classification, rule packs) and whether the declared and observed destinations need a license
   * for it; absent for a package sealed without one. docs/LOG.md, "Classification".
   */
  classification?: LoggedClassification;
}

/** A release request's classification as the log records it. */
export interface LoggedClassification {
  record: string;
  usEar: string;
  rulePacks: string[];
  licenseRequired: boolean;
  licenseRequiredObserved: boolean;
}

/**
 * A KMS grant `kms grant` made on an aws-kms stanza's key: who may Decrypt, and only with exactly
 * that stanza's EncryptionContext (docs/LOG.md, "KMS grants").
 */
export interface KmsGrantEvent {
  v: 1;
  type: 'kms-grant';
  time: string;
  /** Package id (hex), the model's root digest, and the stanza's recipient id and license. */
  package: string;
  artifact: string;
  recipient: string;
  license: string;
  /** The KMS key ARN, the grant's id and name, the grantee principal and the operations given. */
  key: string;
  grant: string;
  name: string;
  grantee: string;
  operations: string[];
  /** The EncryptionContext the grant is constrained to (Constraints.EncryptionContextEquals). */
  context: Record<string, string>;
  /** The publisher key, "sha256:" of its SPKI. */
  publisher: string;
}

/**
 * A recipient's screening as the log records it: the decision over its name and organisation, the
 * snapshots that decided it ("<source>@sha256:<hex>", sorted), the sources past their maximum age,
 * and the best match; its score a decimal string ("0.912"), as log entries hold no floats.
 */
export interface LoggedScreening {
  decision: 'clear' | 'review' | 'hit';
  lists: string[];
  stale: string[];
  best: { entity: string; source: string; name: string; score: string } | null;
  /**
   * Set by the release service when the recipient's screening-override entry (its log origin and
   * index) covers every listed party the recipient matches now: the policy then sees it overridden.
   */
  overridden?: { origin: string; index: number };
}

/**
 * A request's source as the log records it: the address located (the peer, or the rightmost
 * untrusted hop behind trusted proxies), its country ("" when unknown, private or loopback), the
 * network kind an ASN database gives, the country database's digest ("" without one), its age in
 * whole days, and whether it is past its maximum age.
 */
export interface LoggedObservation {
  address: string;
  country: string;
  network: '' | 'hosting' | 'anonymizer';
  database: string;
  ageDays: number;
  stale: boolean;
}

/**
 * Failing requests the service refused (429) without logging them one by one: one entry per
 * source and interval (docs/SERVER.md, "Limits").
 */
export interface DenialsEvent {
  v: 1;
  type: 'denials';
  /** When the summary was written; `since` and `until`, the first and last request it counts. */
  time: string;
  since: string;
  until: string;
  /** The source: an address, an IPv6 /64, or "*" (sources beyond the tracked number); a pseudonym when set. */
  ip: string;
  count: number;
  /** How many of them for each reason they would have been denied with (or "rate-limited" for other endpoints). */
  reasons: Record<string, number>;
  policySet: string;
}

/**
 * An operator registered a recipient that screening flagged (`recipient issue|register
 * --override-screening`): the party, the screening, the reason and who decided, logged before the
 * recipient is written. docs/LOG.md, "Screening and nationalities".
 */
export interface ScreeningOverrideEvent {
  v: 1;
  type: 'screening-override';
  time: string;
  /** The recipient's name, organisation, and nationalities, citizenships and country (sorted). */
  recipient: string;
  org: string;
  countries: string[];
  screening: LoggedScreening;
  /** Every listed party the screening flagged, "<source>:<entity id>", sorted: what the override covers. */
  entities: string[];
  reason: string;
  decidedBy: string;
  /** The key store's publisher key, "sha256:" of its SPKI: it signs the event sent to a release service. */
  publisher: string;
}

/**
 * A leak traced (`trace --record`): the leaked file's digest, the original model it was traced
 * against, who was accused and with what evidence (scores as decimal strings: log entries hold no
 * floats), so the report and the evidence pack show trace results on record. docs/LOG.md, "Traces".
 */
export interface TraceEvent {
  v: 1;
  type: 'trace';
  time: string;
  /** "sha256:<hex>" of the leaked file (of the concatenated files, in name order, for a folder). */
  leak: string;
  /** The original model's root digest, "sha256:…". */
  original: string;
  /** Whether the leak matched tensors of the original at all. */
  derived: boolean;
  /** The accused recipients: name, the marked copy's id, z, threshold and log10 of the false-accusation bound. */
  accused: { recipient: string; copy: string; z: string; threshold: string; log10Bound: string }[];
  /** The bound's parameters: ε and the number of traces T it covers; how many recipients were scored. */
  epsilon: string;
  traces: number;
  recipients: number;
  /** The key store's publisher key, "sha256:" of its SPKI: it signs the event sent to a release service. */
  publisher: string;
}

/**
 * An inference call through `modelseal gate`, decided by policy (Cedar action `Infer`) and logged
 * before it is forwarded to the model server: allowed or denied, one entry per call. An allowed
 * call gets an `infer-settle` entry once it ends. Never the prompt or the output, only their
 * SHA-256 digests and the features the extraction monitor reads. docs/GATE.md, docs/LOG.md "Inference".
 */
export interface InferAdmitEvent {
  v: 1;
  type: 'infer-admit';
  time: string;
  /** The gateway's id of this call (32 hex): the settle entry's `id` and the x-request-id header. */
  id: string;
  /**
   * The registered recipient calling (a keyed-hash pseudonym when the operator set a pseudonym key);
   * null when unauthenticated.
   */
  recipient: string | null;
  org: string | null;
  country: string | null;
  /** The API key's id (never its secret) and the client certificate's fingerprint (SHA-256 hex), when used. */
  key: string | null;
  certificate: string | null;
  /** The served model's name (`gate --model`), its root digest ("sha256:…", from `--package`; null without one). */
  model: string;
  artifact: string | null;
  /** The OpenAI endpoint called: "chat.completions", "completions" or "embeddings". */
  endpoint: string;
  /** The license the call ran under (null: none covers the caller and model). */
  license: string | null;
  /** The destination the caller declared (x-modelseal-destination), else the recipient's country; null when unknown. */
  destination: string | null;
  /** The application the caller declared (x-modelseal-application), "" when none. */
  application: string;
  decision: 'allow' | 'deny';
  reason: string;
  policies: string[];
  policySet: string;
  /** The source address (a pseudonym when the operator set a pseudonym key). */
  ip: string;
  observed?: LoggedObservation;
  nationalities?: string[];
  screening?: LoggedScreening;
  /** The served model's classification (from `--package`) and what it means for this call; absent without one. */
  classification?: LoggedInferClassification;
  /** Reserved at admission: tokens (prompt + max_tokens) and FLOPs (2 × parameters × tokens, a decimal string). */
  reserved: { tokens: number; flops: string } | null;
  /** "sha256:…" of the quota file in force ("" without one). */
  quotas: string;
  /** "sha256:…" of the prompt text (docs/GATE.md, "What is hashed"); null when the body did not parse. */
  prompt: string | null;
  /** What the extraction monitor reads of the prompt; null when the body did not parse. */
  features: InferFeatures | null;
  /** The caller's extraction-risk score at admission, per mille (0–1000). */
  risk: number;
  stream: boolean;
}

/** The served model's classification as an inference entry records it. */
export interface LoggedInferClassification {
  /** The classification record's digest, as a release logs it. */
  record: string;
  usEar: string;
  /** The capability tier the gateway derives from it (docs/GATE.md, "Tiers"). */
  tier: string;
  /** Exact parameter count, a decimal string. */
  parameters: string;
  rulePacks: string[];
  licenseRequired: boolean;
  licenseRequiredObserved: boolean;
}

/**
 * What the extraction monitor reads of a prompt (docs/GATE.md, "Extraction monitoring"): a MinHash
 * signature of its word shingles (hex, 4 bytes per hash), whether it asks for step-by-step
 * reasoning, and its length in tokens (as counted or estimated).
 */
export interface InferFeatures {
  minhash: string;
  cot: boolean;
  promptTokens: number;
}

/** How an admitted inference call ended: tokens, FLOPs, status and the output's digest. docs/GATE.md. */
export interface InferSettleEvent {
  v: 1;
  type: 'infer-settle';
  time: string;
  /** The admit entry's `id` and log index. */
  id: string;
  admit: number;
  recipient: string | null;
  model: string;
  outcome: 'completed' | 'client-disconnect' | 'upstream-error' | 'upstream-timeout' | 'quota-exhausted';
  /** The HTTP status the client got (for a stream, of the response's head). */
  status: number;
  tokens: { prompt: number; completion: number };
  /** True when the model server sent no usage and the tokens were counted or estimated by the gateway. */
  estimated: boolean;
  flops: string;
  durationMs: number;
  /** Time to the first streamed token, for streams that sent one. */
  firstTokenMs?: number;
  /** "sha256:…" of the output text sent to the client; null when none was. */
  output: string | null;
  stream: boolean;
}

/** The events a publisher's key store may submit to a release service's log (POST /v1/export), or append to its own. */
export type PublisherEvent = ExportEvent | ScreeningOverrideEvent | KmsGrantEvent | TraceEvent;

export type LogEvent =
  | ExportEvent
  | ReleaseEvent
  | DenialsEvent
  | ScreeningOverrideEvent
  | KmsGrantEvent
  | TraceEvent
  | InferAdmitEvent
  | InferSettleEvent;

/** JSON with object keys sorted at every level and no whitespace (RFC 8785 for the values we log). */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value))
      throw new ModelsealError('INTERNAL', `log events hold integers only, not ${value}`);
    return String(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  throw new ModelsealError('INTERNAL', `cannot log a ${typeof value}`);
}

/** The leaf bytes of an event: its canonical JSON. */
export function encodeEvent(e: LogEvent): Buffer {
  return Buffer.from(canonicalJson(e), 'utf8');
}

/** Parses a logged entry; entries that are not modelseal events come back as null. */
export function decodeEvent(entry: Uint8Array): LogEvent | null {
  try {
    const e = JSON.parse(Buffer.from(entry).toString('utf8')) as Partial<LogEvent> | null;
    return e?.v === 1 && typeof e.type === 'string' ? (e as LogEvent) : null;
  } catch {
    return null;
  }
}

/**
 * What the log needs to know of a sealed package to record its export: the package's own result
 * (`SealResult` of src/package/seal.ts) has these fields.
 */
export interface SealedPackage {
  /** Package id (hex). */
  packageId: string;
  model: { name: string; rootDigest: string };
  /** One stanza summary per recipient. */
  recipients: readonly { recipient: string; type: string; license: string; policy: string }[];
  /** The publisher key, "sha256:" of its SPKI. */
  signer: string;
  /** The fingerprint record of the recipient's copy, when the weights carry one. */
  fingerprint?: { record: { id: string } };
  /** The classification record the header binds, when the package was sealed with one. */
  classification?: ClassificationRecord;
}

/**
 * `value` with every number that is not a safe integer as its decimal string (a config.json's
 * `layer_norm_eps` in a classification's architecture): the log holds integers only.
 */
export function integersOnly<T>(value: T): T {
  if (typeof value === 'number') return (Number.isSafeInteger(value) ? value : String(value)) as T;
  if (Array.isArray(value)) return value.map(integersOnly) as T;
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, integersOnly(v)])) as T;
  return value;
}

/** One export event per recipient of a sealed package. */
export function exportEvents(r: SealedPackage, time = new Date()): ExportEvent[] {
  return r.recipients.map((s) => ({
    v: 1,
    type: 'export',
    time: time.toISOString(),
    package: r.packageId,
    artifact: r.model.rootDigest,
    model: r.model.name,
    recipient: s.recipient,
    provider: s.type,
    license: s.license,
    policy: s.policy,
    publisher: r.signer,
    fingerprint: r.fingerprint?.record.id ?? null,
    ...(r.classification ? { classification: integersOnly(r.classification) } : {}),
  }));
}

/** Every entry of `store` (up to its committed size) with its event, null for entries that are not modelseal events. */
export async function* storeEvents(store: LogStore): AsyncIterable<{ index: number; event: LogEvent | null }> {
  const size = store.size;
  for (let from = 0; from < size; from += 4096) {
    const entries = await store.readEntries(from, Math.min(size, from + 4096));
    for (let i = 0; i < entries.length; i++) yield { index: from + i, event: decodeEvent(entries[i]!) };
  }
}
