/**
 * Evidence packs (`audit export`, `audit verify-export`): the selected log entries with inclusion
 * and consistency proofs, the records each decision rests on, the report, and a manifest signed
 * with the log key, in one tar file checked offline. docs/AUDIT.md.
 */
import type { NoteVerifier } from '../../log/note.js';
import type { EvidenceVerification } from './types.js';
import { verifyPack } from './verify.js';

export { exportEvidence } from './export.js';
export { EVIDENCE_VERSION } from './pack.js';
export type {
  EvidenceGap,
  EvidenceSelection,
  EvidenceSummary,
  EvidenceVerification,
  ExportEvidenceOptions,
} from './types.js';

/**
 * Checks an evidence pack offline under the log keys given; EVIDENCE_INVALID naming the file on any
 * failure, EVIDENCE_INCOMPLETE when it declares missing records and `acceptGaps` is not set.
 */
export function verifyEvidence(
  file: string,
  verifiers: readonly NoteVerifier[],
  o: { acceptGaps?: boolean } = {},
): Promise<EvidenceVerification> {
  return verifyPack(file, verifiers, o);
}
