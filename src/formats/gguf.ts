/**
 * A strict reader and writer for GGUF, the model format of ggml and llama.cpp: versions 2 and 3,
 * little-endian only. Spec: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md
 *
 *   "GGUF" · u32 version · u64 tensor_count · u64 kv_count
 *   kv_count × (string key · u32 value type · value)        a string is a u64 length, then UTF-8
 *   tensor_count × (string name · u32 n_dims · n_dims × u64 ne · u32 ggml type · u64 offset)
 *   0x00 padding to the alignment (general.alignment, else 32), then the data section
 *
 * Strict means refusing what ggml's own reader (ggml/src/gguf.cpp) refuses: repeated keys or
 * tensor names, unknown tensor types, a row (ne[0]) that is not whole blocks, an alignment that is
 * not a u32 power of two, and offsets other than the packed layout (each tensor at the padded total
 * of those before it, in table order). Also refused, because readers could disagree on them or they
 * hide bytes: NUL in names, non-ASCII keys, invalid UTF-8, bools other than 0/1, non-zero header
 * padding, bytes after the last tensor's padding, dimensions of 0 (ggml allows them, but no model
 * holds an empty tensor and it has no data range to check), n_dims 0, and anything over
 * {@link GGUF_LIMITS}. Every failure is a ModelsealError INVALID_ARGUMENT naming the problem, and
 * limits are checked before anything is allocated.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { isModelsealError, ModelsealError } from '../errors.js';
import { ioError, writeFileAtomic } from '../io/atomic.js';
import { dequantizeBlocks } from './quants.js';

/** What this module accepts and writes. */
export const GGUF_LIMITS = Object.freeze({
  /** Everything before the data section (preamble, metadata, tensor table, padding): 100 MiB. */
  headerBytes: 100 * 1024 * 1024,
  tensors: 65_536,
  keyValues: 65_536,
  /** Bytes of one string value. */
  stringBytes: 1024 * 1024,
  /** Bytes of one key: the spec's limit. Keys must also be printable ASCII. */
  keyBytes: 65_535,
  /** Bytes of one tensor name: ggml keeps names in char[64] with a NUL, so it refuses 64. */
  tensorNameBytes: 63,
  /** Items of one array. */
  arrayLength: 2 ** 24,
  /** Arrays inside arrays: ggml reads none, gguf-py any; 4 keeps recursion bounded. */
  arrayDepth: 4,
  dims: 4,
});

/** Value type ids of metadata (gguf_metadata_value_type). */
export const GGUF_VALUE_TYPE = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;

/** ggml tensor type ids (ggml.h `enum ggml_type`; 40-42 are newer than docs/gguf.md). */
export const GGML_TYPE = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q4_1: 3,
  Q5_0: 6,
  Q5_1: 7,
  Q8_0: 8,
  Q8_1: 9,
  Q2_K: 10,
  Q3_K: 11,
  Q4_K: 12,
  Q5_K: 13,
  Q6_K: 14,
  Q8_K: 15,
  IQ2_XXS: 16,
  IQ2_XS: 17,
  IQ3_XXS: 18,
  IQ1_S: 19,
  IQ4_NL: 20,
  IQ3_S: 21,
  IQ2_S: 22,
  IQ4_XS: 23,
  I8: 24,
  I16: 25,
  I32: 26,
  I64: 27,
  F64: 28,
  IQ1_M: 29,
  BF16: 30,
  TQ1_0: 34,
  TQ2_0: 35,
  MXFP4: 39,
  NVFP4: 40,
  Q1_0: 41,
  Q2_0: 42,
} as const;

/** [elements per block, bytes per block] by ggml type id (gguf-py GGML_QUANT_SIZES). */
const BLOCK = new Map<number, readonly [number, number]>([
  [0, [1, 4]],
  [1, [1, 2]],
  [2, [32, 18]],
  [3, [32, 20]],
  [6, [32, 22]],
  [7, [32, 24]],
  [8, [32, 34]],
  [9, [32, 40]],
  [10, [256, 84]],
  [11, [256, 110]],
  [12, [256, 144]],
  [13, [256, 176]],
  [14, [256, 210]],
  [15, [256, 292]],
  [16, [256, 66]],
  [17, [256, 74]],
  [18, [256, 98]],
  [19, [256, 50]],
  [20, [32, 18]],
  [21, [256, 110]],
  [22, [256, 82]],
  [23, [256, 136]],
  [24, [1, 1]],
  [25, [1, 2]],
  [26, [1, 4]],
  [27, [1, 8]],
  [28, [1, 8]],
  [29, [256, 56]],
  [30, [1, 2]],
  [34, [256, 54]],
  [35, [256, 66]],
  [39, [32, 17]],
  [40, [64, 36]],
  [41, [128, 18]],
  [42, [64, 18]],
]);
const TYPE_NAMES = new Map<number, string>(Object.entries(GGML_TYPE).map(([k, v]) => [v, k]));
const VALUE_NAMES = new Map<number, string>(Object.entries(GGUF_VALUE_TYPE).map(([k, v]) => [v, k]));

/** The ggml name of a tensor type id (`Q8_0`), or `T<id>` when unknown. */
export function ggmlTypeName(ggmlType: number): string {
  return TYPE_NAMES.get(ggmlType) ?? `T${ggmlType}`;
}

/** A typed array holding the items of a numeric metadata array, in host order. */
export type GgufNumericArray =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | Float64Array
  | BigUint64Array
  | BigInt64Array;
type NumericArrayType = {
  new (buffer: ArrayBuffer): GgufNumericArray;
  readonly BYTES_PER_ELEMENT: number;
  readonly name: string;
};
const NUMERIC = new Map<number, NumericArrayType>([
  [0, Uint8Array],
  [1, Int8Array],
  [2, Uint16Array],
  [3, Int16Array],
  [4, Uint32Array],
  [5, Int32Array],
  [6, Float32Array],
  [10, BigUint64Array],
  [11, BigInt64Array],
  [12, Float64Array],
]);

/** An ARRAY value. The item type is kept so that an empty array re-encodes to the same bytes. */
export interface GgufArray {
  itemType: number;
  /** Numeric types: the typed array of that type (BigUint64Array for UINT64...); BOOL: boolean[]; STRING: string[]; ARRAY: GgufArray[]. */
  items: GgufNumericArray | boolean[] | string[] | GgufArray[];
}

/**
 * A metadata value and its GGUF type, enough to re-encode it byte for byte. `value` is a number
 * for the 8- to 32-bit integer and float types (a FLOAT32 must be exact: `Math.fround(v) === v`),
 * a bigint for UINT64 and INT64, a boolean for BOOL, a string for STRING and a {@link GgufArray}
 * for ARRAY.
 */
export type GgufValue = { type: number; value: unknown };

/** One entry of the tensor table, with absolute byte offsets in the file. */
export interface GgufTensorInfo {
  name: string;
  /** The raw ggml type id. */
  ggmlType: number;
  /** The ggml name of the type: {@link ggmlTypeName}. */
  typeName: string;
  /** Dimensions as stored, ne[0] varying fastest. */
  ne: number[];
  /** Row-major shape, outermost first: `ne` reversed. */
  shape: number[];
  /** Absolute offset of the tensor's first byte. */
  start: number;
  /** Absolute offset just past its last byte (padding excluded). */
  end: number;
}

/** The parsed header of a GGUF file. */
export interface GgufFile {
  version: number;
  /** general.alignment, or 32 when absent. */
  alignment: number;
  /** Key-value metadata in file order. */
  metadata: Map<string, GgufValue>;
  /** Tensors in the order of the tensor table, which is also their order in the data section. */
  tensors: GgufTensorInfo[];
  /** Absolute offset of the data section (the header's end, aligned). */
  dataOffset: number;
}

const UTF8_IN = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const UTF8_OUT = new TextEncoder();
const HOST_LE = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function fail(message: string, details?: Record<string, unknown>): ModelsealError {
  return new ModelsealError('INVALID_ARGUMENT', `gguf: ${message}`, details === undefined ? undefined : { details });
}

function describe(v: unknown): string {
  const s = typeof v === 'bigint' ? `${v}n` : (JSON.stringify(v) ?? String(v));
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** GGUF is little-endian and typed arrays use the host's order: reverse each item on a big-endian host. */
function swapOnBigEndian<T extends Uint8Array>(b: T, size: number): T {
  if (!HOST_LE && size > 1) for (let i = 0; i < b.length; i += size) b.subarray(i, i + size).reverse();
  return b;
}

function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

function checkAlignment(a: unknown, what: string): number {
  if (typeof a !== 'number' || !Number.isInteger(a) || a < 1 || a > 2 ** 31 || (a & (a - 1)) !== 0) {
    throw fail(`${what} must be a power of two that fits a uint32, got ${describe(a)}`);
  }
  return a;
}

function checkKey(key: string): void {
  if (!/^[\x20-\x7e]+$/.test(key)) throw fail(`metadata key ${describe(key)} must be non-empty printable ASCII`);
}

/** Checks a tensor name and that `names` does not hold it yet, then adds it. */
function claimTensorName(names: Set<string>, name: string): void {
  if (name === '' || name.includes('\0')) throw fail(`tensor name ${describe(name)} must be non-empty and hold no NUL`);
  if (names.has(name)) throw fail(`the tensor name ${describe(name)} appears twice`, { tensor: name });
  names.add(name);
}

/**
 * Byte size of a tensor of `elements` elements of a ggml type.
 *
 * @throws ModelsealError INVALID_ARGUMENT for an unknown type, a count that is not a non-negative
 *   integer or not whole blocks (e.g. 31 elements of Q8_0), or a size beyond 2^53
 * @example ggmlTensorBytes(GGML_TYPE.Q8_0, 64) // 68
 */
export function ggmlTensorBytes(ggmlType: number, elements: number): number {
  const block = BLOCK.get(ggmlType);
  if (block === undefined) throw fail(`unknown ggml type ${describe(ggmlType)}`);
  if (!Number.isSafeInteger(elements) || elements < 0)
    throw fail(`element count must be a non-negative integer, got ${describe(elements)}`);
  if (elements % block[0] !== 0) {
    throw fail(`${elements} elements of ${ggmlTypeName(ggmlType)} are not whole blocks of ${block[0]}`);
  }
  const bytes = (elements / block[0]) * block[1];
  if (!Number.isSafeInteger(bytes)) throw fail(`${elements} elements of ${ggmlTypeName(ggmlType)} exceed 2^53 bytes`);
  return bytes;
}

/** Checks a tensor's dims and type as ggml does (rows of whole blocks) and returns its byte size. */
function tensorSize(name: string, ggmlType: number, ne: readonly unknown[]): number {
  const where = `tensor ${describe(name)}`;
  if (!Array.isArray(ne) || ne.length < 1 || ne.length > GGUF_LIMITS.dims) {
    throw fail(`${where} has ${Array.isArray(ne) ? ne.length : 'no'} dimensions; 1 to ${GGUF_LIMITS.dims} are allowed`);
  }
  const block = BLOCK.get(ggmlType);
  if (block === undefined) throw fail(`${where} has unknown ggml type ${describe(ggmlType)}`);
  let elements = 1;
  for (const d of ne) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 1)
      throw fail(`${where} has dimension ${describe(d)}; each must be an integer ≥ 1`);
    elements *= d; // exact while the true product is below 2^53, and not safe once it is above
    if (!Number.isSafeInteger(elements)) throw fail(`${where} has ${ne.join(' × ')} elements, more than 2^53`);
  }
  if ((ne[0] as number) % block[0] !== 0) {
    throw fail(
      `${where} of type ${ggmlTypeName(ggmlType)} has rows of ${ne[0]} elements, not a multiple of the block size ${block[0]}`,
    );
  }
  return ggmlTensorBytes(ggmlType, elements);
}

class Reader {
  pos = 0;
  constructor(
    readonly bytes: Uint8Array,
    readonly fileSize: number,
  ) {}

  /** Checks that n more bytes exist (under the header limit, in the file, among those given); returns where they start. */
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
  return { itemType, items: out } as GgufArray;
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

  const table: Array<{ name: string; ggmlType: number; ne: number[]; size: number; offset: bigint }> = [];
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

function alignmentOf(metadata: Map<string, GgufValue>): number {
  const a = metadata.get('general.alignment');
  if (a === undefined) return 32;
  if (a.type !== GGUF_VALUE_TYPE.UINT32)
    throw fail(`general.alignment must be a UINT32, got a ${VALUE_NAMES.get(a.type) ?? a.type}`);
  return checkAlignment(a.value, 'general.alignment');
}

class Writer {
  buf = new Uint8Array(4096);
  length = 0;

  bytes(b: Uint8Array): void {
    const end = this.length + b.length;
    if (end > GGUF_LIMITS.headerBytes)
      throw fail(`the header would exceed the limit of ${GGUF_LIMITS.headerBytes} bytes`);
    if (end > this.buf.length) {
      const grown = new Uint8Array(Math.min(GGUF_LIMITS.headerBytes, Math.max(end, this.buf.length * 2)));
      grown.set(this.buf.subarray(0, this.length));
      this.buf = grown;
    }
    this.buf.set(b, this.length);
    this.length = end;
  }

  numbers(a: GgufNumericArray): void {
    const raw = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    this.bytes(HOST_LE ? raw : swapOnBigEndian(raw.slice(), a.BYTES_PER_ELEMENT));
  }

  u32(n: number): void {
    this.numbers(Uint32Array.of(n));
  }

  string(s: unknown, what: string, limit: number): void {
    if (typeof s !== 'string') throw fail(`${what} must be a string, got ${describe(s)}`);
    if (LONE_SURROGATE.test(s)) throw fail(`${what} holds a lone surrogate, which has no UTF-8 encoding`);
    const b = UTF8_OUT.encode(s);
    if (b.length > limit) throw fail(`${what} is ${b.length} bytes, over the limit of ${limit}`);
    this.numbers(BigUint64Array.of(BigInt(b.length)));
    this.bytes(b);
  }
}

function writeValue(w: Writer, type: unknown, value: unknown, what: string, depth: number): void {
  const numeric = typeof type === 'number' ? NUMERIC.get(type) : undefined;
  if (numeric !== undefined) {
    const big = numeric === BigUint64Array || numeric === BigInt64Array;
    if (typeof value !== (big ? 'bigint' : 'number'))
      throw fail(`${what} must be a ${big ? 'bigint' : 'number'}, got ${describe(value)}`);
    const one = new numeric(new ArrayBuffer(numeric.BYTES_PER_ELEMENT));
    (one as unknown as unknown[])[0] = value; // wraps, rounds or saturates when the value does not fit
    if (one[0] !== value && !Number.isNaN(value))
      throw fail(`${what}: ${describe(value)} is not exactly a ${VALUE_NAMES.get(type as number)}`);
    return w.numbers(one);
  }
  if (type === GGUF_VALUE_TYPE.STRING) return w.string(value, what, GGUF_LIMITS.stringBytes);
  if (type === GGUF_VALUE_TYPE.BOOL) {
    if (typeof value !== 'boolean') throw fail(`${what} must be a boolean, got ${describe(value)}`);
    return w.bytes(Uint8Array.of(value ? 1 : 0));
  }
  if (type !== GGUF_VALUE_TYPE.ARRAY) throw fail(`${what} has unknown value type ${describe(type)}`);
  if (depth + 1 > GGUF_LIMITS.arrayDepth)
    throw fail(`${what} nests arrays deeper than ${GGUF_LIMITS.arrayDepth} levels`);
  const { itemType = -1, items } = (typeof value === 'object' && value !== null ? value : {}) as Partial<GgufArray>;
  const typed = NUMERIC.get(itemType);
  if (
    typed === undefined &&
    itemType !== GGUF_VALUE_TYPE.BOOL &&
    itemType !== GGUF_VALUE_TYPE.STRING &&
    itemType !== GGUF_VALUE_TYPE.ARRAY
  ) {
    throw fail(`${what} must be { itemType, items } with a known item type, got item type ${describe(itemType)}`);
  }
  if (typed ? !(items instanceof typed) : !Array.isArray(items))
    throw fail(`${what}: items of type ${VALUE_NAMES.get(itemType)} must be a ${typed?.name ?? 'plain array'}`);
  const list = items as GgufNumericArray | unknown[];
  if (list.length > GGUF_LIMITS.arrayLength)
    throw fail(`${what} has ${list.length} items, over the limit of ${GGUF_LIMITS.arrayLength}`);
  w.u32(itemType);
  w.numbers(BigUint64Array.of(BigInt(list.length)));
  if (typed) return w.numbers(list as GgufNumericArray);
  (list as unknown[]).forEach((item, i) => writeValue(w, itemType, item, `${what}[${i}]`, depth + 1));
}

/**
 * Encodes a version 3 header. Keys, values and tensors are checked as the parser checks them, so
 * `parseGgufHeader` of the result gives the same metadata and tensors back.
 *
 * @param metadata key-value pairs in the order to write; if it has no general.alignment and
 *   `alignment` is not 32, one is appended so that readers find the data
 * @param tensors in data order, each with its byte `size` (must equal {@link ggmlTensorBytes})
 * @param alignment defaults to general.alignment, else 32; must agree with general.alignment
 * @returns the header bytes padded to the alignment, each tensor's offset in the data section,
 *   and the data section's size (every tensor padded, the last one too)
 * @throws ModelsealError INVALID_ARGUMENT naming the first invalid key, value or tensor
 */
export function encodeGgufHeader(
  metadata: Map<string, GgufValue>,
  tensors: { name: string; ggmlType: number; ne: number[]; size: number }[],
  alignment?: number,
): { bytes: Uint8Array; offsets: number[]; dataSize: number } {
  if (!(metadata instanceof Map)) throw fail('metadata must be a Map of key to { type, value }');
  if (!Array.isArray(tensors)) throw fail('tensors must be an array');
  const declared = metadata.get('general.alignment');
  if (declared === undefined && alignment !== undefined && alignment !== 32) {
    metadata = new Map([
      ...metadata,
      ['general.alignment', { type: GGUF_VALUE_TYPE.UINT32, value: checkAlignment(alignment, 'alignment') }],
    ]);
  }
  const align = alignmentOf(metadata);
  if (alignment !== undefined && alignment !== align)
    throw fail(`alignment ${describe(alignment)} disagrees with general.alignment ${align}`);
  if (metadata.size > GGUF_LIMITS.keyValues)
    throw fail(`${metadata.size} metadata pairs are over the limit of ${GGUF_LIMITS.keyValues}`);
  if (tensors.length > GGUF_LIMITS.tensors)
    throw fail(`${tensors.length} tensors are over the limit of ${GGUF_LIMITS.tensors}`);

  const w = new Writer();
  w.bytes(UTF8_OUT.encode('GGUF'));
  w.u32(3);
  w.numbers(BigUint64Array.of(BigInt(tensors.length), BigInt(metadata.size)));
  for (const [key, v] of metadata) {
    w.string(key, 'a metadata key', GGUF_LIMITS.keyBytes);
    checkKey(key);
    if (typeof v !== 'object' || v === null || !VALUE_NAMES.has(v.type)) {
      throw fail(`the value of ${describe(key)} must be { type, value } with a known type, got ${describe(v)}`);
    }
    w.u32(v.type);
    writeValue(w, v.type, v.value, `the value of ${describe(key)}`, 0);
  }
  const offsets: number[] = [];
  const names = new Set<string>();
  let next = 0;
  for (const t of tensors) {
    w.string(t?.name, 'a tensor name', GGUF_LIMITS.tensorNameBytes);
    claimTensorName(names, t.name);
    const size = tensorSize(t.name, t.ggmlType, t.ne);
    if (t.size !== size)
      throw fail(
        `tensor ${describe(t.name)} has ${describe(t.size)} bytes but ${t.ne.join(' × ')} ${ggmlTypeName(t.ggmlType)} take ${size}`,
      );
    w.u32(t.ne.length);
    w.numbers(BigUint64Array.from(t.ne, BigInt));
    w.u32(t.ggmlType);
    w.numbers(BigUint64Array.of(BigInt(next)));
    offsets.push(next);
    next = alignUp(next + size, align);
    if (!Number.isSafeInteger(next)) throw fail('the tensors add up to more than 2^53 bytes');
  }
  w.bytes(new Uint8Array(alignUp(w.length, align) - w.length));
  return { bytes: w.buf.slice(0, w.length), offsets, dataSize: next };
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
      (cause) => Promise.reject(ioError(`cannot read ${path}`, cause)),
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

/**
 * Writes a GGUF file (version 3): the header from {@link encodeGgufHeader}, then each tensor's data
 * in order, zero-padded to the alignment. It goes to a temporary name, fsynced, then moved into place.
 *
 * @param opts.overwrite replace an existing file (default: fail with OUTPUT_EXISTS)
 * @throws ModelsealError INVALID_ARGUMENT as {@link encodeGgufHeader} (a tensor's data length
 *   must match its type and ne); OUTPUT_EXISTS; IO
 */
export async function writeGguf(
  path: string,
  metadata: Map<string, GgufValue>,
  tensors: { name: string; ggmlType: number; ne: number[]; data: Uint8Array }[],
  alignment?: number,
  opts: { overwrite?: boolean } = {},
): Promise<void> {
  if (!Array.isArray(tensors)) throw fail('tensors must be an array');
  tensors.forEach((t, i) => {
    if (!(t?.data instanceof Uint8Array)) throw fail(`the data of tensor ${i} must be a Uint8Array`);
  });
  const header = encodeGgufHeader(
    metadata,
    tensors.map((t) => ({ name: t.name, ggmlType: t.ggmlType, ne: t.ne, size: t.data.length })),
    alignment,
  );
  await writeFileAtomic(
    path,
    async (fh) => {
      const writeAt = async (data: Uint8Array, pos: number): Promise<void> => {
        for (let at = 0; at < data.length;) at += (await fh.write(data, at, data.length - at, pos + at)).bytesWritten;
      };
      await writeAt(header.bytes, 0);
      for (const [i, t] of tensors.entries())
        await writeAt(t.data, header.bytes.length + (header.offsets[i] as number));
      await fh.truncate(header.bytes.length + header.dataSize); // the padding: zeros
    },
    opts,
  );
}

/**
 * Dequantizes Q8_0: blocks of 34 bytes, an f16 scale d then 32 int8 q, each value d × q.
 *
 * @param bytes exactly the tensor's data: elements / 32 × 34 bytes
 * @param elements a multiple of 32
 * @throws ModelsealError INVALID_ARGUMENT if the count is not whole blocks or the length differs
 */
export function dequantizeQ8_0(bytes: Uint8Array, elements: number): Float32Array {
  if (!(bytes instanceof Uint8Array)) throw fail('Q8_0 data must be a Uint8Array');
  const size = ggmlTensorBytes(GGML_TYPE.Q8_0, elements);
  if (bytes.length !== size) throw fail(`${elements} Q8_0 elements take ${size} bytes, got ${bytes.length}`);
  const out = new Float32Array(elements);
  dequantizeBlocks('Q8_0', bytes, out);
  return out;
}
