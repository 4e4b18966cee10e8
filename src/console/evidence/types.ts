/** The shapes of the evidence pack's library API (src/console/evidence/index.ts). */
import type { EvidenceRecords } from '../../compliance/records.js';
import type { NoteSigner, NoteVerifier } from '../../log/note.js';
import type { LogSource } from '../../log/open.js';
import type { Pseudonymizer } from '../../log/pseudonym.js';
import type { RecordKind } from '../../compliance/records.js';

/** Which entries a pack holds: all of them match (times in ms since the epoch; countries ISO alpha-2). */
export interface EvidenceSelection {
  since?: number;
  until?: number;
  /** A model root digest "sha256:…": its exports, releases (fingerprinted copies included), grants and traces. */
  model?: string;
  recipient?: string;
  destinations?: string[];
}

export interface ExportEvidenceOptions {
  source: LogSource;
  records: EvidenceRecords;
  /** Signs the manifest: the log's key (the same signer as the log's checkpoints). */
  signer: NoteSigner;
  /** The log's verifier key: every checkpoint put in the pack is checked under it first. */
  verifier: NoteVerifier;
  selection: EvidenceSelection;
  /** The pack file, written under a temporary name and renamed when complete and verified. */
  output: string;
  /** Replace `output` when it exists; without it, OUTPUT_EXISTS. */
  overwrite?: boolean;
  pseudonyms?: Pseudonymizer;
  /**
   * Write the pack even when the records source lacks records the decisions rest on: the pack then
   * declares them as gaps. Without it, export fails with EVIDENCE_INCOMPLETE naming every one.
   */
  allowMissing?: boolean;
  now?: () => Date;
  onProgress?: (p: { done: number; total: number }) => void;
}

/** A record a selected decision rests on that the pack does not hold. */
export interface EvidenceGap {
  kind: RecordKind;
  /** What the log holds: a policy set hash, a snapshot ref, a recipient's logged name, a classification digest. */
  ref: string;
  /** The entry index that rests on it. */
  entry: number;
}

export interface EvidenceSummary {
  output: string;
  /** The entries selected, and the size of the log they were selected from. */
  entries: number;
  size: number;
  /** The checkpoint the inclusion proofs are against, and the latest one (the consistency proof between them). */
  checkpoint: { size: number; root: string };
  latest: { size: number; root: string };
  files: number;
  bytes: number;
  /** "sha256:<hex>" of the signed manifest. */
  manifest: string;
  /** The records the pack declares missing (only with `allowMissing`). */
  gaps: EvidenceGap[];
}

export interface EvidenceVerification {
  ok: true;
  origin: string;
  entries: number;
  decisions: number;
  files: number;
  checkpoint: { size: number; root: string };
  latest: { size: number; root: string };
  /** The records the pack declares missing (accepted only with `acceptGaps`). */
  gaps: EvidenceGap[];
  /** The names of the keys the manifest's signatures verified under. */
  verifiedBy: string[];
}
