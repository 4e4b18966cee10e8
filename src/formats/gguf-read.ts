/** Parsing a GGUF header from bytes or from a file (never its tensor data); the rules are in gguf.ts. */
import { open, type FileHandle } from 'node:fs/promises';
import { isModelsealError, ModelsealError } from '../errors.js';
import { ioError } from '../io/atomic.js';
import {
  alignmentOf,
  alignUp,
  checkKey,
  claimTensorName,
  describe,
  fail,
  ggmlTypeName,
  GGUF_LIMITS,
  GGUF_VALUE_TYPE,
  NUMERIC,
  swapOnBigEndian,
  tensorSize,
  type GgufFile,
  type GgufNumericArray,
  type GgufTensorInfo,
  type GgufValue,
  type NumericArrayType,
} from './gguf-layout.js';

const UTF8_IN = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

class Reader {
  pos = 0;
  constructor(
    readonly bytes: Uint8Array,
    readonly fileSize: number,
  ) {}

  /**
   * Checks that n more bytes exist (under the header limit, in the file, among those given); returns where they start.
   */
  take(n: number, what: string, advance = true): number {
    const at = this.pos;
    const end = at + n;
    if (end > GGUF_LIMITS.headerBytes)
      throw fail(`the header exceeds the limit of ${GGUF_LIMITS.headerBytes} bytes (at ${what})`);
    if (end > this.fileSize) throw fail(`the file is truncated: it ends at byte ${this.fileSize}, inside ${what}`);
    if (end > this.bytes.length) {
      throw new ModelsealError(
        'INVALID_ARGUMENT',
        `gguf: the header needs at least ${end} bytes, only ${this.bytes.length} were given`,
        { details: { needed: end } },
      );
    }
    if (advance) this.pos = end;
    return at;
  }

  numbers(type: NumericArrayType, count: number, what: string): GgufNumericArray {
    const n = count * type.BYTES_PER_ELEMENT;
    const at = this.take(n, what);
    return new type(swapOnBigEndian(this.bytes.slice(at, at + n), type.BYTES_PER_ELEMENT).buffer);
  }

  u32(what: string): number {
    return this.numbers(Uint32Array, 1, what)[0] as number;
  }

  count(what: string, limit: number): number {
    const n = this.numbers(BigUint64Array, 1, what)[0] as bigint;
    if (n > BigInt(limit)) throw fail(`${what} is ${n}, over the limit of ${limit}`);
    return Number(n);
  }

  string(what: string, limit: number): string {
    const n = this.count(`the length of ${what}`, limit);
    const at = this.take(n, what);
    try {
      return UTF8_IN.decode(this.bytes.subarray(at, at + n));
    } catch (cause) {
      throw new ModelsealError('INVALID_ARGUMENT', `gguf: ${what} is not valid UTF-8`, { cause });
    }
  }
}

function readValue(r: Reader, type: number, what: string, depth: number): unknown {
  const numeric = NUMERIC.get(type);
  if (numeric !== undefined) return r.numbers(numeric, 1, what)[0];
  if (type === GGUF_VALUE_TYPE.STRING) return r.string(what, GGUF_LIMITS.stringBytes);
  if (type === GGUF_VALUE_TYPE.BOOL) {
    const b = r.bytes[r.take(1, what)];
    if (b !== 0 && b !== 1) throw fail(`${what} is a bool of byte ${b}; only 0 and 1 are allowed`);
    return b === 1;
  }
  if (type !== GGUF_VALUE_TYPE.ARRAY) throw fail(`${what} has unknown value type ${type}`);
  if (depth + 1 > GGUF_LIMITS.arrayDepth)
    throw fail(`${what} nests arrays deeper than ${GGUF_LIMITS.arrayDepth} levels`);
  const itemType = r.u32(`the item type of ${what}`);
  const length = r.count(`the length of ${what}`, GGUF_LIMITS.arrayLength);
  const items = NUMERIC.get(itemType);
  if (items !== undefined) return { itemType, items: r.numbers(items, length, what) };
  const minSize = { [GGUF_VALUE_TYPE.BOOL]: 1, [GGUF_VALUE_TYPE.STRING]: 8, [GGUF_VALUE_TYPE.ARRAY]: 12 }[itemType];
  if (minSize === undefined) throw fail(`${what} has unknown item type ${itemType}`);
  r.take(length * minSize, what, false); // the items must fit before any is allocated
  const out: unknown[] = [];
  for (let i = 0; i < length; i++) out.push(readValue(r, itemType, `${what}[${i}]`, depth + 1));
  return { itemType, items: out };
}

/**
 * Parses and validates the header of a GGUF file (metadata and tensor table); never reads tensor data.
 *
 * @param bytes the start of the file, at least up to the data section (the whole file is fine)
 * @param fileSize size of the whole file, against which tensor ranges are checked
 * @returns the header; tensor offsets are absolute
 * @throws ModelsealError INVALID_ARGUMENT naming the first problem (see the module comment). When
 *   `bytes` ends before the header does, but the file does not, the error's `details.needed` is a
 *   byte count to read before trying again (it may grow again on the next try).
 */
export function parseGgufHeader(bytes: Uint8Array, fileSize: number): GgufFile {
  if (!(bytes instanceof Uint8Array)) throw fail('expected a Uint8Array holding the start of the file');
  if (!Number.isSafeInteger(fileSize) || fileSize < bytes.length) {
    throw fail(
      `file size must be an integer no smaller than the ${bytes.length} bytes given, got ${describe(fileSize)}`,
    );
  }
  const r = new Reader(bytes, fileSize);
  const magic = r.take(4, 'the magic');
  if (String.fromCharCode(...bytes.subarray(magic, magic + 4)) !== 'GGUF')
    throw fail('not a GGUF file: it does not start with "GGUF"');
  const version = r.u32('the version');
  if (version === 0x02000000 || version === 0x03000000) throw fail('big-endian GGUF files are not supported');
  if (version !== 2 && version !== 3) throw fail(`version ${version} is not supported (2 and 3 are)`);
  const tensorCount = r.count('the tensor count', GGUF_LIMITS.tensors);
  const kvCount = r.count('the metadata count', GGUF_LIMITS.keyValues);

  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < kvCount; i++) {
    const key = r.string(`metadata key ${i}`, GGUF_LIMITS.keyBytes);
    checkKey(key);
    if (metadata.has(key)) throw fail(`the metadata repeats the key ${describe(key)}`, { key });
    const type = r.u32(`the value type of ${describe(key)}`);
    metadata.set(key, { type, value: readValue(r, type, `the value of ${describe(key)}`, 0) });
  }
  const alignment = alignmentOf(metadata);

  const table: { name: string; ggmlType: number; ne: number[]; size: number; offset: bigint }[] = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const name = r.string(`the name of tensor ${i}`, GGUF_LIMITS.tensorNameBytes);
    claimTensorName(names, name);
    const nDims = r.u32(`the dimension count of ${describe(name)}`);
    if (nDims < 1 || nDims > GGUF_LIMITS.dims)
      throw fail(`tensor ${describe(name)} has ${nDims} dimensions; 1 to ${GGUF_LIMITS.dims} are allowed`);
    const ne: number[] = [];
    for (let j = 0; j < nDims; j++)
      ne.push(Number(r.numbers(BigUint64Array, 1, `dimension ${j} of ${describe(name)}`)[0]));
    const ggmlType = r.u32(`the type of ${describe(name)}`);
    const size = tensorSize(name, ggmlType, ne);
    table.push({
      name,
      ggmlType,
      ne,
      size,
      offset: r.numbers(BigUint64Array, 1, `the offset of ${describe(name)}`)[0] as bigint,
    });
  }

  const headerEnd = r.pos;
  const dataOffset = alignUp(headerEnd, alignment);
  // Without tensors the final padding is optional (ggml skips it); with tensors it must be there.
  const padding = r.take(
    (table.length > 0 ? dataOffset : Math.min(dataOffset, fileSize)) - headerEnd,
    'the header padding',
  );
  if (bytes.subarray(padding, r.pos).some((b) => b !== 0))
    throw fail('the padding after the tensor table is not all zero bytes');

  const tensors: GgufTensorInfo[] = [];
  let next = 0; // where the packed layout puts the next tensor, relative to the data section
  for (const t of table) {
    const where = `tensor ${describe(t.name)}`;
    if (t.offset % BigInt(alignment) !== 0n)
      throw fail(`${where} has offset ${t.offset}, not a multiple of the alignment ${alignment}`);
    if (t.offset + BigInt(t.size) > BigInt(fileSize - dataOffset)) {
      throw fail(`${where} (${t.size} bytes at data offset ${t.offset}) lies outside the file of ${fileSize} bytes`, {
        tensor: t.name,
      });
    }
    const offset = Number(t.offset);
    if (offset < next)
      throw fail(`${where} at data offset ${offset} overlaps the tensor before it, which ends (padded) at ${next}`, {
        tensor: t.name,
      });
    if (offset > next)
      throw fail(`${where} is at data offset ${offset}, but the packed layout ggml requires puts it at ${next}`, {
        tensor: t.name,
      });
    const start = dataOffset + offset;
    tensors.push({
      name: t.name,
      ggmlType: t.ggmlType,
      typeName: ggmlTypeName(t.ggmlType),
      ne: t.ne,
      shape: [...t.ne].reverse(),
      start,
      end: start + t.size,
    });
    next = alignUp(offset + t.size, alignment);
  }
  if (fileSize > dataOffset + next)
    throw fail(`${fileSize - dataOffset - next} trailing bytes after the last tensor belong to no tensor`);
  return { version, alignment, metadata, tensors, dataOffset };
}

/**
 * Reads and parses the header of the GGUF file at `path`, reading only as much of the file as the
 * header takes (never tensor data).
 *
 * @throws ModelsealError IO if the file cannot be read; INVALID_ARGUMENT as {@link parseGgufHeader}
 */
export async function readGgufHeader(path: string): Promise<GgufFile> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (cause) {
    throw ioError(`cannot open ${path}`, cause);
  }
  try {
    const size = await fh.stat().then(
      (s) => s.size,
      (cause: unknown) => Promise.reject(ioError(`cannot read ${path}`, cause)),
    );
    let bytes = new Uint8Array(0);
    let want = Math.min(size, 1 << 20);
    for (;;) {
      const grown = new Uint8Array(want);
      grown.set(bytes);
      for (let at = bytes.length; at < want;) {
        const { bytesRead } = await fh
          .read(grown, at, want - at, at)
          .catch((cause: unknown) => Promise.reject(ioError(`cannot read ${path}`, cause)));
        if (bytesRead === 0) throw new ModelsealError('IO', `${path} shrank while its header was being read`);
        at += bytesRead;
      }
      bytes = grown;
      try {
        return parseGgufHeader(bytes, size);
      } catch (e) {
        const needed = isModelsealError(e) ? e.details?.needed : undefined;
        if (typeof needed !== 'number' || bytes.length >= size) throw e;
        want = Math.min(size, Math.max(needed, bytes.length * 2));
      }
    }
  } finally {
    await fh.close();
  }
}
