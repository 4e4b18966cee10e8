/**
 * Where everything sits in a modelseal/v1 tar. The layout is a pure function of the header and the
 * size of the header region, so a reader can seek to any chunk (random access) and a writer can
 * rewrite the header in place (rewrap) without moving the payload. docs/FORMAT.md §Layout.
 */
import type { Header } from './header.js';
import { SEGMENT_BYTES, TAG_BYTES } from './limits.js';

export const TAR_BLOCK = 512;
export const ENTRY = {
  header: 'modelseal.header',
  reserve: 'modelseal.reserve',
  provenance: 'modelseal.provenance',
  chunks: 'modelseal.chunks',
  signature: 'modelseal.sig',
} as const;
/** Every package has at least this much room for the header plus reserve, so recipients can be added later. */
export const MIN_HEADER_REGION = 64 * 1024;
export const CHUNK_DIGEST_BYTES = 32;

export const padded = (n: number): number => Math.ceil(n / TAR_BLOCK) * TAR_BLOCK;

/** A stream is one file (index i+1) or the provenance (index 0): a sequence of chunks under one key schedule. */
export interface StreamLayout {
  index: number;
  plaintextSize: number;
  chunkCount: number;
  /** Position of the stream's first chunk in the chunk list (package order). */
  firstListedChunk: number;
  segments: SegmentLayout[];
}

export interface SegmentLayout {
  entryName: string;
  segment: number;
  firstChunk: number;
  chunkCount: number;
  /** Offset of the tar header block; the data starts TAR_BLOCK later. */
  offset: number;
  size: number;
}

export interface PackageLayout {
  chunkSize: number;
  regionBytes: number;
  /** In package order: the files (streams 1…n), then the provenance (stream 0). */
  streams: StreamLayout[];
  totalChunks: number;
  chunksEntry: { offset: number; size: number };
  /** Offset of the signature entry's tar header; its size is variable and read from the tar header. */
  signatureOffset: number;
}

export function chunkCountOf(plaintextSize: number, chunkSize: number): number {
  return Math.max(1, Math.ceil(plaintextSize / chunkSize));
}

/** Plaintext length of chunk `i` of a stream of `size` bytes. */
export function chunkPlainLength(size: number, chunkSize: number, i: number): number {
  const n = chunkCountOf(size, chunkSize);
  return i < n - 1 ? chunkSize : size - (n - 1) * chunkSize;
}

export function segmentEntryName(stream: number, segment: number): string {
  return stream === 0 ? ENTRY.provenance : `payload/${stream - 1}/${segment}`;
}

/** The size of the header + reserve region for a header of `headerBytes` when a package is first written. */
export function initialRegionBytes(headerBytes: number): number {
  return Math.max(MIN_HEADER_REGION, padded(2 * headerBytes) + 2 * TAR_BLOCK);
}

/** Reserve entry size that makes header + reserve fill `regionBytes` exactly, or -1 if the header no longer fits. */
export function reserveBytesFor(headerBytes: number, regionBytes: number): number {
  const r = regionBytes - 2 * TAR_BLOCK - padded(headerBytes);
  return r < 0 ? -1 : r;
}

export function computeLayout(header: Header, regionBytes: number): PackageLayout {
  const C = header.chunkSize;
  const perSegment = SEGMENT_BYTES / C;
  let offset = regionBytes;
  let totalChunks = 0;
  // The provenance comes after the payload: a writer learns its size only once every file is
  // hashed, and by then the payload must already sit at its final offsets (one pass over the input).
  const order: [number, number][] = [...header.files.map((f, i): [number, number] => [i + 1, f.size]), [0, header.provenanceSize]];
  const streams = order.map(([index, plaintextSize]): StreamLayout => {
    const chunkCount = chunkCountOf(plaintextSize, C);
    const segments: SegmentLayout[] = [];
    for (let s = 0, first = 0; first < chunkCount; s++, first += perSegment) {
      const count = Math.min(perSegment, chunkCount - first);
      const plain = Math.min(plaintextSize - first * C, count * C);
      const size = Math.max(plain, 0) + count * TAG_BYTES;
      segments.push({ entryName: segmentEntryName(index, s), segment: s, firstChunk: first, chunkCount: count, offset, size });
      offset += TAR_BLOCK + padded(size);
    }
    const stream = { index, plaintextSize, chunkCount, firstListedChunk: totalChunks, segments };
    totalChunks += chunkCount;
    return stream;
  });
  const chunksEntry = { offset, size: totalChunks * CHUNK_DIGEST_BYTES };
  offset += TAR_BLOCK + padded(chunksEntry.size);
  return { chunkSize: C, regionBytes, streams, totalChunks, chunksEntry, signatureOffset: offset };
}

/** The layout of stream `index` (0 = provenance, i+1 = file i). */
export function streamOf(layout: PackageLayout, index: number): StreamLayout {
  const s = index === 0 ? layout.streams[layout.streams.length - 1] : layout.streams[index - 1];
  if (!s || s.index !== index) throw new RangeError(`no stream ${index} in this layout`);
  return s;
}

/** Byte offset in the package of chunk `c` of a segment (its ciphertext ‖ tag). */
export function chunkOffset(seg: SegmentLayout, chunkSize: number, c: number): number {
  return seg.offset + TAR_BLOCK + (c - seg.firstChunk) * (chunkSize + TAG_BYTES);
}

/** Total file size of a package whose signature entry holds `signatureBytes`. */
export function packageSize(layout: PackageLayout, signatureBytes: number): number {
  return layout.signatureOffset + TAR_BLOCK + padded(signatureBytes) + 2 * TAR_BLOCK;
}
