/** Encoding a GGUF header and writing a whole GGUF file; the rules are in gguf.ts. */
import { writeFileAtomic } from '../io/atomic.js';
import {
  alignmentOf,
  alignUp,
  checkAlignment,
  checkKey,
  claimTensorName,
  describe,
  fail,
  ggmlTypeName,
  GGUF_LIMITS,
  GGUF_VALUE_TYPE,
  HOST_LE,
  NUMERIC,
  swapOnBigEndian,
  tensorSize,
  VALUE_NAMES,
  type GgufArray,
  type GgufNumericArray,
  type GgufValue,
} from './gguf-layout.js';

const UTF8_OUT = new TextEncoder();
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

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
    w.numbers(one);
    return;
  }
  if (type === GGUF_VALUE_TYPE.STRING) {
    w.string(value, what, GGUF_LIMITS.stringBytes);
    return;
  }
  if (type === GGUF_VALUE_TYPE.BOOL) {
    if (typeof value !== 'boolean') throw fail(`${what} must be a boolean, got ${describe(value)}`);
    w.bytes(Uint8Array.of(value ? 1 : 0));
    return;
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
  if (typed) {
    w.numbers(list as GgufNumericArray);
    return;
  }
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
  // A JavaScript caller may put anything in the Map: the value is checked before use.
  for (const [key, v] of metadata as Map<string, GgufValue | null>) {
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
    w.string((t as typeof t | undefined)?.name, 'a tensor name', GGUF_LIMITS.tensorNameBytes);
    claimTensorName(names, t.name);
    const size = tensorSize(t.name, t.ggmlType, t.ne);
    if (t.size !== size)
      throw fail(
        `tensor ${describe(t.name)} has ${describe(t.size)} bytes but ${t.ne.join(' × ')} ` +
          `${ggmlTypeName(t.ggmlType)} take ${size}`,
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
    if (!((t as typeof t | undefined)?.data instanceof Uint8Array))
      throw fail(`the data of tensor ${i} must be a Uint8Array`);
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
      for (const [i, t] of tensors.entries()) await writeAt(t.data, header.bytes.length + header.offsets[i]!);
      await fh.truncate(header.bytes.length + header.dataSize); // the padding: zeros
    },
    opts,
  );
}
