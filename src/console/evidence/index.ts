/**
 * Evidence packs (`audit export`, `audit verify-export`): the selected log entries with inclusion
 * and consistency proofs, the records each decision rests on, the report, and a manifest signed
 * with the log key, in one tar file checked offline. docs/AUDIT.md.
 *
 * CONTRACT PLACEHOLDER: brief E replaces the bodies; the signatures are what the demo and the CLI use.
 */
import { ModelsealError } from '../../errors.js';
import type { EvidenceRecords } from '../../compliance/records.js';
import type { NoteSigner, NoteVerifier } from '../../log/note.js';
import type { LogSource } from '../../log/open.js';
import type { Pseudonymizer } from '../../log/pseudonym.js';

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
  pseudonyms?: Pseudonymizer;
  now?: () => Date;
  onProgress?: (p: { done: number; total: number }) => void;
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
}

export interface EvidenceVerification {
  ok: true;
  origin: string;
  entries: number;
  decisions: number;
  files: number;
  checkpoint: { size: number; root: string };
  latest: { size: number; root: string };
}

/** Writes the evidence pack of the selected entries. */
export function exportEvidence(_o: ExportEvidenceOptions): Promise<EvidenceSummary> {
  return Promise.reject(new ModelsealError('INTERNAL', 'exportEvidence: not built yet'));
}

/** Checks an evidence pack offline under the log keys given; EVIDENCE_INVALID naming the file on any failure. */
export function verifyEvidence(_file: string, _verifiers: readonly NoteVerifier[]): Promise<EvidenceVerification> {
  return Promise.reject(new ModelsealError('INTERNAL', 'verifyEvidence: not built yet'));
}
