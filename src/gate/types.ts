/**
 * The gateway's parts and how they meet (docs/GATE.md): the API keys that identify callers, the
 * quotas reserved at admission and settled when a call ends, and the extraction monitor that scores
 * callers from the log. `modelseal gate` (gateway.ts) composes them with the release service's
 * recipients, screening, geolocation, policy and log.
 */
import type { InferAdmitEvent, InferFeatures, InferSettleEvent } from '../log/events.js';

/** One API key of a registered recipient, as stored: its secret only as a SHA-256 digest. */
export interface ApiKeyRecord {
  /** The key's public id (the part of the key before its secret), logged with each call. */
  id: string;
  recipient: string;
  /** The served model names (`gate --model`) it may call; empty: every model. */
  models: string[];
  /** A note for the operator ("ci runner"); never secret. */
  label: string;
  created: string;
  /** ISO 8601; null: no expiry. */
  expires: string | null;
  revoked: string | null;
  /** SHA-256 (hex) of the whole key. */
  hash: string;
}

/** What the gateway asks of the stored keys. */
export interface ApiKeys {
  /** The record of a presented key when it is one (right secret, not revoked, not expired); else null. */
  verify(key: string, now: Date): Promise<ApiKeyRecord | null>;
}

/** Limits for one subject: each absent limit is no limit. FLOPs as decimal strings (they pass 2^53). */
export interface QuotaLimits {
  requestsPerMinute?: number;
  tokensPerMinute?: number;
  tokensPerDay?: number;
  tokensPerMonth?: number;
  flopsPerDay?: string;
  flopsPerMonth?: string;
}

/** Who a call is counted against: the recipient, its organisation and the model's capability tier. */
export interface QuotaSubject {
  recipient: string;
  org: string;
  tier: string;
}

/** An amount of use: requests, tokens and FLOPs. */
export interface QuotaAmount {
  requests: number;
  tokens: number;
  flops: bigint;
}

/** The outcome of a reservation: held (settle it exactly once), or refused with the limit that refused it. */
export type QuotaReservation =
  | { ok: true; id: string; subject: QuotaSubject; amount: QuotaAmount; at: number }
  | { ok: false; retryAfter: number; limit: string };

/** The use of the tightest limit after a reservation, per mille (0 when there are no limits). */
export interface QuotaStore {
  /** Reserves `amount` against every limit that applies to `subject`, atomically across replicas. */
  reserve(subject: QuotaSubject, amount: QuotaAmount, now: Date): Promise<QuotaReservation>;
  /** Replaces a held reservation by what the call really used (less, or more when the upstream overran it). */
  settle(reservation: Extract<QuotaReservation, { ok: true }>, used: QuotaAmount, now: Date): Promise<void>;
  /** The subject's use of its tightest limit, per mille, without reserving (the policy's `quotaUsed`). */
  usedPerMille(subject: QuotaSubject, now: Date): Promise<number>;
  /** "sha256:…" of the quota file in force ("" without one). */
  readonly digest: string;
  close(): Promise<void>;
}

/** One signal of the extraction monitor, as `gate review` shows it (docs/GATE.md, "Extraction monitoring"). */
export interface RiskSignal {
  name: string;
  /** The measured value, the threshold it is compared to, and whether it fired. */
  value: number;
  threshold: number;
  fired: boolean;
  /** In plain words: what was measured over which calls. */
  evidence: string;
  /** Its weight in the score when it fires (the score is 1 − Π(1 − weight) over the fired signals). */
  weight?: number;
}

/** A caller's extraction-risk score (0–1) and the signals it rests on. */
export interface RiskAssessment {
  caller: string;
  score: number;
  calls: number;
  signals: RiskSignal[];
}

/** Scores callers from the log's inference entries, live in the gateway and offline in `gate review`. */
export interface ExtractionMonitor {
  /** Takes one logged inference entry (in log order). */
  observe(index: number, e: InferAdmitEvent | InferSettleEvent): void;
  /** The caller's current assessment (score 0 and no fired signal for a caller never seen). */
  assess(caller: string): RiskAssessment;
  callers(): string[];
}

export type { InferFeatures };
