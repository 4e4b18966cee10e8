/**
 * The fingerprint's piece transform, as the crypto pool runs it: marks the tensors a piece overlaps
 * (src/fingerprint/mark.ts). Light on purpose: the seal workers load it (./seal-worker.ts).
 */
import { registerPieceTransform } from '../crypto/transform.js';
import { markPiece, type MarkStats, type TensorPlan } from '../fingerprint/mark.js';
import type { CodeParams } from '../fingerprint/params.js';

/** The registered name of the fingerprint's piece transform. */
export const FINGERPRINT_PIECE = 'fingerprint';

/** Its parameters for one piece: the tensors the piece overlaps and the code. */
export interface FingerprintPieceParams {
  plans: TensorPlan[];
  params: CodeParams;
}

/** Registers the fingerprint's piece transform on this thread; it returns the piece's MarkStats[]. */
export function registerFingerprintPiece(): void {
  registerPieceTransform(FINGERPRINT_PIECE, (params, piecePos, plain, readAt): MarkStats[] => {
    const p = params as FingerprintPieceParams;
    return markPiece(p.plans, p.params, piecePos, plain, readAt);
  });
}
