/**
 * The payload stage of seal: one iterator over the pieces of every input file (a run of chunks of
 * one segment), each read → [transformed] → encrypted and hashed → written at its final offset by
 * the crypto pool, while this thread hashes each file's plaintext in order from the very buffers
 * that were encrypted. The layout of the payload depends only on the file sizes and the chunk size,
 * so nothing here waits for the header.
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, type Stats } from 'node:fs';
import { ModelsealError } from '../errors.js';
import { JobError, orderedPipeline, type CryptoPool } from '../crypto/pool.js';
import type { KeySchedule } from '../crypto/keyschedule.js';
import {
  chunkOffset,
  chunkPlainLength,
  segmentsOf,
  streamOf,
  type PackageLayout,
  type SegmentLayout,
  type StreamLayout,
} from '../format/layout.js';
import type { InputFile, Inputs } from '../formats/checkpoint.js';
import type { ManifestEntry } from '../provenance/oms.js';
import { ioError, type Flusher } from '../io/atomic.js';
import { interrupted, pieceChunks, pipelineDepth, type Progress } from './common.js';
import type { PieceTransformCall, SealTransform } from './seal-transform.js';

/** One unit of payload work: a run of consecutive chunks of one segment of one input file. */
export interface Piece {
  /** Index of the input file (its stream is file + 1). */
  file: number;
  stream: StreamLayout;
  seg: SegmentLayout;
  /** The piece's first chunk within its stream, and how many it has. */
  first: number;
  chunks: number;
  /** Plaintext length of its last chunk. */
  lastLength: number;
  /** Whether the piece ends its file. */
  last: boolean;
}

/** The pieces of every input file's payload, in package order, at most `per` chunks each. */
export function* payloadPieces(layout: PackageLayout, files: readonly InputFile[], per: number): Generator<Piece> {
  const chunkSize = layout.chunkSize;
  for (const [file, f] of files.entries()) {
    const stream = streamOf(layout, file + 1);
    for (const seg of segmentsOf(stream)) {
      for (let first = seg.firstChunk; first < seg.firstChunk + seg.chunkCount; first += per) {
        const chunks = Math.min(per, seg.firstChunk + seg.chunkCount - first);
        const lastLength = chunkPlainLength(f.size, chunkSize, first + chunks - 1);
        yield { file, stream, seg, first, chunks, lastLength, last: first + chunks === stream.chunkCount };
      }
    }
  }
}

export interface PayloadStage {
  inputs: Inputs;
  /** The draft layout: the payload sits where it will in the final package. */
  layout: PackageLayout;
  keys: KeySchedule;
  out: number;
  flusher: Flusher;
  pool: CryptoPool;
  transform: SealTransform | undefined;
  /** The package path, for error messages. */
  toPath: string;
  signal?: AbortSignal | undefined;
  onProgress?: ((p: Progress) => void) | undefined;
}

export interface SealedPayload {
  /** Each file's plaintext digest (as sealed: after the transform), in order. */
  manifest: ManifestEntry[];
  /** SHA-256 of every sealed chunk of the files, in package order (the provenance's follow). */
  chunkDigests: Uint8Array;
}

/** A sealed piece, back from the pool. */
interface PieceDone {
  piece: Piece;
  buf: SharedArrayBuffer;
  original: SharedArrayBuffer | undefined;
  transformed: boolean;
  length: number;
  digests: Uint8Array;
  output: unknown;
}

/** Seals every input file's payload into `out` at its final offsets; see the module comment. */
export async function sealPayload(s: PayloadStage): Promise<SealedPayload> {
  const { inputs, layout, pool, transform } = s;
  const chunkSize = layout.chunkSize;
  const per = pieceChunks(chunkSize);
  const chunkDigests = new Uint8Array(streamOf(layout, 0).firstListedChunk * 32);
  const manifest: ManifestEntry[] = [];
  const free: SharedArrayBuffer[] = [];
  const files = new OpenInputs(inputs.files, transform);
  const total = inputs.files.reduce((a, f) => a + f.size, 0);
  let hash = createHash('sha256');
  let done = 0;
  const keyOf = segmentKeys(s.keys);
  const start = (piece: Piece) => {
    if (s.signal?.aborted) throw interrupted();
    const f = inputs.files[piece.file]!;
    const inFd = files.fd(piece.file);
    const from = piece.first * chunkSize;
    const call = transform?.piece(piece.file, from, from + (piece.chunks - 1) * chunkSize + piece.lastLength);
    const buf = free.pop() ?? new SharedArrayBuffer(per * chunkSize);
    const original = call?.keepOriginal ? (free.pop() ?? new SharedArrayBuffer(per * chunkSize)) : undefined;
    return () =>
      pool
        .run({
          op: 'seal',
          key: keyOf(piece),
          inFd,
          inPos: from,
          outFd: s.out,
          packagePos: chunkOffset(piece.seg, chunkSize, piece.first),
          firstCounter: piece.first,
          chunks: piece.chunks,
          chunkSize,
          lastLength: piece.lastLength,
          finalLast: piece.last,
          buf,
          ...(call ? { transform: jobTransform(call, original) } : {}),
        })
        .then(
          (r): PieceDone => ({
            piece,
            buf,
            original,
            transformed: call !== undefined,
            length: r.length!,
            digests: r.digests!,
            output: r.transformed,
          }),
          (e: unknown) => Promise.reject(jobFailure(e, f, s.toPath)),
        );
  };
  const consume = (d: PieceDone) => {
    const { piece } = d;
    const plain = new Uint8Array(d.buf, 0, d.length);
    hash.update(plain);
    if (transform) {
      const original = d.original ? new Uint8Array(d.original, 0, d.length) : d.transformed ? undefined : plain;
      transform.consumePiece({ file: piece.file, original, output: d.output });
    }
    free.push(d.buf);
    if (d.original) free.push(d.original);
    chunkDigests.set(d.digests, 32 * (piece.stream.firstListedChunk + piece.first));
    s.flusher.wrote(d.length);
    done += d.length;
    s.onProgress?.({ phase: 'encrypt', done, total });
    if (!piece.last) return;
    files.close(piece.file);
    const f = inputs.files[piece.file]!;
    manifest.push({ path: f.path, size: f.size, sha256: new Uint8Array(hash.digest()) });
    hash = createHash('sha256');
    transform?.endFile(piece.file);
  };
  try {
    const jobs = function* () {
      for (const piece of payloadPieces(layout, inputs.files, per)) yield start(piece);
    };
    await orderedPipeline(pipelineDepth(pool.threads, chunkSize), jobs(), consume);
    return { manifest, chunkDigests };
  } catch (e) {
    await pool.drain().catch(() => {}); // no worker may still use a descriptor closed below
    throw e;
  } finally {
    files.closeAll();
  }
}

/** A piece's payload key: derived once per segment (pieces of a segment come one after another). */
function segmentKeys(keys: KeySchedule): (piece: Piece) => Uint8Array {
  let seg: SegmentLayout | undefined;
  let key: Uint8Array = new Uint8Array(0);
  return (piece) => {
    if (piece.seg !== seg) {
      seg = piece.seg;
      key = keys.payloadKey(piece.stream.index, seg.segment);
    }
    return key;
  };
}

function jobTransform(call: PieceTransformCall, original: SharedArrayBuffer | undefined) {
  return { kind: call.kind, params: call.params, ...(original ? { original } : {}) };
}

/**
 * The input files being sealed. Each is opened as its first piece is dispatched and closed after
 * its last is hashed, so a folder of thousands of files never holds more than a few descriptors;
 * one whose size or mtime moved in between changed while it was sealed.
 */
class OpenInputs {
  readonly #open = new Map<number, { fd: number; before: Stats }>();
  constructor(
    private readonly files: readonly InputFile[],
    private readonly transform: SealTransform | undefined,
  ) {}

  fd(i: number): number {
    const known = this.#open.get(i);
    if (known) return known.fd;
    const f = this.files[i]!;
    let fd: number;
    try {
      fd = openSync(f.source, 'r');
    } catch (cause) {
      throw ioError(`cannot read ${f.source}`, cause);
    }
    const input = { fd, before: fstatSync(fd) };
    this.#open.set(i, input);
    if (input.before.size !== f.size) throw changed(f);
    this.transform?.openedFile?.(i, fd);
    return fd;
  }

  close(i: number): void {
    const f = this.files[i]!;
    const input = this.#open.get(i)!;
    const now = fstatSync(input.fd);
    this.#open.delete(i);
    closeSync(input.fd);
    if (now.size !== f.size || now.mtimeMs !== input.before.mtimeMs) throw changed(f);
  }

  closeAll(): void {
    for (const input of this.#open.values()) closeSync(input.fd);
    this.#open.clear();
  }
}

/** Maps a failed payload job to the error the user can act on. */
function jobFailure(e: unknown, f: InputFile, toPath: string): unknown {
  if (!(e instanceof JobError)) return e;
  if (e.code === 'SHORT_READ') return changed(f);
  if (e.code === 'UNKNOWN_TRANSFORM')
    return new ModelsealError('INTERNAL', `the seal transform is not registered on a worker thread: ${e.message}`, {
      cause: e,
    });
  return ioError(`cannot seal ${f.source} into ${toPath}`, e);
}

function changed(f: InputFile): ModelsealError {
  return new ModelsealError('IO', `${f.source} changed while it was being sealed; seal again once it is stable`);
}
