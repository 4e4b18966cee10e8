/**
 * Opening a package file: read in package order as a stream is, its structure and both signatures
 * checked whole before the data key is unwrapped, so a damaged or truncated copy never reaches the
 * release service or KMS; then the provenance, then the payload through decryptPayload, whose
 * reader here has the workers read each piece by position and write it to the output.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { decryptChunk } from '../crypto/chunk.js';
import type { KeySchedule } from '../crypto/keyschedule.js';
import { JobError, type CryptoPool } from '../crypto/pool.js';
import type { Header } from '../format/header.js';
import { chunkOffset, chunkPlainLength, segmentsOf, streamOf, type PackageLayout } from '../format/layout.js';
import { TAG_BYTES } from '../format/limits.js';
import { ioError } from '../io/atomic.js';
import { pieceChunks, pipelineDepth } from './common.js';
import { readHead } from './head.js';
import { checkOutputFits, type OutputTree } from './open-output.js';
import { checkProvenance, decryptPayload, PayloadSink } from './open-payload.js';
import type { Opened, OpenOptions, PayloadReader, Piece, PieceAt } from './open-payload.js';
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
    const reader = new FileReader(opts, path, fd, parsed.header, layout.chunkSize, pool, out);
    await decryptPayload(layout, keys, reader, sink, opts.signal);
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

/** The package file read by position on the workers, each of which also writes its piece to the output. */
class FileReader implements PayloadReader {
  readonly per: number;
  readonly depth: number;
  /** Piece buffers the sink is done with, reused. */
  readonly free: ArrayBuffer[] = [];
  #outFd = -1;

  constructor(
    readonly opts: OpenOptions,
    readonly path: string,
    readonly fd: number,
    readonly header: Header,
    readonly chunkSize: number,
    readonly pool: CryptoPool,
    readonly out: OutputTree,
  ) {
    this.per = pieceChunks(chunkSize);
    this.depth = pipelineDepth(pool.threads, chunkSize);
  }

  /** The sink took `p`: its buffer can take another piece. */
  taken(p: Piece): void {
    this.free.push(p.plain.buffer as ArrayBuffer);
  }

  async decrypt(at: PieceAt): Promise<Piece> {
    const C = this.chunkSize;
    const f = this.header.files[at.file]!;
    if (at.first === 0) this.#outFd = this.out.create(f); // its first piece: the worker needs the file
    const outFd = this.#outFd;
    try {
      const done = await this.pool.run({
        op: 'open',
        key: at.key,
        inFd: this.fd,
        outFd,
        outPos: at.first * C,
        packagePos: chunkOffset(at.seg, C, at.first),
        firstCounter: at.first,
        chunks: at.chunks,
        chunkSize: C,
        lastLength: chunkPlainLength(f.size, C, at.first + at.chunks - 1),
        finalLast: at.last,
        buf: this.free.pop() ?? new ArrayBuffer(this.per * C),
      });
      const plain = new Uint8Array(done.buf!, 0, done.length);
      return { file: at.file, chunk: at.first, plain, fd: outFd, bad: done.bad!, last: at.last };
    } catch (e) {
      if (!(e instanceof JobError)) throw e;
      throw e.code === 'SHORT_READ' ? truncated() : ioError(`cannot open ${this.path} into ${this.opts.output}`, e);
    }
  }
}
