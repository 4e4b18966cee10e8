/**
 * The records a logged decision rests on, as an evidence pack (`audit export`) collects them: the
 * policy set in force (its hash is logged with every release), the screening list snapshots (logged
 * as "<source>@sha256:<hex>") and the recipients (logged by name, or by pseudonym). A release
 * service's data directory keeps them for the retention period (docs/AUDIT.md); a running service
 * hands them to its publisher over a signed request. Implemented by src/server (a data directory,
 * and the client of `POST /v1/records`); read by src/console (the evidence pack, the report).
 */
import type { ImportedFile } from './lists/active-file.js';
import type { LogEvent, LoggedScreening } from '../log/events.js';
import { classificationDigest } from '../package/classification.js';

/**
 * A policy set exactly as it was in force: the four files whose texts the logged `policySet` hash
 * covers (src/policy/engine.ts computes it; an auditor recomputes it from these texts).
 */
export interface PolicySetRecord {
  /** The hash as logged (64 hex). */
  hash: string;
  files: { schema: string; policies: string; licenses: string; embargoes: string };
  /** When this set first came into force on the service that archived it (ISO 8601). */
  inForce: string;
}

/** A screening list snapshot's metadata: what was imported when, from which files; not the entries. */
export interface SnapshotRecord {
  /** As logged: "<source>@sha256:<hex>". */
  ref: string;
  source: string;
  /** "sha256:<hex>" of the snapshot file. */
  digest: string;
  entries: number;
  names: number;
  imported: string;
  maxAgeDays: number;
  files: ImportedFile[];
  skipped: number;
}

/**
 * A recipient's record as an auditor may see it. `name` is the name as logged: a keyed-hash
 * pseudonym when the log is pseudonymised, and then the record carries no other name either.
 */
export interface RecipientEvidence {
  name: string;
  org: string;
  country: string;
  nationalities: string[];
  citizenships: string[];
  /** SHA-256 (hex) of the certificate DER, or of the SPKI DER without one: what releases log. */
  fingerprint: string;
  publicKey: string;
  certificate: string | null;
  created: string;
  revoked: string | null;
  screeningOverride?: ScreeningOverride;
}

/** A registration screening flagged and the operator let through, as the log recorded it (docs/LOG.md). */
export interface ScreeningOverride {
  time: string;
  reason: string;
  decidedBy: string;
  screening: LoggedScreening;
  /** Every listed party the screening flagged, "<source>:<entity id>": what the override covers at releases. */
  entities: string[];
  /** The log's origin and the entry's index. */
  log: { origin: string; index: number };
}

/** Where the records come from: a data directory, or a running service (signed requests). */
export interface EvidenceRecords {
  /** The policy set of a logged hash; null when it was not archived. */
  policySet(hash: string): Promise<PolicySetRecord | null>;
  /** The snapshot a logged "<source>@sha256:<hex>" names; null when its metadata is not kept. */
  snapshot(ref: string): Promise<SnapshotRecord | null>;
  /** The recipient a log entry names (a name, or a pseudonym); null when there is no such record. */
  recipient(logged: string): Promise<RecipientEvidence | null>;
  close(): Promise<void>;
}

/** The reasons of an inference call refused on the served model's classification (docs/GATE.md, "Tiers"). */
const CLASS_REASONS: readonly string[] = ['license-required', 'tier-not-licensed'];

/** The kinds of record a logged decision rests on. */
export type RecordKind = 'policy-set' | 'snapshot' | 'recipient' | 'classification';

/**
 * The records the decision logged as `e` rests on, as the log names them, in a fixed order:
 * - a release: the policy set of its hash; the recipient's record when one was registered (the entry
 *   names its certificate: an unknown-identity request names none); the snapshots it was screened
 *   against; the classification record, when the release was allowed or refused for needing a license
 *   (the decisions that rest on it; the record is in the package's export event);
 * - an inference call's admit entry, as a release: its policy set, the recipient's record when the
 *   call authenticated (by API key or certificate), its snapshots, and the served model's
 *   classification record when the call was allowed or refused for its license or tier;
 * - an export: its classification record; a screening override: its snapshots and the recipient it
 *   registered; a summary of refused requests: its policy set. Grants, traces and inference settle
 *   entries (which rest on their admit entry) rest on nothing beyond the log.
 * Used by `audit export` (what a pack must hold) and `serve --retain` (what must be kept).
 */
export function recordsRestedOn(e: LogEvent): { kind: RecordKind; ref: string }[] {
  const snapshots = (lists: readonly string[] | undefined) =>
    (lists ?? []).map((ref) => ({ kind: 'snapshot' as const, ref }));
  switch (e.type) {
    case 'release': {
      const decidedOnClass = e.decision === 'allow' || e.reason === 'license-required';
      return [
        { kind: 'policy-set', ref: e.policySet },
        ...(e.recipient !== null && e.certificate !== null ? [{ kind: 'recipient' as const, ref: e.recipient }] : []),
        ...snapshots(e.screening?.lists),
        ...(e.classification && decidedOnClass
          ? [{ kind: 'classification' as const, ref: e.classification.record }]
          : []),
      ];
    }
    case 'infer-admit': {
      const decidedOnClass = e.decision === 'allow' || CLASS_REASONS.includes(e.reason);
      return [
        { kind: 'policy-set', ref: e.policySet },
        ...(e.recipient !== null ? [{ kind: 'recipient' as const, ref: e.recipient }] : []),
        ...snapshots(e.screening?.lists),
        ...(e.classification && decidedOnClass
          ? [{ kind: 'classification' as const, ref: e.classification.record }]
          : []),
      ];
    }
    case 'export':
      return e.classification ? [{ kind: 'classification', ref: classificationDigest(e.classification) }] : [];
    case 'screening-override':
      return [...snapshots(e.screening.lists), { kind: 'recipient', ref: e.recipient }];
    case 'denials':
      return [{ kind: 'policy-set', ref: e.policySet }];
    default:
      return [];
  }
}
