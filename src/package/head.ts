/**
 * A package file read by position: the whole structure and both signatures checked without
 * reading the payload (inspect, verify, open, rewrap), and random access to a byte range of one
 * file that decrypts only the chunks covering it, still fully authenticated.
 */
import { createHash } from 'node:crypto';
import { open as openFile, type FileHandle } from 'node:fs/promises';
import { ModelsealError } from '../errors.js';
import { decryptChunk } from '../crypto/chunk.js';
import type { ParsedHeader } from '../format/header.js';
import { chunkOffset, chunkPlainLength, segmentOfChunk, streamOf, type PackageLayout } from '../format/layout.js';
import { TAG_BYTES } from '../format/limits.js';
import type { HeaderSignature, SignatureTrailer } from '../format/signature.js';
import { ioError, pathExists } from '../io/atomic.js';
import { basename, dirname, join } from 'node:path';
import type { Identity } from '../providers/types.js';
import { FileSource, walkPackage, type WalkVisitor } from './walk.js';
import { unlockPackage } from './unlock.js';

export interface PackageHead {
  parsed: ParsedHeader;
  headerBytes: Uint8Array;
  headerSignature: HeaderSignature;
  layout: PackageLayout;
  trailer: SignatureTrailer;
  chunkList: Uint8Array;
  fileSize: number;
}

export interface HeadOptions {
  /** Publisher keys accepted: checked against the header signature before `onHeader` runs. */
  trusted?: readonly Uint8Array[];
  /**
   * Runs once the header is authenticated (and trusted), before the rest of the package is checked (open checks its
   * output fits and starts its workers; it asks for the data key only once readHead returns).
   */
  onHeader?: WalkVisitor<never>['header'];
  signal?: AbortSignal;
}

/** Where the journal of an in-place rewrap lives (src/package/rewrap.ts). */
export function journalPath(pkg: string): string {
  return join(dirname(pkg), `.${basename(pkg)}.mseal-rewrap`);
}

async function withFile<T>(path: string, f: (fh: FileHandle, size: number) => Promise<T>): Promise<T> {
  if (await pathExists(journalPath(path))) {
    throw new ModelsealError(
      'MALFORMED_PACKAGE',
      `${path} is being rewrapped, or a rewrap of it was interrupted (${journalPath(path)} exists): run \`modelseal ` +
        `rewrap --recover ${path}\` to restore it`,
    );
  }
  let fh: FileHandle;
  try {
    fh = await openFile(path, 'r');
  } catch (cause) {
    throw ioError(`cannot read ${path}`, cause);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new ModelsealError('INVALID_ARGUMENT', `${path} is not a file`);
    return await f(fh, st.size);
  } finally {
    await fh.close();
  }
}

async function headOf(fh: FileHandle, size: number, path: string, opts: HeadOptions): Promise<PackageHead> {
  const w = await walkPackage<never>(
    new FileSource(fh, size, path),
    { header: opts.onHeader },
    { trusted: opts.trusted, signal: opts.signal },
  );
  return {
    parsed: w.parsed,
    headerBytes: w.headerBytes,
    headerSignature: w.headerSignature,
    layout: w.layout,
    trailer: w.trailer,
    chunkList: w.chunkList,
    fileSize: size,
  };
}

/**
 * Reads a package file in package order without its payload: every entry's tar header and
 * padding, the header signature, the chunk list and the trailer signature (docs/FORMAT.md §9).
 * With `trusted`, the signer is checked too, before `onHeader`.
 */
export async function readHead(path: string, opts: HeadOptions = {}): Promise<PackageHead> {
  return withFile(path, (fh, size) => headOf(fh, size, path, opts));
}

export interface RangeOptions {
  identities: readonly Identity[];
  trustedPublishers: readonly Uint8Array[];
}

const failed = () =>
  new ModelsealError('DECRYPTION_FAILED', 'the package failed authentication: it is damaged or was tampered with');

/**
 * Returns bytes [offset, offset+length) of file `filePath` inside the package, decrypting only the
 * chunks that cover them. Each chunk read is checked against the signed chunk list and decrypted
 * with its position and final flag in the nonce, so a moved, truncated or foreign chunk fails.
 */
export async function readRange(
  pkg: string,
  filePath: string,
  offset: number,
  length: number,
  opts: RangeOptions,
): Promise<Uint8Array> {
  if (!Number.isSafeInteger(offset) || offset < 0)
    throw new ModelsealError('INVALID_ARGUMENT', 'offset: expected a non-negative integer');
  if (!Number.isSafeInteger(length) || length < 0)
    throw new ModelsealError('INVALID_ARGUMENT', 'length: expected a non-negative integer');
  return withFile(pkg, async (fh, size) => {
    const head = await headOf(fh, size, pkg, { trusted: opts.trustedPublishers });
    const { header } = head.parsed;
    const index = header.files.findIndex((f) => f.path === filePath);
    if (index < 0)
      throw new ModelsealError(
        'INVALID_ARGUMENT',
        `${JSON.stringify(filePath)} is not in this package (it holds ${header.files.map((f) => f.path).join(', ')})`,
      );
    const file = header.files[index]!;
    if (offset + length > file.size)
      throw new ModelsealError(
        'INVALID_ARGUMENT',
        `range ${offset}+${length} is beyond the end of ${filePath} (${file.size} bytes)`,
      );
    const { keys } = await unlockPackage(head.parsed, opts.identities);
    const stream = streamOf(head.layout, index + 1);
    const C = head.layout.chunkSize;
    const chunkBase = stream.firstListedChunk;
    const out = new Uint8Array(length);
    if (length === 0) return out;
    const src = new FileSource(fh, size, pkg);
    const first = Math.floor(offset / C);
    const last = Math.floor((offset + length - 1) / C);
    for (let c = first; c <= last; c++) {
      const seg = segmentOfChunk(stream, c);
      src.position = chunkOffset(seg, C, c);
      const sealed = await src.read(chunkPlainLength(stream.plaintextSize, C, c) + TAG_BYTES);
      const want = head.chunkList.subarray(32 * (chunkBase + c), 32 * (chunkBase + c + 1));
      if (!createHash('sha256').update(sealed).digest().equals(want)) throw failed();
      const plain = decryptChunk(keys.payloadKey(stream.index, seg.segment), c, c === stream.chunkCount - 1, sealed);
      if (!plain) throw failed();
      const from = Math.max(offset, c * C);
      const to = Math.min(offset + length, c * C + plain.length);
      out.set(plain.subarray(from - c * C, to - c * C), from - offset);
    }
    return out;
  });
}
