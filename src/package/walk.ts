/**
 * One sequential pass over a package (a file or stdin) that checks its structure entry by entry —
 * names, sizes, order, the zero reserve, the chunk-digest list, the signature — and hands every
 * ciphertext chunk to the caller (open decrypts, verify hashes). Nothing here needs a data key.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { ModelsealError } from '../errors.js';
import { verifyMessage } from '../crypto/signer.js';
import { parseHeader, type ParsedHeader } from '../format/header.js';
import { computeLayout, ENTRY, packageSize, padded, TAR_BLOCK, chunkPlainLength, type PackageLayout, type StreamLayout } from '../format/layout.js';
import { LIMITS, TAG_BYTES } from '../format/limits.js';
import { parseSignature, signedMessage, type SignatureTrailer } from '../format/signature.js';
import { toHex } from '../format/encoding.js';
import { orderedPipeline } from '../crypto/pool.js';
import { streamDepth } from './common.js';

type Entry = AsyncIterable<Buffer> & { header: { name: string; size?: number | null; type?: string | null }; resume(): void };

export interface ChunkRef {
  stream: StreamLayout;
  segment: number;
  counter: number;
  final: boolean;
}

export interface WalkVisitor<T> {
  /** Called once the header is parsed; open unlocks the data key here and checks the MAC. */
  header(parsed: ParsedHeader, headerBytes: Uint8Array, layout: PackageLayout): Promise<void> | void;
  /** Starts work on one chunk; `sealed` is the chunk's ciphertext ‖ tag and may be transferred. */
  chunk(ref: ChunkRef, sealed: Uint8Array): Promise<T>;
  /** Receives each chunk's result strictly in package order. Returns the chunk's SHA-256 when it computed it. */
  consume(ref: ChunkRef, result: T): Promise<Uint8Array | undefined> | Uint8Array | undefined;
  streamEnd?(stream: StreamLayout): Promise<void> | void;
}

export interface WalkResult {
  parsed: ParsedHeader;
  headerBytes: Uint8Array;
  layout: PackageLayout;
  trailer: SignatureTrailer;
  /** SHA-256 of the stored chunk-digest list. */
  chunksDigest: Uint8Array;
  /** Whether the caller's chunk digests were compared with the stored list (verify) or not (open). */
  chunkDigestsChecked: boolean;
}

export function truncatedOrMalformed(e: unknown): ModelsealError {
  if (e instanceof ModelsealError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  if (/unexpected end|premature|truncat/i.test(msg)) {
    return new ModelsealError('TRUNCATED', 'the package ends early: it was cut off in transfer or on disk; fetch it again', { cause: e });
  }
  return new ModelsealError('MALFORMED_PACKAGE', 'the package is not a valid modelseal tar (bad tar structure)', { cause: e });
}

export async function walkPackage<T>(input: Readable, threads: number, visitor: WalkVisitor<T>, signal?: AbortSignal): Promise<WalkResult> {
  // Loaded on demand: only streamed packages (stdin) need a tar parser; files are read by position.
  const { default: tar } = await import('tar-stream');
  const extract = tar.extract();
  const it = (extract as unknown as AsyncIterable<Entry>)[Symbol.asyncIterator]();
  input.on('error', (e) => extract.destroy(e));
  // Count every byte so a stream missing its end-of-archive blocks (or carrying extra bytes) is caught too.
  let streamed = 0;
  input.on('data', (b: Buffer) => (streamed += b.length));
  const ended = new Promise<void>((resolve) => input.once('end', resolve));
  input.pipe(extract as unknown as NodeJS.WritableStream);

  const next = async (name: string, exactSize: number | undefined, maxSize: number): Promise<Entry> => {
    let r: IteratorResult<Entry>;
    try {
      r = await it.next();
    } catch (e) {
      throw truncatedOrMalformed(e);
    }
    if (r.done) throw new ModelsealError('TRUNCATED', `the package ends before its ${name} entry; fetch it again`);
    const e = r.value;
    const size = e.header.size ?? 0;
    if (e.header.name !== name || (e.header.type ?? 'file') !== 'file') {
      throw new ModelsealError('MALFORMED_PACKAGE', `expected tar entry ${name}, found ${JSON.stringify(e.header.name).slice(0, 80)}`);
    }
    if (size > maxSize) {
      const code = name === ENTRY.header ? 'HEADER_TOO_LARGE' : 'MALFORMED_PACKAGE';
      throw new ModelsealError(code, `${name} is ${size} bytes; the limit is ${maxSize}`);
    }
    if (exactSize !== undefined && size !== exactSize) {
      throw new ModelsealError('MALFORMED_PACKAGE', `${name} is ${size} bytes; the header implies ${exactSize}`);
    }
    return e;
  };
  const readAll = async (e: Entry, size: number): Promise<Uint8Array> => {
    const out = new Uint8Array(size);
    let at = 0;
    try {
      for await (const b of e) {
        out.set(b.subarray(0, Math.max(0, size - at)), at);
        at += b.length;
      }
    } catch (err) {
      throw truncatedOrMalformed(err);
    }
    if (at !== size) throw new ModelsealError('TRUNCATED', `${e.header.name} is cut short; fetch the package again`);
    return out;
  };

  try {
    const hEntry = await next(ENTRY.header, undefined, LIMITS.maxHeaderBytes);
    const headerBytes = await readAll(hEntry, hEntry.header.size ?? 0);
    const parsed = parseHeader(headerBytes);
    const rEntry = await next(ENTRY.reserve, undefined, LIMITS.maxReserveBytes);
    const reserveSize = rEntry.header.size ?? 0;
    const reserve = await readAll(rEntry, reserveSize);
    if (reserve.some((b) => b !== 0)) throw new ModelsealError('MALFORMED_PACKAGE', 'the header reserve holds non-zero bytes');
    const layout = computeLayout(parsed.header, 2 * TAR_BLOCK + padded(headerBytes.length) + padded(reserveSize));
    await visitor.header(parsed, headerBytes, layout);

    const C = layout.chunkSize;
    const depth = streamDepth(C, threads);
    const digests = createHash('sha256');
    let checked = true;
    const digestList: Uint8Array[] = [];
    for (const stream of layout.streams) {
      for (const seg of stream.segments) {
        const e = await next(seg.entryName, seg.size, seg.size);
        const frames = async function* (): AsyncGenerator<() => Promise<{ ref: ChunkRef; result: T }>> {
          let c = seg.firstChunk;
          const end = seg.firstChunk + seg.chunkCount;
          let frame = Buffer.allocUnsafeSlow(chunkPlainLength(stream.plaintextSize, C, c) + TAG_BYTES);
          let at = 0;
          const emit = () => {
            const ref: ChunkRef = { stream, segment: seg.segment, counter: c, final: c === stream.chunkCount - 1 };
            const sealed = frame;
            c++;
            if (c < end) frame = Buffer.allocUnsafeSlow(chunkPlainLength(stream.plaintextSize, C, c) + TAG_BYTES);
            at = 0;
            return () => visitor.chunk(ref, sealed).then((result) => ({ ref, result }));
          };
          try {
            for await (const b of e) {
              let off = 0;
              while (off < b.length) {
                if (c >= end) throw new ModelsealError('MALFORMED_PACKAGE', `${seg.entryName} holds more bytes than its chunks`);
                const n = Math.min(b.length - off, frame.length - at);
                b.copy(frame, at, off, off + n);
                at += n;
                off += n;
                if (at === frame.length) {
                  if (signal?.aborted) throw new ModelsealError('INTERRUPTED', 'interrupted; nothing was written at the output path');
                  yield emit();
                }
              }
            }
          } catch (err) {
            throw truncatedOrMalformed(err);
          }
          if (c !== end) throw new ModelsealError('TRUNCATED', `${seg.entryName} is cut short; fetch the package again`);
        };
        await orderedPipeline(depth, frames(), async ({ ref, result }) => {
          const d = await visitor.consume(ref, result);
          if (d) digestList.push(d);
          else checked = false;
        });
      }
      await visitor.streamEnd?.(stream);
    }

    const cEntry = await next(ENTRY.chunks, layout.chunksEntry.size, layout.chunksEntry.size);
    const stored = await readAll(cEntry, layout.chunksEntry.size);
    digests.update(stored);
    const chunksDigest = new Uint8Array(digests.digest());
    if (checked) {
      const computed = Buffer.concat(digestList);
      if (!computed.equals(stored)) {
        let i = 0;
        while (i < layout.totalChunks && computed.subarray(32 * i, 32 * i + 32).equals(stored.subarray(32 * i, 32 * i + 32))) i++;
        throw modifiedChunk(i);
      }
    }
    const sEntry = await next(ENTRY.signature, undefined, LIMITS.maxSignatureBytes);
    const trailer = parseSignature(await readAll(sEntry, sEntry.header.size ?? 0));
    checkSignature(trailer, headerBytes, chunksDigest);
    let tail: IteratorResult<Entry>;
    try {
      tail = await it.next();
    } catch (e) {
      throw truncatedOrMalformed(e);
    }
    if (!tail.done) throw new ModelsealError('MALFORMED_PACKAGE', `unexpected tar entry ${JSON.stringify(tail.value.header.name).slice(0, 80)} after the signature`);
    await ended;
    const expected = packageSize(layout, sEntry.header.size ?? 0);
    if (streamed < expected) throw new ModelsealError('TRUNCATED', 'the package ends before its end-of-archive blocks; fetch it again');
    if (streamed > expected) throw new ModelsealError('MALFORMED_PACKAGE', `the package has ${streamed - expected} unexpected bytes after its end`);
    return { parsed, headerBytes, layout, trailer, chunksDigest, chunkDigestsChecked: checked };
  } finally {
    extract.destroy();
    input.unpipe();
    if ('destroy' in input && input !== process.stdin) input.destroy();
  }
}

export function modifiedChunk(i: number): ModelsealError {
  return new ModelsealError('SIGNATURE_INVALID', `ciphertext chunk ${i} does not match the signed chunk list: the package was modified after signing`, { details: { chunk: i } });
}

/** Checks that the trailer signs exactly this header and chunk list. Says nothing about whether the signer is trusted. */
export function checkSignature(t: SignatureTrailer, headerBytes: Uint8Array, chunksDigest: Uint8Array): void {
  const hd = createHash('sha256').update(headerBytes).digest();
  if (!hd.equals(t.headerDigest) || !Buffer.from(chunksDigest).equals(t.chunksDigest)) {
    throw new ModelsealError('SIGNATURE_INVALID', 'the signature entry does not match this package (header or chunk list changed after signing)');
  }
  if (!verifyMessage(t.publicKey, signedMessage(t.headerDigest, t.chunksDigest), t.signature)) {
    throw new ModelsealError('SIGNATURE_INVALID', 'the publisher signature does not verify: the package was modified after signing or is not from this publisher');
  }
}

/** Throws UNTRUSTED_SIGNER unless the trailer's key is one of `trusted` (SPKI DER). */
export function checkTrusted(t: SignatureTrailer, trusted: readonly Uint8Array[]): void {
  if (!trusted.some((k) => Buffer.from(k).equals(t.publicKey))) {
    const id = signerId(t.publicKey);
    throw new ModelsealError(
      'UNTRUSTED_SIGNER',
      trusted.length === 0
        ? `no trusted publisher key: pass --publisher <publisher.pub> (the package is signed by ${id})`
        : `the package is signed by ${id}, which is not a trusted publisher; pass --publisher with that key if you trust it`,
      { details: { signer: id } },
    );
  }
}

export function signerId(spki: Uint8Array): string {
  return `sha256:${toHex(createHash('sha256').update(spki).digest())}`;
}
