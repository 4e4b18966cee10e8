/**
 * What a report is made from (ReportInput) and what it says (ReportData, written as report.json).
 * docs/REPORT.md says where each figure comes from.
 */
import type { IndexedEvent } from '../../log/query.js';

/** What a report is computed from. */
export interface ReportInput {
  /** The entries reported on (already selected), in log order. */
  entries: readonly IndexedEvent[];
  /**
   * The log: origin, size, latest checkpoint, and whether `auditLog` verified it (null: not checked);
   * `problem`, when it did not verify, is the first problem the audit found.
   */
  log: {
    origin: string;
    size: number;
    checkpoint: { size: number; root: string } | null;
    verified: boolean | null;
    problem?: string;
  };
  /** The period asked for (ISO 8601), when one was. */
  period: { since?: string; until?: string };
  /** When the report was made (ISO 8601). */
  generated: string;
}

/** The width of the timeline's buckets, chosen by the period's length (UTC; weeks start on Monday). */
export type BucketUnit = 'day' | 'week' | 'month' | 'year';

/** One bucket of the timeline: what happened from `start` (inclusive) to the next bucket's start. */
export interface TimelineBucket {
  /** The bucket's first day, "YYYY-MM-DD" (UTC). */
  start: string;
  /** Packages made (export events). */
  exports: number;
  /** Key-release requests the service allowed, and those it denied (release events). */
  allowed: number;
  denied: number;
  /** Requests refused by the rate limits without an entry of their own (the counts of denials summaries). */
  refused: number;
}

/** Allowed and denied release requests for one country: declared destination or observed source. */
export interface CountryRow {
  /** ISO 3166 alpha-2 as logged, upper-cased; "" when unknown, null when the entries did not record it. */
  country: string | null;
  allowed: number;
  denied: number;
}

/** Denied requests for one reason. */
export interface ReasonRow {
  reason: string;
  /** Denied release entries with this reason. */
  releases: number;
  /** Requests refused by the rate limits that would have been denied for it (denials summaries). */
  refused: number;
  /** releases + refused. */
  total: number;
}

/** One recipient, as logged (a name, or a pseudonym when the service pseudonymises). */
export interface RecipientRow {
  /** null: requests from no registered recipient. */
  recipient: string | null;
  /** Packages made for it, release requests allowed and denied. */
  exports: number;
  allowed: number;
  denied: number;
  /** The declared destinations of its release requests, sorted ("" for none declared). */
  destinations: string[];
}

/** One model, by root digest: the original of fingerprinted copies. */
export interface ModelRow {
  /** "sha256:…"; null for release requests that named no model. */
  model: string | null;
  /** The names it was sealed under (export events), sorted. */
  names: string[];
  exports: number;
  allowed: number;
  denied: number;
  /** The declared destinations of its release requests, sorted. */
  destinations: string[];
  /** The recipients of its exports and release requests, sorted (null recipients left out). */
  recipients: string[];
}

/** A value in force over the period (a screening list snapshot, a policy set): first and last seen, and how often. */
export interface InForceRow {
  /** A screening snapshot "<source>@sha256:<hex>", or a policy set's hash. */
  ref: string;
  first: string;
  last: string;
  /** Entries that name it. */
  count: number;
}

/** A trace on record (a trace event). */
export interface TraceRow {
  index: number;
  time: string;
  /** "sha256:…" of the leaked file, and the original model it was traced against. */
  leak: string;
  original: string;
  /** Whether the leak matched tensors of the original at all. */
  derived: boolean;
  /** How many recipients were scored. */
  recipients: number;
  /** The accused: name, marked copy, z score, threshold and log10 of the false-accusation bound (decimal strings). */
  accused: { recipient: string; copy: string; z: string; threshold: string; log10Bound: string }[];
}

/** An operator's screening override (a screening-override event). */
export interface OverrideRow {
  index: number;
  time: string;
  recipient: string;
  org: string;
  /** The screening decision overridden, and the listed parties "<source>:<entity>" it covers. */
  screening: 'clear' | 'review' | 'hit';
  entities: string[];
  reason: string;
  decidedBy: string;
}

/** A KMS grant (a kms-grant event). */
export interface GrantRow {
  index: number;
  time: string;
  recipient: string;
  artifact: string;
  license: string;
  /** The KMS key ARN, grant id, grantee principal and the operations given. */
  key: string;
  grant: string;
  grantee: string;
  operations: string[];
}

/** One recipient's or one served model's inference calls: counts, tokens and compute. */
export interface InferenceUsage {
  /** Calls allowed, denied, and settled (allowed calls that ended). */
  allowed: number;
  denied: number;
  settled: number;
  /** Tokens of the settled calls, as the model server reported them or the gateway estimated them. */
  promptTokens: number;
  completionTokens: number;
  /** Of those tokens, how many were estimated (the model server sent no usage). */
  estimatedTokens: number;
  /** estimatedTokens / (promptTokens + completionTokens), to 3 decimals; 0 when there are none. */
  estimatedShare: number;
  /** This row's share of every settled call's tokens in the period, to 3 decimals. */
  share: number;
  /** The FLOPs of its settled calls (2 × parameters × tokens, as logged), a decimal string. */
  flops: string;
  /** The highest extraction-risk score (per mille) any of its calls was admitted or refused with. */
  maxRisk: number;
}

/** Inference calls of one recipient (as logged; null for calls that did not authenticate). */
export interface InferenceRecipientRow extends InferenceUsage {
  recipient: string | null;
}

/** Inference calls to one served model: its name (`gate --model`) and the root digests its admits logged. */
export interface InferenceModelRow extends InferenceUsage {
  model: string;
  artifacts: string[];
}

/** A call as admitted or refused, among the highest extraction-risk scores of the period. */
export interface RiskRow {
  index: number;
  time: string;
  recipient: string | null;
  model: string;
  /** Per mille, as logged at admission. */
  risk: number;
  decision: 'allow' | 'deny';
  reason: string;
}

/** The gateway's calls (infer-admit and infer-settle entries; docs/REPORT.md, "Inference"). */
export interface InferenceReport {
  /** Every call: allowed, denied, settled, open (allowed in the period, not settled in it), tokens and FLOPs. */
  totals: Omit<InferenceUsage, 'share' | 'maxRisk'> & { open: number };
  /** Calls allowed and denied per bucket of the timeline (the same buckets). */
  timeline: { start: string; allowed: number; denied: number }[];
  /** Denied calls by reason, most first; `buckets`: how many in each bucket of the timeline. */
  reasons: { reason: string; denied: number; buckets: number[] }[];
  /** Per recipient and per model, most tokens first. */
  recipients: InferenceRecipientRow[];
  models: InferenceModelRow[];
  /** The ten calls admitted or refused with the highest risk scores, highest first. */
  risks: RiskRow[];
}

/** The report's figures: report.json. The same input always gives the same object, in the same order. */
export interface ReportData {
  /** The format's version. */
  v: 1;
  /** When the report was made (ISO 8601). */
  generated: string;
  /**
   * The period: as asked (null where open), the first and last entry's times (null: no entries),
   * and the timeline's bucket width.
   */
  period: { since: string | null; until: string | null; first: string | null; last: string | null; unit: BucketUnit };
  /**
   * The log's health: origin, size (entries), the latest checkpoint (size, root in base64), whether it
   * verified (null: not checked) and the first problem when it did not.
   */
  log: {
    origin: string;
    size: number;
    checkpoint: { size: number; root: string } | null;
    verified: boolean | null;
    problem: string | null;
  };
  /** Counts over the entries reported on. */
  totals: {
    /** The entries reported on. */
    entries: number;
    exports: number;
    /** Release requests allowed and denied (entries of their own). */
    allowed: number;
    denied: number;
    /** Requests refused by the rate limits, counted in denials summaries. */
    refused: number;
    traces: number;
    overrides: number;
    grants: number;
  };
  /** Exports and releases over time, every bucket of the period present (empty ones too). */
  timeline: TimelineBucket[];
  /** Release requests by declared destination, and by the country the service observed them from. */
  destinations: CountryRow[];
  observed: CountryRow[];
  /** Denied requests by reason, most frequent first. */
  reasons: ReasonRow[];
  /** Per recipient and per model, most active first. */
  recipients: RecipientRow[];
  models: ModelRow[];
  /** Screening list snapshots and policy sets in force over the period, by first seen. */
  lists: InForceRow[];
  policySets: InForceRow[];
  /** Trace results, screening overrides and KMS grants on record, in log order. */
  traces: TraceRow[];
  overrides: OverrideRow[];
  grants: GrantRow[];
  /** Calls through the inference gateway. */
  inference: InferenceReport;
}
