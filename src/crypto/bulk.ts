/**
 * Bulk payload work on a *piece*: a run of consecutive chunks of one segment, read and written
 * with positioned I/O on file descriptors the main thread opened. Worker threads run these (both
 * cores), or the main thread itself when there are no workers. Each job reads its own input, so
 * the main thread only orchestrates and hashes plaintext in order. Imports only node built-ins and
 * sibling modules: a seal job's transform (a fingerprint, say) is named by data (./transform.ts).
 */
import { createCipheriv, createDecipheriv, createHash, createPublicKey, verify } from 'node:crypto';
import { readSync, writeSync, writevSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { chunkNonce, decryptChunk } from './chunk.js';
import { applyPieceTransform, type PieceTransformJob } from './transform.js';

const TAG = 16;
const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex');

// Node's cipher.update returns a fresh buffer per chunk; V8 frees such garbage only when its
// young generation fills or external memory passes ~64 MiB per thread, which held peak RSS at
// 150 MiB. So each thread runs a minor GC itself once it has dropped GC_EVERY bytes of buffers.
// Each GC costs a few hundred microseconds of fixed work (V8 walks its roots) and some page
// faults: after every 1 MiB piece that was 0.3–0.4 s of CPU per GiB sealed. Measured on the
// 2-core machine, 1 GiB, medians of 4 interleaved runs (user s / peak RSS MiB):
//   every 1 MiB: seal 2.90 / 87, open 2.09 / 86;  4 MiB: 2.66 / 95, 1.99 / 94;  8 MiB: 2.50 / 102, 1.92 / 102.
// 4 MiB, because `seal --fingerprint` drops more than it counts here: 512 MiB of BF16 peaked at
// 97–99 MiB with a GC every 1 MiB, 104 MiB every 4 MiB and 113–122 MiB every 8 MiB (the limit is 128).
const GC_EVERY = 4 << 20;
let dropped = 0;
let gc: ((o: { type: 'minor' }) => void) | undefined;

/**
 * Takes V8's gc() for this thread, once. V8 has no other way to ask for a minor GC than a flag, and
 * changing flags once V8 runs is undefined behaviour, so only a process that opted in
 * ({@link tuneMemoryForBulkCrypto}: the CLI does) does it, and only on the threads that run bulk jobs,
 * before their first job: the crypto pool as it starts ({@link keepFreedMemory}) and its workers
 * with their first job. Nothing else calls it: a process running the release service never changes V8's
 * flags here (its Cedar guard, src/policy/engine.ts, is the one flag it sets). Threads that never
 * took gc() run bulk jobs without the extra GCs.
 */
export function takeGc(): void {
  if (gc) return;
  setFlagsFromString('--expose-gc');
  gc = runInNewContext('gc') as typeof gc;
  // Put back at once: with V8's flags changed, every isolate made afterwards rejects Node's built-in
  // code cache (the flags' hash no longer matches), and a worker thread took 90–140 ms to boot
  // instead of 40–65. The function already taken stays usable.
  setFlagsFromString('--no-expose-gc');
}

let tuningWanted = false;
/**
 * Opts this process in to the memory tuning of bulk crypto: the first crypto pool to start then
 * keeps freed buffers in the process ({@link keepFreedMemory}) and every bulk thread runs a minor
 * GC per 4 MiB of dropped buffers ({@link takeGc}), which holds peak RSS near 90 MiB instead of
 * 150 and saves 0.4–0.8 s of system time per GiB. It sets V8 flags and glibc's malloc thresholds
 * for the whole process, so a library never does it by itself; the CLI opts in as it starts.
 */
export function tuneMemoryForBulkCrypto(): void {
  tuningWanted = true;
}

/** Whether the process opted in ({@link tuneMemoryForBulkCrypto}); the pool tells its workers. */
export function memoryTuningWanted(): boolean {
  return tuningWanted;
}

function collect(bytes: number): void {
  dropped += bytes;
  if (dropped < GC_EVERY) return;
  dropped = 0;
  gc?.({ type: 'minor' });
}

/**
 * Counts `bytes` of buffers the caller dropped (the copies a registry transfer makes of each piece it
 * sends or receives) toward the same minor GC the bulk threads take; only in a process that opted in.
 */
export function droppedBuffers(bytes: number): void {
  if (!tuningWanted) return;
  takeGc();
  collect(bytes);
}

let mallocTuned = false;
/**
 * Keeps freed payload buffers in the process instead of handing them back to the kernel. Node's
 * crypto returns a fresh buffer from every update, freed a piece later. With glibc's defaults each
 * such buffer was a fresh mmap (above M_MMAP_THRESHOLD, 128 KiB) or freed heap the allocator gave
 * back (above M_TRIM_THRESHOLD), so every payload byte was faulted in anew: 0.4–0.8 s of system
 * time per GiB decrypted. glibc raises both thresholds for the whole process when a mmapped block
 * up to 32 MiB is freed (its dynamic mmap threshold, mallopt(3)): freeing one block of just under
 * 32 MiB sets them to 32 and 64 MiB. The block is never touched, so it costs no memory. Other C
 * libraries just allocate and free it. Once per process, before the workers start, and only in a
 * process that opted in ({@link tuneMemoryForBulkCrypto}).
 */
export function keepFreedMemory(): void {
  if (mallocTuned || !tuningWanted) return;
  mallocTuned = true;
  takeGc();
  Buffer.allocUnsafeSlow(32 * 2 ** 20 - 64 * 2 ** 10); // garbage at once
  gc?.({ type: 'minor' });
}

/** A run of `chunks` chunks: all `chunkSize` bytes of plaintext but the last, which has `lastLength`. */
interface Piece {
  firstCounter: number;
  chunks: number;
  chunkSize: number;
  lastLength: number;
  /** Whether the piece's last chunk is its stream's final chunk. */
  finalLast: boolean;
  /** Position of the piece's first sealed chunk in the package. */
  packagePos: number;
}

export type BulkJob =
  /**
   * Reads plaintext at `inPos` into `buf`, encrypts, hashes and writes the sealed chunks at `packagePos` of `outFd`.
   * With `transform`, the plaintext is changed before it is encrypted (./transform.ts: a fingerprint, say).
   * The buffers are shared, not transferred: the caller leaves them alone until the job is done.
   * (A transfer detaches a buffer, and once any buffer has been detached V8 checks every typed-array
   * access for it: the fingerprint's marking loop ran ~20% slower.)
   */
  | (Piece & {
      op: 'seal';
      key: Uint8Array;
      inFd: number;
      inPos: number;
      outFd: number;
      buf: SharedArrayBuffer;
      transform?: PieceTransformJob;
    })
  /**
   * Reads sealed chunks at `packagePos` of `inFd`, decrypts into `buf`, writes the plaintext at `outPos` of `outFd`.
   */
  | (Piece & { op: 'open'; key: Uint8Array; inFd: number; outFd: number; outPos: number; buf: ArrayBuffer })
  /** Reads sealed chunks at `packagePos` of `inFd` and hashes each. */
  | (Piece & { op: 'hash'; inFd: number })
  /** One chunk in memory (streaming readers): decrypt, or hash. */
  | { op: 'openChunk'; key: Uint8Array; counter: number; final: boolean; data: Uint8Array }
  | { op: 'hashChunk'; data: Uint8Array }
  /** Ed25519 signatures by one raw public key (log checkpoints in an audit): `bad` is the first that fails. */
  | { op: 'verifyEd25519'; publicKey: Uint8Array; messages: Uint8Array[]; signatures: Uint8Array[] };

export interface BulkResult {
  /** open: the plaintext buffer, handed back so the main thread can hash it and reuse it. */
  buf?: ArrayBuffer;
  /** Plaintext bytes in `buf` (seal: in the job's `buf`). */
  length?: number;
  /** SHA-256 of every sealed chunk (seal, hash, hashChunk). */
  digests?: Uint8Array;
  /**
   * open: index within the piece of the first chunk that did not authenticate, or -1 (verifyEd25519: first bad
   * signature).
   */
  bad?: number;
  /** openChunk: the plaintext, or null when it does not authenticate. */
  plain?: Uint8Array | null;
  /** seal with a transform: what the transform returned. */
  transformed?: unknown;
}

/** Raised when a file is shorter than expected (an input changed, or a package is cut short). */
export class ShortReadError extends Error {
  readonly code = 'SHORT_READ';
}

const plainBytes = (p: Piece) => (p.chunks - 1) * p.chunkSize + p.lastLength;
const sealedBytes = (p: Piece) => plainBytes(p) + p.chunks * TAG;

let scratch = Buffer.alloc(0);
/** A per-thread read buffer for sealed chunks; grows to the largest piece and is reused. */
function scratchOf(n: number): Buffer {
  if (scratch.length < n) scratch = Buffer.allocUnsafeSlow(n);
  return scratch.subarray(0, n);
}

/** Fills `into` from `fd` at `pos`; a file that ends first is a {@link ShortReadError}. */
export function readFully(fd: number, into: Uint8Array, pos: number): void {
  for (let at = 0; at < into.length;) {
    const n = readSync(fd, into, at, into.length - at, pos + at);
    if (n === 0) throw new ShortReadError(`short read at ${pos + at}`);
    at += n;
  }
}

function writeFully(fd: number, parts: Uint8Array[], pos: number): void {
  let total = 0;
  for (const p of parts) total += p.length;
  let n = writevSync(fd, parts, pos);
  if (n === total) return;
  // A short vectored write (rare on regular files): finish piece by piece.
  for (const p of parts) {
    if (n >= p.length) {
      n -= p.length;
      pos += p.length;
      continue;
    }
    for (let at = n; at < p.length;) at += writeSync(fd, p, at, p.length - at, pos + at);
    pos += p.length;
    n = 0;
  }
}

function chunkLength(p: Piece, i: number): number {
  return i === p.chunks - 1 ? p.lastLength : p.chunkSize;
}

export function runBulkJob(job: BulkJob): BulkResult {
  switch (job.op) {
    case 'seal': {
      const plain = new Uint8Array(job.buf, 0, plainBytes(job));
      readFully(job.inFd, plain, job.inPos);
      const transformed = job.transform
        ? applyPieceTransform(job.transform, job.inPos, plain, (pos, length) => {
            const b = new Uint8Array(length);
            readFully(job.inFd, b, pos);
            return b;
          })
        : undefined;
      const digests = new Uint8Array(32 * job.chunks);
      const out: Uint8Array[] = [];
      for (let i = 0, at = 0; i < job.chunks; i++) {
        const len = chunkLength(job, i);
        const c = createCipheriv(
          'aes-256-gcm',
          job.key,
          chunkNonce(job.firstCounter + i, job.finalLast && i === job.chunks - 1),
        );
        const ct = c.update(plain.subarray(at, at + len));
        const rest = c.final();
        const tag = c.getAuthTag();
        const h = createHash('sha256').update(ct);
        if (rest.length) h.update(rest);
        digests.set(h.update(tag).digest(), 32 * i);
        out.push(ct);
        if (rest.length) out.push(rest);
        out.push(tag);
        at += len;
      }
      writeFully(job.outFd, out, job.packagePos);
      out.length = 0;
      collect(plain.length);
      return { length: plain.length, digests, ...(job.transform ? { transformed } : {}) };
    }
    case 'open': {
      const sealed = scratchOf(sealedBytes(job));
      readFully(job.inFd, sealed, job.packagePos);
      // Copied into the caller's reusable buffer: handing over the buffers decryption returns
      // instead saved no time and left the main thread holding 1 MiB of garbage per piece.
      const plain = Buffer.from(job.buf, 0, plainBytes(job));
      for (let i = 0, at = 0, from = 0; i < job.chunks; i++) {
        const len = chunkLength(job, i);
        const d = createDecipheriv(
          'aes-256-gcm',
          job.key,
          chunkNonce(job.firstCounter + i, job.finalLast && i === job.chunks - 1),
        );
        d.setAuthTag(sealed.subarray(from + len, from + len + TAG));
        try {
          at += d.update(sealed.subarray(from, from + len)).copy(plain, at);
          at += d.final().copy(plain, at);
        } catch {
          return { buf: job.buf, length: 0, bad: i };
        }
        from += len + TAG;
      }
      writeFully(job.outFd, [plain], job.outPos);
      collect(plain.length);
      return { buf: job.buf, length: plain.length, bad: -1 };
    }
    case 'hash': {
      const sealed = scratchOf(sealedBytes(job));
      readFully(job.inFd, sealed, job.packagePos);
      const digests = new Uint8Array(32 * job.chunks);
      for (let i = 0, from = 0; i < job.chunks; i++) {
        const len = chunkLength(job, i) + TAG;
        digests.set(
          createHash('sha256')
            .update(sealed.subarray(from, from + len))
            .digest(),
          32 * i,
        );
        from += len;
      }
      return { digests };
    }
    case 'openChunk':
      return { plain: decryptChunk(job.key, job.counter, job.final, job.data) };
    case 'hashChunk':
      return { digests: new Uint8Array(createHash('sha256').update(job.data).digest()) };
    case 'verifyEd25519': {
      const key = createPublicKey({ key: Buffer.concat([SPKI_ED25519, job.publicKey]), format: 'der', type: 'spki' });
      return { bad: job.signatures.findIndex((sig, i) => !verify(null, job.messages[i]!, key, sig)) };
    }
  }
}

/** Buffers a job hands to a worker thread (transferred, not copied). */
export function transferList(x: BulkJob | BulkResult): ArrayBuffer[] {
  if ('op' in x) {
    if (x.op === 'open') return [x.buf];
    if (x.op === 'openChunk' || x.op === 'hashChunk') return ownsBuffer(x.data) ? [x.data.buffer as ArrayBuffer] : [];
    return []; // seal's buffers are shared
  }
  const list: ArrayBuffer[] = [];
  if (x.buf) list.push(x.buf);
  if (x.plain && ownsBuffer(x.plain)) list.push(x.plain.buffer as ArrayBuffer);
  return list;
}

function ownsBuffer(b: Uint8Array): boolean {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.buffer instanceof ArrayBuffer;
}
