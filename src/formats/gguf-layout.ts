/**
 * GGUF's vocabulary: value and tensor type ids, block sizes, limits, the parsed-header types, and the
 * checks the reader (gguf-read.ts) and writer (gguf-write.ts) share so that both refuse the same
 * things. The format and the rules are described in gguf.ts.
 */
import { ModelsealError } from '../errors.js';
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
/** @internal The name of each metadata value type id. */
export const VALUE_NAMES = new Map<number, string>(Object.entries(GGUF_VALUE_TYPE).map(([k, v]) => [v, k]));

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
/** @internal A typed-array constructor for one numeric metadata type. */
export type NumericArrayType = {
  new (buffer: ArrayBuffer): GgufNumericArray;
  readonly BYTES_PER_ELEMENT: number;
  readonly name: string;
};
/** @internal The typed array of each numeric metadata type id. */
export const NUMERIC = new Map<number, NumericArrayType>([
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
  /**
   * Numeric types: the typed array of that type (BigUint64Array for UINT64...); BOOL: boolean[]; STRING: string[];
   * ARRAY: GgufArray[].
   */
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

/** @internal True on a little-endian host. */
export const HOST_LE = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** @internal An INVALID_ARGUMENT error prefixed `gguf:`. */
export function fail(message: string, details?: Record<string, unknown>): ModelsealError {
  return new ModelsealError('INVALID_ARGUMENT', `gguf: ${message}`, details === undefined ? undefined : { details });
}

/** @internal A short printable form of a value for error messages. */
export function describe(v: unknown): string {
  // JSON.stringify returns undefined for undefined, functions and symbols, whatever its type says.
  const s = typeof v === 'bigint' ? `${v}n` : ((JSON.stringify(v) as string | undefined) ?? String(v));
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** GGUF is little-endian and typed arrays use the host's order: reverse each item on a big-endian host. */
export function swapOnBigEndian<T extends Uint8Array>(b: T, size: number): T {
  if (!HOST_LE && size > 1) for (let i = 0; i < b.length; i += size) b.subarray(i, i + size).reverse();
  return b;
}

/** @internal n rounded up to a multiple of alignment. */
export function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

/** @internal Returns `a` if it is a power of two that fits a u32, else throws. */
export function checkAlignment(a: unknown, what: string): number {
  if (typeof a !== 'number' || !Number.isInteger(a) || a < 1 || a > 2 ** 31 || (a & (a - 1)) !== 0) {
    throw fail(`${what} must be a power of two that fits a uint32, got ${describe(a)}`);
  }
  return a;
}

/** @internal Throws unless a metadata key is non-empty printable ASCII. */
export function checkKey(key: string): void {
  if (!/^[\x20-\x7e]+$/.test(key)) throw fail(`metadata key ${describe(key)} must be non-empty printable ASCII`);
}

/** Checks a tensor name and that `names` does not hold it yet, then adds it. */
export function claimTensorName(names: Set<string>, name: string): void {
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
export function tensorSize(name: string, ggmlType: number, ne: readonly unknown[]): number {
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
      `${where} of type ${ggmlTypeName(ggmlType)} has rows of ${ne[0]} elements, not a multiple of the block size ` +
        `${block[0]}`,
    );
  }
  return ggmlTensorBytes(ggmlType, elements);
}

/** @internal general.alignment, checked, or 32 when absent. */
export function alignmentOf(metadata: Map<string, GgufValue>): number {
  const a = metadata.get('general.alignment');
  if (a === undefined) return 32;
  if (a.type !== GGUF_VALUE_TYPE.UINT32)
    throw fail(`general.alignment must be a UINT32, got a ${VALUE_NAMES.get(a.type) ?? a.type}`);
  return checkAlignment(a.value, 'general.alignment');
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
