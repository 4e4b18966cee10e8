/**
 * Where everything sits in a modelseal/v1 tar. The layout is a pure function of the header and the
 * size of the header region, so a reader can seek to any chunk (random access) and a writer can
 * rewrite the header in place (rewrap) without moving the payload. docs/FORMAT.md §Layout.
 */
import type { Header } from './header.js';
import { ModelsealError } from '../errors.js';
import { LIMITS, SEGMENT_BYTES, TAG_BYTES } from './limits.js';

export const TAR_BLOCK = 512;
export const ENTRY = {
  header: 'modelseal.header',
  headerSignature: 'modelseal.header.sig',
  reserve: 'modelseal.reserve',
  provenance: 'modelseal.provenance',
  chunks: 'modelseal.chunks',
  signature: 'modelseal.sig',
} as const;
/** Every package has at least this much room for the header plus reserve, so recipients can be added later. */
export const MIN_HEADER_REGION = 64 * 1024;
export const CHUNK_DIGEST_BYTES = 32;

export const padded = (n: number): number => Math.ceil(n / TAR_BLOCK) * TAR_BLOCK;

/**
 * A stream is one file (index i+1) or the provenance (index 0): a sequence of chunks under one key
 * schedule, cut into segments of SEGMENT_BYTES of plaintext. Segments are computed on demand
 * (segmentAt): a header may claim files of 2^53-1 bytes, and the layout must cost O(header) whatever
 * it claims (docs/FORMAT.md §9).
 */
export interface StreamLayout {
  index: number;
  plaintextSize: number;
  chunkCount: number;
  /** Position of the stream's first chunk in the chunk list (package order). */
  firstListedChunk: number;
  segmentCount: number;
  /** Offset of the tar header block of the stream's first segment. */
  offset: number;
  chunkSize: number;
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

const chunksPerSegment = (chunkSize: number) => SEGMENT_BYTES / chunkSize;
/** Bytes a full segment takes in the package: its tar block and its data (a multiple of TAR_BLOCK). */
const fullSegmentBytes = (chunkSize: number) => TAR_BLOCK + chunksPerSegment(chunkSize) * (chunkSize + TAG_BYTES);

/** Segment `s` of a stream, by arithmetic. */
export function segmentAt(stream: StreamLayout, s: number): SegmentLayout {
  if (!Number.isInteger(s) || s < 0 || s >= stream.segmentCount)
    throw new RangeError(`no segment ${s} in stream ${stream.index}`);
  const C = stream.chunkSize;
  const per = chunksPerSegment(C);
  const firstChunk = s * per;
  const chunkCount = Math.min(per, stream.chunkCount - firstChunk);
  const plain = Math.max(0, Math.min(stream.plaintextSize - firstChunk * C, chunkCount * C));
  return {
    entryName: segmentEntryName(stream.index, s),
    segment: s,
    firstChunk,
    chunkCount,
    offset: stream.offset + s * fullSegmentBytes(C),
    size: plain + chunkCount * TAG_BYTES,
  };
}

/** The segments of a stream in order, made one at a time. */
export function* segmentsOf(stream: StreamLayout): Generator<SegmentLayout> {
  for (let s = 0; s < stream.segmentCount; s++) yield segmentAt(stream, s);
}

/** The segment that holds chunk `c` of a stream. */
export function segmentOfChunk(stream: StreamLayout, c: number): SegmentLayout {
  return segmentAt(stream, Math.floor(c / chunksPerSegment(stream.chunkSize)));
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

/**
 * The size of the header region (header, header signature, reserve) for a header of `headerBytes`
 * when a package is first written.
 */
export function initialRegionBytes(headerBytes: number): number {
  return Math.max(MIN_HEADER_REGION, padded(2 * headerBytes) + 3 * TAR_BLOCK + padded(LIMITS.maxHeaderSignatureBytes));
}

/**
 * Reserve entry size that makes header, header signature and reserve fill `regionBytes` exactly, or -1
 * if they no longer fit.
 */
export function reserveBytesFor(headerBytes: number, headerSignatureBytes: number, regionBytes: number): number {
  const r = regionBytes - 3 * TAR_BLOCK - padded(headerBytes) - padded(headerSignatureBytes);
  return r < 0 ? -1 : r;
}

/**
 * Where every entry sits, from the header alone, in O(number of files): segments are arithmetic.
 * Throws MALFORMED_PACKAGE when the sizes the header claims add up to a package beyond 2^53-1 bytes,
 * the largest size a reader can address exactly.
 */
export function computeLayout(header: Header, regionBytes: number): PackageLayout {
  const C = header.chunkSize;
  let offset = regionBytes;
  let totalChunks = 0;
  const tooLarge = () =>
    new ModelsealError(
      'MALFORMED_PACKAGE',
      `the header claims files that add up to more than ${Number.MAX_SAFE_INTEGER} bytes of package; ` +
        'no package can be that large',
    );
  // The provenance comes after the payload: a writer learns its size only once every file is
  // hashed, and by then the payload must already sit at its final offsets (one pass over the input).
  const order: [number, number][] = [
    ...header.files.map((f, i): [number, number] => [i + 1, f.size]),
    [0, header.provenanceSize],
  ];
  const streams = order.map(([index, plaintextSize]): StreamLayout => {
    const chunkCount = chunkCountOf(plaintextSize, C);
    const segmentCount = Math.ceil(chunkCount / chunksPerSegment(C));
    const stream: StreamLayout = {
      index,
      plaintextSize,
      chunkCount,
      firstListedChunk: totalChunks,
      segmentCount,
      offset,
      chunkSize: C,
    };
    const last = segmentAt(stream, segmentCount - 1);
    offset = last.offset + TAR_BLOCK + padded(last.size);
    totalChunks += chunkCount;
    if (offset > Number.MAX_SAFE_INTEGER) throw tooLarge();
    return stream;
  });
  const chunksEntry = { offset, size: totalChunks * CHUNK_DIGEST_BYTES };
  offset += TAR_BLOCK + padded(chunksEntry.size);
  if (offset > Number.MAX_SAFE_INTEGER) throw tooLarge();
  return { chunkSize: C, regionBytes, streams, totalChunks, chunksEntry, signatureOffset: offset };
}

/** The layout of stream `index` (0 = provenance, i+1 = file i). */
export function streamOf(layout: PackageLayout, index: number): StreamLayout {
  const s = index === 0 ? layout.streams[layout.streams.length - 1] : layout.streams[index - 1];
  if (s?.index !== index) throw new RangeError(`no stream ${index} in this layout`);
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
