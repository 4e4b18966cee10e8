/**
 * The one parser of modelseal/v1 (docs/FORMAT.md §9). A package is read in order, entry by entry,
 * from a PackageSource: a file read by position, or a stream (stdin) read once. Both run the same
 * checks in the same order, so a file and a stream of the same bytes get the same verdict and the
 * same error code. Every tar block is compared with its canonical encoding, every padding byte
 * with zero; the header signature is verified, and its key checked against the trusted ones,
 * before the caller's `header` hook (where open asks for the data key). Nothing is allocated in
 * proportion to a size the header claims: only to bytes actually present. Nothing here needs a
 * data key.
 */
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { ModelsealError } from '../errors.js';
import { verifyMessage } from '../crypto/signer.js';
import { parseHeader, type ParsedHeader } from '../format/header.js';
import { checkClassificationBinding } from './classification.js';
import {
  chunkPlainLength,
  computeLayout,
  ENTRY,
  padded,
  segmentsOf,
  TAR_BLOCK,
  type PackageLayout,
  type StreamLayout,
} from '../format/layout.js';
import { LIMITS, TAG_BYTES } from '../format/limits.js';
import {
  headerSignedMessage,
  parseHeaderSignature,
  parseSignature,
  signedMessage,
  type HeaderSignature,
  type SignatureTrailer,
} from '../format/signature.js';
import { readUstarHeader } from '../format/tar.js';
import { toHex } from '../format/encoding.js';
import { orderedPipeline } from '../crypto/pool.js';
import { ioError } from '../io/atomic.js';
import { streamDepth } from './common.js';

/** The package ended before its structure did. */
export const truncated = (): ModelsealError =>
  new ModelsealError('TRUNCATED', 'the package ends early: it was cut off in transfer or on disk; fetch it again');
const trailing = () => new ModelsealError('MALFORMED_PACKAGE', 'the package has unexpected bytes after its end');

/** Where a package's bytes come from, in order. */
export interface PackageSource {
  /** Exactly `n` bytes at the current position; TRUNCATED if the package ends first. */
  read(n: number): Promise<Uint8Array>;
  /** Moves past `n` bytes without returning them (a file seeks; a stream reads and drops them). */
  skip(n: number): Promise<void>;
  /** Throws unless the package ends exactly at the current position. */
  end(): Promise<void>;
  readonly position: number;
}

/** A package file, read by position. Reads never allocate beyond the file's real size. */
export class FileSource implements PackageSource {
  position = 0;
  constructor(
    readonly fh: FileHandle,
    readonly size: number,
    readonly path: string,
  ) {}

  async read(n: number): Promise<Uint8Array> {
    if (this.position + n > this.size) throw truncated();
    const buf = Buffer.allocUnsafe(n);
    let got = 0;
    try {
      while (got < n) {
        const { bytesRead } = await this.fh.read(buf, got, n - got, this.position + got);
        if (bytesRead === 0) throw truncated();
        got += bytesRead;
      }
    } catch (cause) {
      throw cause instanceof ModelsealError ? cause : ioError(`cannot read ${this.path}`, cause);
    }
    this.position += n;
    return buf;
  }

  async skip(n: number): Promise<void> {
    this.position += n;
  }

  async end(): Promise<void> {
    if (this.position > this.size) throw truncated();
    if (this.position < this.size) throw trailing();
  }
}

/** A package on a stream (stdin), read once. Memory: what was read and not yet handed out. */
export class StreamSource implements PackageSource {
  position = 0;
  #it: AsyncIterator<Buffer | string>;
  #pending: Buffer = Buffer.alloc(0);
  #done = false;

  constructor(readonly input: Readable) {
    // Not destroyed when we stop early: stdin belongs to the process, and close() decides.
    this.#it = input.iterator({ destroyOnReturn: false });
  }

  async #more(): Promise<boolean> {
    if (this.#done) return false;
    let r: IteratorResult<Buffer | string>;
    try {
      r = await this.#it.next();
    } catch (cause) {
      throw ioError('cannot read the package stream', cause);
    }
    if (r.done) {
      this.#done = true;
      return false;
    }
    const got = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
    this.#pending = this.#pending.length ? Buffer.concat([this.#pending, got]) : got;
    return true;
  }

  /** Hands `n` bytes to `take` in the pieces they arrived in. */
  async #consume(n: number, take?: (piece: Buffer) => void): Promise<void> {
    let left = n;
    while (left > 0) {
      if (this.#pending.length === 0 && !(await this.#more())) throw truncated();
      const piece = this.#pending.subarray(0, Math.min(left, this.#pending.length));
      this.#pending = this.#pending.subarray(piece.length);
      take?.(piece);
      left -= piece.length;
      this.position += piece.length;
    }
  }

  async read(n: number): Promise<Uint8Array> {
    const parts: Buffer[] = [];
    await this.#consume(n, (p) => parts.push(p));
    return parts.length === 1 ? new Uint8Array(Buffer.from(parts[0]!)) : new Uint8Array(Buffer.concat(parts));
  }

  async skip(n: number): Promise<void> {
    await this.#consume(n);
  }

  async end(): Promise<void> {
    while (this.#pending.length === 0) if (!(await this.#more())) return;
    throw trailing();
  }

  close(): void {
    void this.#it.return?.();
    if (this.input !== process.stdin) this.input.destroy();
  }
}

export interface ChunkRef {
  stream: StreamLayout;
  segment: number;
  counter: number;
  final: boolean;
}

export interface WalkVisitor<T> {
  /**
   * Called once the header region is read and the header signature verified (and its signer trusted, with `trusted`);
   * open from a stream unlocks the data key here.
   */
  header?(parsed: ParsedHeader, headerBytes: Uint8Array, layout: PackageLayout): Promise<void> | void;
  /**
   * Starts work on one chunk; `sealed` is the chunk's ciphertext ‖ tag. Without it the payload is skipped (read later
   * by position).
   */
  chunk?(ref: ChunkRef, sealed: Uint8Array): Promise<T>;
  /** Receives each chunk's result strictly in package order. */
  consume?(ref: ChunkRef, result: T): Promise<void> | void;
  streamEnd?(stream: StreamLayout): Promise<void> | void;
}

export interface WalkOptions {
  /**
   * Publisher keys (SPKI DER) accepted; checked against the header signature before the `header` hook. Omit to check
   * signatures only (inspect).
   */
  trusted?: readonly Uint8Array[];
  threads?: number;
  signal?: AbortSignal;
}

export interface WalkResult {
  parsed: ParsedHeader;
  headerBytes: Uint8Array;
  headerSignature: HeaderSignature;
  layout: PackageLayout;
  trailer: SignatureTrailer;
  /** The stored chunk-digest list (32 bytes per chunk, package order) and its SHA-256. */
  chunkList: Uint8Array;
  chunksDigest: Uint8Array;
  /** Total size of the package. */
  packageBytes: number;
}

/**
 * Reads a whole package from `src`, checking its structure and both signatures; hands the
 * payload chunks to `visitor` (or skips them). A failure of the visitor's content checks is the
 * visitor's to defer: this function throws only structure and signature errors.
 */
export async function walkPackage<T>(
  src: PackageSource,
  visitor: WalkVisitor<T>,
  opts: WalkOptions = {},
): Promise<WalkResult> {
  const entry = async (name: string, maxSize: number, exactSize?: number) =>
    readUstarHeader(await src.read(TAR_BLOCK), name, maxSize, exactSize);
  const padding = async (name: string, size: number) => {
    const pad = padded(size) - size;
    if (pad > 0 && (await src.read(pad)).some((b) => b !== 0))
      throw new ModelsealError('MALFORMED_PACKAGE', `the tar padding after ${name} holds non-zero bytes`);
  };
  const data = async (name: string, size: number) => {
    const bytes = await src.read(size);
    await padding(name, size);
    return bytes;
  };

  const headerBytes = await data(ENTRY.header, await entry(ENTRY.header, LIMITS.maxHeaderBytes));
  const parsed = parseHeader(headerBytes);
  checkClassificationBinding(parsed.header);
  const headerSignature = parseHeaderSignature(
    await data(ENTRY.headerSignature, await entry(ENTRY.headerSignature, LIMITS.maxHeaderSignatureBytes)),
  );
  const reserveSize = await entry(ENTRY.reserve, LIMITS.maxReserveBytes);
  // Whole blocks only: a shorter size field over the same zero bytes would be a second encoding.
  if (reserveSize % TAR_BLOCK !== 0)
    throw new ModelsealError(
      'MALFORMED_PACKAGE',
      `the header reserve is ${reserveSize} bytes; it must be a whole number of ${TAR_BLOCK}-byte blocks`,
    );
  for (let left = reserveSize; left > 0; left -= 1 << 20) {
    if ((await src.read(Math.min(left, 1 << 20))).some((b) => b !== 0))
      throw new ModelsealError('MALFORMED_PACKAGE', 'the header reserve holds non-zero bytes');
  }
  await padding(ENTRY.reserve, reserveSize);
  checkHeaderSignature(headerSignature, headerBytes);
  if (opts.trusted) checkTrusted(headerSignature, opts.trusted);
  const layout = computeLayout(parsed.header, src.position);
  await visitor.header?.(parsed, headerBytes, layout);

  const C = layout.chunkSize;
  const depth = streamDepth(C, opts.threads ?? 1);
  for (const stream of layout.streams) {
    for (const seg of segmentsOf(stream)) {
      await entry(seg.entryName, seg.size, seg.size);
      if (!visitor.chunk) {
        if (opts.signal?.aborted)
          throw new ModelsealError('INTERRUPTED', 'interrupted; nothing was written at the output path');
        await src.skip(seg.size);
      } else {
        const chunk = visitor.chunk.bind(visitor);
        const tasks = async function* (): AsyncGenerator<() => Promise<{ ref: ChunkRef; result: T }>> {
          for (let c = seg.firstChunk; c < seg.firstChunk + seg.chunkCount; c++) {
            if (opts.signal?.aborted)
              throw new ModelsealError('INTERRUPTED', 'interrupted; nothing was written at the output path');
            const sealed = await src.read(chunkPlainLength(stream.plaintextSize, C, c) + TAG_BYTES);
            const ref: ChunkRef = { stream, segment: seg.segment, counter: c, final: c === stream.chunkCount - 1 };
            yield () => chunk(ref, sealed).then((result) => ({ ref, result }));
          }
        };
        await orderedPipeline(depth, tasks(), ({ ref, result }) => visitor.consume?.(ref, result));
      }
      await padding(seg.entryName, seg.size);
    }
    await visitor.streamEnd?.(stream);
  }

  const chunkList = await data(
    ENTRY.chunks,
    await entry(ENTRY.chunks, layout.chunksEntry.size, layout.chunksEntry.size),
  );
  const chunksDigest = new Uint8Array(createHash('sha256').update(chunkList).digest());
  const trailer = parseSignature(await data(ENTRY.signature, await entry(ENTRY.signature, LIMITS.maxSignatureBytes)));
  if ((await src.read(2 * TAR_BLOCK)).some((b) => b !== 0))
    throw new ModelsealError('MALFORMED_PACKAGE', 'the tar end-of-archive blocks are not zero');
  await src.end();
  checkSignature(trailer, headerSignature, headerBytes, chunksDigest);
  return { parsed, headerBytes, headerSignature, layout, trailer, chunkList, chunksDigest, packageBytes: src.position };
}

/** The error for ciphertext chunk `i` (package order) that differs from the signed chunk list. */
export function modifiedChunk(i: number): ModelsealError {
  return new ModelsealError(
    'SIGNATURE_INVALID',
    `ciphertext chunk ${i} does not match the signed chunk list: the package was modified after signing`,
    { details: { chunk: i } },
  );
}

/** Throws modifiedChunk for the first chunk whose digest in `computed` differs from `stored` (same positions). */
export function compareChunkDigests(computed: Uint8Array, stored: Uint8Array, firstListed = 0): void {
  const a = Buffer.from(computed.buffer, computed.byteOffset, computed.byteLength);
  const b = Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength);
  if (a.equals(b)) return;
  let i = 0;
  while (a.subarray(32 * i, 32 * i + 32).equals(b.subarray(32 * i, 32 * i + 32))) i++;
  throw modifiedChunk(firstListed + i);
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest();

/** Checks that the header signature signs exactly this header. Says nothing about whether the signer is trusted. */
export function checkHeaderSignature(s: HeaderSignature, headerBytes: Uint8Array): void {
  if (!sha256(headerBytes).equals(s.headerDigest)) {
    throw new ModelsealError(
      'SIGNATURE_INVALID',
      'the header signature does not match this header (the header changed after signing)',
    );
  }
  if (!verifyMessage(s.publicKey, headerSignedMessage(s.headerDigest), s.signature)) {
    throw new ModelsealError(
      'SIGNATURE_INVALID',
      'the publisher signature over the header does not verify: the header was modified after signing or is not from ' +
        'this publisher',
    );
  }
}

/** Checks that the trailer is by the header signature's key and signs exactly this header and chunk list. */
export function checkSignature(
  t: SignatureTrailer,
  headerSignature: HeaderSignature,
  headerBytes: Uint8Array,
  chunksDigest: Uint8Array,
): void {
  if (!Buffer.from(t.publicKey).equals(headerSignature.publicKey)) {
    throw new ModelsealError(
      'SIGNATURE_INVALID',
      'the header and the package are signed by different keys: the package was assembled from parts of others',
    );
  }
  if (!sha256(headerBytes).equals(t.headerDigest) || !Buffer.from(chunksDigest).equals(t.chunksDigest)) {
    throw new ModelsealError(
      'SIGNATURE_INVALID',
      'the signature entry does not match this package (header or chunk list changed after signing)',
    );
  }
  if (!verifyMessage(t.publicKey, signedMessage(t.headerDigest, t.chunksDigest), t.signature)) {
    throw new ModelsealError(
      'SIGNATURE_INVALID',
      'the publisher signature does not verify: the package was modified after signing or is not from this publisher',
    );
  }
}

/** Throws UNTRUSTED_SIGNER unless the signature's key is one of `trusted` (SPKI DER). */
export function checkTrusted(t: { publicKey: Uint8Array }, trusted: readonly Uint8Array[]): void {
  if (!trusted.some((k) => Buffer.from(k).equals(t.publicKey))) {
    const id = signerId(t.publicKey);
    throw new ModelsealError(
      'UNTRUSTED_SIGNER',
      trusted.length === 0
        ? `no trusted publisher key: pass --publisher <publisher.pub> (the package is signed by ${id})`
        : `the package is signed by ${id}, which is not a trusted publisher; pass --publisher with that key if you ` +
            `trust it`,
      { details: { signer: id } },
    );
  }
}

/** A publisher key's id as shown to users: `sha256:` and the hex SHA-256 of its SPKI DER. */
export function signerId(spki: Uint8Array): string {
  return `sha256:${toHex(createHash('sha256').update(spki).digest())}`;
}
