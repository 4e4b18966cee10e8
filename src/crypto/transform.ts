/**
 * Piece transforms: a change the seal pipeline makes to a piece's plaintext after reading it and
 * before encrypting it, on whichever thread runs the piece. The layer that owns a transform registers
 * it by name on every thread that seals (src/package/seal-worker.ts registers the fingerprint), and a
 * bulk job names it with plain data, so this layer runs it without knowing what it does.
 */

/**
 * Changes `plain`, the input file's bytes from `piecePos` on, in place; returns what the pipeline
 * hands back to the main thread (structured-cloneable). `readAt` reads the unchanged input file.
 */
export type PieceTransformFn = (
  params: unknown,
  piecePos: number,
  plain: Uint8Array,
  readAt: (pos: number, length: number) => Uint8Array,
) => unknown;

/** A bulk job's transform, as data: its registered name and its parameters. */
export interface PieceTransformJob {
  kind: string;
  params: unknown;
  /** When given, the plaintext is copied here before it is changed (for hashing the original). */
  original?: SharedArrayBuffer;
}

/** Raised when a job names a transform this thread has not registered (a worker started without it). */
export class UnknownTransformError extends Error {
  readonly code = 'UNKNOWN_TRANSFORM';
}

const registry = new Map<string, PieceTransformFn>();

/** Registers (or replaces) the piece transform `kind` on this thread. */
export function registerPieceTransform(kind: string, fn: PieceTransformFn): void {
  registry.set(kind, fn);
}

/** Runs a job's transform on `plain`; see {@link PieceTransformFn}. */
export function applyPieceTransform(
  t: PieceTransformJob,
  piecePos: number,
  plain: Uint8Array,
  readAt: (pos: number, length: number) => Uint8Array,
): unknown {
  const fn = registry.get(t.kind);
  if (!fn) throw new UnknownTransformError(`piece transform "${t.kind}" is not registered on this thread`);
  if (t.original) new Uint8Array(t.original).set(plain);
  return fn(t.params, piecePos, plain, readAt);
}
