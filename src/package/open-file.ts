/**
 * Opening a package file: read in package order as a stream is, its structure and both signatures
 * checked whole before the data key is unwrapped, so a damaged or truncated copy never reaches the
 * release service or KMS; then the provenance, then the payload, decrypted piece by piece on the
 * workers at known offsets and handed to the PayloadSink in package order.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { decryptChunk } from '../crypto/chunk.js';
import type { KeySchedule } from '../crypto/keyschedule.js';
import { JobError, orderedPipeline, type CryptoPool } from '../crypto/pool.js';
import type { Header } from '../format/header.js';
import {
  chunkOffset,
  chunkPlainLength,
  segmentsOf,
  streamOf,
  type PackageLayout,
  type SegmentLayout,
} from '../format/layout.js';
import { TAG_BYTES } from '../format/limits.js';
import { ioError } from '../io/atomic.js';
import { interrupted, pieceChunks, pipelineDepth } from './common.js';
import { readHead } from './head.js';
import { checkOutputFits, type OutputTree } from './open-output.js';
import { checkProvenance, PayloadSink, type Opened, type OpenOptions, type Piece } from './open-payload.js';
import { authFailed, unlockPackage } from './unlock.js';
import { truncated } from './walk.js';

/** Opens the package at `path` into `out`: structure, key, provenance, payload, in that order. */
export async function openFile(opts: OpenOptions, path: string, out: OutputTree, pool: CryptoPool): Promise<Opened> {
  const head = await readHead(path, {
    trusted: opts.trustedPublishers,
    signal: opts.signal,
    onHeader: (parsed, _bytes, layout) => {
      checkOutputFits(out.tmp, parsed.header);
      pool.sized(layout.signatureOffset).start(); // the workers boot while the rest of the structure is read
    },
  });
  const { parsed, layout } = head;
  const { keys, stanza, identity } = await unlockPackage(parsed, opts.identities, opts.debug);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (cause) {
    throw ioError(`cannot read ${path}`, cause);
  }
  try {
    // The provenance first (it is small): a package whose manifest is not trusted fails before any output exists.
    const bundle = readProvenance(fd, layout, keys, opts.debug);
    const provenance = checkProvenance(bundle, parsed, opts.trustedPublishers, opts.debug);
    await out.start(parsed.header.model.kind);
    const sink = new PayloadSink(parsed.header, out, opts, false);
    const reader: PieceReader = { opts, path, fd, layout, keys, pool, out, free: [] };
    await orderedPipeline(
      pipelineDepth(pool.threads, layout.chunkSize),
      pieceJobs(reader, parsed.header),
      async (p) => {
        await sink.take(p);
        reader.free.push(p.plain.buffer as ArrayBuffer);
      },
    );
    return { parsed, trailer: head.trailer, stanza, identity, provenance, files: sink.files };
  } finally {
    await pool.drain().catch(() => {});
    closeSync(fd);
  }
}

/** Decrypts the provenance (stream 0) on this thread, reading its chunks by position. */
function readProvenance(fd: number, layout: PackageLayout, keys: KeySchedule, debug?: (m: string) => void): Uint8Array {
  const prov = streamOf(layout, 0);
  const bundle = Buffer.allocUnsafe(prov.plaintextSize);
  for (const seg of segmentsOf(prov)) {
    const key = keys.payloadKey(0, seg.segment);
    for (let c = seg.firstChunk; c < seg.firstChunk + seg.chunkCount; c++) {
      const len = chunkPlainLength(prov.plaintextSize, layout.chunkSize, c);
      const sealed = Buffer.allocUnsafe(len + TAG_BYTES);
      if (readSync(fd, sealed, 0, sealed.length, chunkOffset(seg, layout.chunkSize, c)) !== sealed.length)
        throw truncated();
      const plain = decryptChunk(key, c, c === prov.chunkCount - 1, sealed);
      if (!plain) {
        debug?.(`provenance chunk ${c} failed authentication`);
        throw authFailed();
      }
      plain.copy(bundle, c * layout.chunkSize);
    }
  }
  return bundle;
}

/** The package read by position: what a worker needs to decrypt a piece of it into the output. */
interface PieceReader {
  opts: OpenOptions;
  path: string;
  fd: number;
  layout: PackageLayout;
  keys: KeySchedule;
  pool: CryptoPool;
  out: OutputTree;
  /** Piece buffers the sink is done with, reused. */
  free: ArrayBuffer[];
}

/** One job per piece of every file, in package order; each file is created at its first piece. */
function* pieceJobs(r: PieceReader, header: Header): Generator<() => Promise<Piece>> {
  const per = pieceChunks(r.layout.chunkSize);
  for (const [file, f] of header.files.entries()) {
    const stream = streamOf(r.layout, file + 1);
    let outFd = -1;
    for (const seg of segmentsOf(stream)) {
      const key = r.keys.payloadKey(stream.index, seg.segment);
      for (let first = seg.firstChunk; first < seg.firstChunk + seg.chunkCount; first += per) {
        if (r.opts.signal?.aborted) throw interrupted();
        if (outFd < 0) outFd = r.out.create(f);
        const chunks = Math.min(per, seg.firstChunk + seg.chunkCount - first);
        const at = { file, outFd, key, seg, first, chunks, size: f.size, last: first + chunks === stream.chunkCount };
        yield () => decryptPiece(r, at);
      }
    }
  }
}

/** A worker reads the piece's chunks from the package, decrypts them and writes the plaintext to the output. */
async function decryptPiece(
  r: PieceReader,
  at: {
    file: number;
    outFd: number;
    key: Uint8Array;
    seg: SegmentLayout;
    first: number;
    chunks: number;
    size: number;
    last: boolean;
  },
): Promise<Piece> {
  const C = r.layout.chunkSize;
  const buf = r.free.pop() ?? new ArrayBuffer(pieceChunks(C) * C);
  try {
    const done = await r.pool.run({
      op: 'open',
      key: at.key,
      inFd: r.fd,
      outFd: at.outFd,
      outPos: at.first * C,
      packagePos: chunkOffset(at.seg, C, at.first),
      firstCounter: at.first,
      chunks: at.chunks,
      chunkSize: C,
      lastLength: chunkPlainLength(at.size, C, at.first + at.chunks - 1),
      finalLast: at.last,
      buf,
    });
    const plain = new Uint8Array(done.buf!, 0, done.length!);
    return { file: at.file, chunk: at.first, plain, fd: at.outFd, bad: done.bad!, last: at.last };
  } catch (e) {
    if (!(e instanceof JobError)) throw e;
    throw e.code === 'SHORT_READ' ? truncated() : ioError(`cannot open ${r.path} into ${r.opts.output}`, e);
  }
}
