/**
 * The optional transform stage of the seal pipeline (read → [transform] → encrypt+hash → write):
 * a change to some pieces of the plaintext before they are encrypted, with the bookkeeping around
 * it. The pipeline calls these hooks without knowing what they do; fingerprinting is one
 * (./fingerprint-transform.ts). The per-piece work itself runs on the crypto pool's threads as a
 * registered piece transform named by data (src/crypto/transform.ts).
 */
import type { Header } from '../format/header.js';
import type { Inputs } from '../formats/checkpoint.js';

/** What the pipeline runs on one piece: a registered piece transform, by name, with its parameters. */
export interface PieceTransformCall {
  kind: string;
  /** Structured-cloneable: it goes to a worker thread. */
  params: unknown;
  /** Whether the transform wants the piece's bytes as they were before it ran ({@link SealTransform.consumePiece}). */
  keepOriginal: boolean;
}

/** One piece as the transform sees it once it is sealed, in payload order. */
export interface TransformedPiece {
  /** Index of the input file. */
  file: number;
  /** The bytes before the transform: the piece's plaintext when it was left alone, a copy when kept, else undefined. */
  original: Uint8Array | undefined;
  /** What the piece transform returned (undefined when the piece was left alone). */
  output: unknown;
}

/** A transform of the plaintext between reading and encrypting it, as the seal pipeline calls it. */
export interface SealTransform {
  /** Reads what it needs of the inputs before anything is written; throws if it cannot apply. */
  plan(inputs: Inputs): Promise<void>;
  /** Header fields it names, at their final encoded size (placeholders are filled in by {@link finishHeader}). */
  headerFields(): Partial<Header>;
  /**
   * The entry module of the worker threads, which registers the piece transform there (the
   * calling thread must have registered it too). Without it, sealing runs on the calling thread only.
   */
  readonly workerScript?: URL;
  /** Input file `file` was opened as `fd`, before any of its pieces is read. */
  openedFile?(file: number, fd: number): void;
  /** What to run on bytes [from, to) of input file `file`, or undefined to leave them as they are. */
  piece(file: number, from: number, to: number): PieceTransformCall | undefined;
  /** Every piece, in payload order, once it is sealed. */
  consumePiece(piece: TransformedPiece): void;
  /** After the last piece of input file `file`. */
  endFile(file: number): void;
  /** Once the payload is sealed and the root digest set: fills in the header fields it named. */
  finishHeader(header: Header): void;
  /**
   * Once the package is complete, before it is committed: records what it did (a fingerprint
   * goes to the registry here) and returns the fields it adds to the seal result.
   */
  record(sealed: { packageId: string; header: Header }): Promise<object>;
}
