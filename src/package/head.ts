/**
 * Positioned reads of a package file: the header, the signature and the chunk list without
 * reading the payload (inspect, fail-fast open), and random access to a byte range of one file
 * that decrypts only the chunks covering it, still fully authenticated.
 */
import { createHash } from 'node:crypto';
import { open as openFile, type FileHandle } from 'node:fs/promises';
import { ModelsealError } from '../errors.js';
import { decryptChunk } from '../crypto/chunk.js';
import { parseHeader, type ParsedHeader } from '../format/header.js';
import { chunkOffset, computeLayout, ENTRY, packageSize, padded, streamOf, TAR_BLOCK, chunkPlainLength, type PackageLayout } from '../format/layout.js';
import { readUstarHeader } from '../format/tar.js';
import { LIMITS, TAG_BYTES } from '../format/limits.js';
import { parseSignature, type SignatureTrailer } from '../format/signature.js';
import { ioError, pathExists } from '../io/atomic.js';
import { basename, dirname, join } from 'node:path';
import type { Identity } from '../providers/types.js';
import { checkSignature, checkTrusted } from './walk.js';
import { unlockPackage } from './open.js';

export interface PackageHead {
  parsed: ParsedHeader;
  headerBytes: Uint8Array;
  layout: PackageLayout;
  trailer: SignatureTrailer;
  chunkList: Uint8Array;
  fileSize: number;
}

async function readAt(fh: FileHandle, offset: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  const { bytesRead } = await fh.read(buf, 0, length, offset);
  if (bytesRead !== length) throw new ModelsealError('TRUNCATED', 'the package ends early: it was cut off in transfer or on disk; fetch it again');
  return buf;
}

/** Reads and checks the ustar header block at `offset`; returns the entry's data size. */
async function entryAt(fh: FileHandle, offset: number, name: string, maxSize: number, exactSize?: number): Promise<number> {
  return readUstarHeader(await readAt(fh, offset, TAR_BLOCK), name, maxSize, exactSize);
}

/** Checks the tar header and the zero padding of every payload and provenance segment. */
async function checkSegments(fh: FileHandle, layout: PackageLayout): Promise<void> {
  for (const stream of layout.streams) {
    for (const seg of stream.segments) {
      await entryAt(fh, seg.offset, seg.entryName, seg.size, seg.size);
      const pad = padded(seg.size) - seg.size;
      if (pad > 0 && (await readAt(fh, seg.offset + TAR_BLOCK + seg.size, pad)).some((b) => b !== 0)) {
        throw new ModelsealError('MALFORMED_PACKAGE', `the tar padding after ${seg.entryName} holds non-zero bytes`);
      }
    }
  }
}

/** Where the journal of an in-place rewrap lives (src/package/rewrap.ts). */
export function journalPath(pkg: string): string {
  return join(dirname(pkg), `.${basename(pkg)}.mseal-rewrap`);
}

async function withFile<T>(path: string, f: (fh: FileHandle, size: number) => Promise<T>): Promise<T> {
  if (await pathExists(journalPath(path))) {
    throw new ModelsealError('MALFORMED_PACKAGE', `${path} is being rewrapped, or a rewrap of it was interrupted (${journalPath(path)} exists): run \`modelseal rewrap --recover ${path}\` to restore it`);
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

async function headOf(fh: FileHandle, fileSize: number): Promise<PackageHead> {
  const hSize = await entryAt(fh, 0, ENTRY.header, LIMITS.maxHeaderBytes);
  const headerBytes = new Uint8Array(await readAt(fh, TAR_BLOCK, hSize));
  const parsed = parseHeader(headerBytes);
  const rOffset = TAR_BLOCK + padded(hSize);
  const rSize = await entryAt(fh, rOffset, ENTRY.reserve, LIMITS.maxReserveBytes);
  if ((await readAt(fh, rOffset + TAR_BLOCK, rSize)).some((b) => b !== 0)) {
    throw new ModelsealError('MALFORMED_PACKAGE', 'the header reserve holds non-zero bytes');
  }
  const layout = computeLayout(parsed.header, rOffset + TAR_BLOCK + padded(rSize));
  await entryAt(fh, layout.chunksEntry.offset, ENTRY.chunks, layout.chunksEntry.size, layout.chunksEntry.size);
  const chunkList = new Uint8Array(await readAt(fh, layout.chunksEntry.offset + TAR_BLOCK, layout.chunksEntry.size));
  const sSize = await entryAt(fh, layout.signatureOffset, ENTRY.signature, LIMITS.maxSignatureBytes);
  const trailer = parseSignature(new Uint8Array(await readAt(fh, layout.signatureOffset + TAR_BLOCK, sSize)));
  const expected = packageSize(layout, sSize);
  if (fileSize < expected) throw new ModelsealError('TRUNCATED', 'the package ends early: it was cut off in transfer or on disk; fetch it again');
  if (fileSize > expected) throw new ModelsealError('MALFORMED_PACKAGE', `the package has ${fileSize - expected} unexpected bytes after its end`);
  if ((await readAt(fh, expected - 2 * TAR_BLOCK, 2 * TAR_BLOCK)).some((b) => b !== 0)) {
    throw new ModelsealError('MALFORMED_PACKAGE', 'the tar end-of-archive blocks are not zero');
  }
  await checkSegments(fh, layout);
  checkSignature(trailer, headerBytes, createHash('sha256').update(chunkList).digest());
  return { parsed, headerBytes, layout, trailer, chunkList, fileSize };
}

/**
 * Reads the header, the chunk list and the signature of a package file, checks every entry's tar
 * header and padding, and checks that the signature covers header and chunk list (not whether the
 * signer is trusted: see checkTrusted). Reads no payload.
 */
export async function readHead(path: string): Promise<PackageHead> {
  return withFile(path, headOf);
}

export interface RangeOptions {
  identities: readonly Identity[];
  trustedPublishers: readonly Uint8Array[];
}

/**
 * Returns bytes [offset, offset+length) of file `filePath` inside the package, decrypting only the
 * chunks that cover them. Each chunk read is checked against the signed chunk list and decrypted
 * with its position and final flag in the nonce, so a moved, truncated or foreign chunk fails.
 */
export async function readRange(pkg: string, filePath: string, offset: number, length: number, opts: RangeOptions): Promise<Uint8Array> {
  if (!Number.isSafeInteger(offset) || offset < 0) throw new ModelsealError('INVALID_ARGUMENT', 'offset: expected a non-negative integer');
  if (!Number.isSafeInteger(length) || length < 0) throw new ModelsealError('INVALID_ARGUMENT', 'length: expected a non-negative integer');
  return withFile(pkg, async (fh, size) => {
    const head = await headOf(fh, size);
    checkTrusted(head.trailer, opts.trustedPublishers);
    const { header } = head.parsed;
    const index = header.files.findIndex((f) => f.path === filePath);
    if (index < 0) throw new ModelsealError('INVALID_ARGUMENT', `${JSON.stringify(filePath)} is not in this package (it holds ${header.files.map((f) => f.path).join(', ')})`);
    const file = header.files[index]!;
    if (offset + length > file.size) throw new ModelsealError('INVALID_ARGUMENT', `range ${offset}+${length} is beyond the end of ${filePath} (${file.size} bytes)`);
    const { keys } = await unlockPackage(head.parsed, opts.identities);
    const stream = streamOf(head.layout, index + 1);
    const C = head.layout.chunkSize;
    const chunkBase = stream.firstListedChunk;
    const out = new Uint8Array(length);
    if (length === 0) return out;
    const first = Math.floor(offset / C);
    const last = Math.floor((offset + length - 1) / C);
    for (let c = first; c <= last; c++) {
      const seg = stream.segments.find((s) => c >= s.firstChunk && c < s.firstChunk + s.chunkCount)!;
      const sealed = await readAt(fh, chunkOffset(seg, C, c), chunkPlainLength(stream.plaintextSize, C, c) + TAG_BYTES);
      const want = head.chunkList.subarray(32 * (chunkBase + c), 32 * (chunkBase + c + 1));
      if (!createHash('sha256').update(sealed).digest().equals(want)) {
        throw new ModelsealError('DECRYPTION_FAILED', 'the package failed authentication: it is damaged or was tampered with');
      }
      const plain = decryptChunk(keys.payloadKey(stream.index, seg.segment), c, c === stream.chunkCount - 1, sealed);
      if (!plain) throw new ModelsealError('DECRYPTION_FAILED', 'the package failed authentication: it is damaged or was tampered with');
      const from = Math.max(offset, c * C);
      const to = Math.min(offset + length, c * C + plain.length);
      out.set(plain.subarray(from - c * C, to - c * C), from - offset);
    }
    return out;
  });
}
