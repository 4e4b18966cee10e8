/**
 * A strict reader for the header of a safetensors file.
 *
 * Layout (https://github.com/huggingface/safetensors#format):
 *
 *   8 bytes    N, the header length, unsigned 64-bit little-endian
 *   N bytes    a UTF-8 JSON object: `{"__metadata__": {str: str}, "<name>": {"dtype", "shape",
 *              "data_offsets": [begin, end]}, ...}`, starting with `{` and padded with spaces (0x20)
 *   rest       the data section; offsets are relative to its start
 *
 * Strict means this parser refuses whatever the reference implementation refuses, and also what
 * it lets through but two readers could interpret differently: duplicate keys (the reference keeps
 * the last), unknown fields in a tensor entry, padding other than spaces, a `null` __metadata__.
 * The data section must be exactly covered by the tensors, in any order, with no gap and no
 * overlap, as the reference requires. Every failure throws a ModelsealError with code
 * INVALID_ARGUMENT whose message names the problem.
 *
 * Only the header is read; tensor data is never touched.
 */
import { open } from 'node:fs/promises';
import { ModelsealError } from '../errors.js';

/** One tensor of a safetensors file, with absolute byte offsets in the file. */
export interface TensorInfo {
  /** The tensor's key in the header. */
  name: string;
  /** The safetensors dtype name, e.g. `F32`, `BF16` (one of {@link SAFETENSORS_DTYPE_BITS}). */
  dtype: string;
  /** Dimensions, outermost first; `[]` for a scalar. */
  shape: number[];
  /** Absolute offset in the file of the tensor's first byte. */
  start: number;
  /** Absolute offset in the file just past the tensor's last byte (`end - start` is its size). */
  end: number;
}

/** The parsed header of a safetensors file. */
export interface SafetensorsHeader {
  /** N: the length in bytes of the JSON header (padding included), from the 8-byte prefix. */
  headerLength: number;
  /** Absolute offset of the data section: 8 + N. */
  dataOffset: number;
  /** The `__metadata__` string map (empty when absent). A prototype-less object. */
  metadata: Record<string, string>;
  /** The tensors in file order (by start offset; zero-size tensors sharing an offset by name). */
  tensors: TensorInfo[];
}

/** Largest header accepted: 100 MiB. */
export const SAFETENSORS_MAX_HEADER_LENGTH = 100 * 1024 * 1024;

/**
 * Bits per element of every dtype the safetensors format defines (as of safetensors 0.8).
 * Sub-byte types (F4, F6_*) are packed; a tensor of them must fill whole bytes.
 */
export const SAFETENSORS_DTYPE_BITS: Readonly<Record<string, number>> = Object.freeze({
  BOOL: 8,
  F4: 4,
  F6_E2M3: 6,
  F6_E3M2: 6,
  U8: 8,
  I8: 8,
  F8_E5M2: 8,
  F8_E4M3: 8,
  F8_E8M0: 8,
  F8_E4M3FNUZ: 8,
  F8_E5M2FNUZ: 8,
  I16: 16,
  U16: 16,
  F16: 16,
  BF16: 16,
  I32: 32,
  U32: 32,
  F32: 32,
  C64: 64,
  F64: 64,
  I64: 64,
  U64: 64,
});

const METADATA_KEY = '__metadata__';
const TENSOR_FIELDS = new Set(['dtype', 'shape', 'data_offsets']);

function fail(message: string, details?: Record<string, unknown>): ModelsealError {
  return new ModelsealError(
    'INVALID_ARGUMENT',
    `safetensors: ${message}`,
    details === undefined ? undefined : { details },
  );
}

function hasOwn(o: object, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, key);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Reads N, the header length, from the first 8 bytes of a safetensors file.
 *
 * @param first8 at least the first 8 bytes of the file (more is fine; only 8 are read)
 * @returns N; the header occupies bytes [8, 8 + N) and the data section starts at 8 + N
 * @throws ModelsealError INVALID_ARGUMENT if fewer than 8 bytes are given, or N is below 2 (the
 *   size of `{}`) or above {@link SAFETENSORS_MAX_HEADER_LENGTH}
 */
export function safetensorsHeaderLength(first8: Uint8Array): number {
  if (!(first8 instanceof Uint8Array)) throw fail('expected a Uint8Array holding the first 8 bytes of the file');
  if (first8.length < 8) {
    throw fail(`the file starts with an 8-byte header length, but only ${first8.length} bytes were given`);
  }
  const n = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(SAFETENSORS_MAX_HEADER_LENGTH)) {
    throw fail(`header length ${n} exceeds the limit of ${SAFETENSORS_MAX_HEADER_LENGTH} bytes`, {
      headerLength: n.toString(),
      limit: SAFETENSORS_MAX_HEADER_LENGTH,
    });
  }
  if (n < 2n) throw fail(`header length ${n} is too small to hold a JSON object`);
  return Number(n);
}

/**
 * Parses and validates the header of a safetensors file.
 *
 * @param bytes the start of the file: at least 8 bytes, then at least 8 + N where N is
 *   {@link safetensorsHeaderLength}; the whole file is fine too
 * @param fileSize the size of the whole file in bytes, against which offsets are checked
 * @returns the header with absolute tensor offsets, tensors in file order
 * @throws ModelsealError INVALID_ARGUMENT naming the first problem found: header length beyond the
 *   file or above the limit, invalid UTF-8 or JSON, duplicate keys, non-object header, bad
 *   `__metadata__`, unknown dtype, bad shape or offsets, byte count not matching shape × dtype,
 *   tensor outside the data section, overlapping tensors, or data bytes no tensor covers
 */
export function parseSafetensorsHeader(bytes: Uint8Array, fileSize: number): SafetensorsHeader {
  if (!(bytes instanceof Uint8Array)) throw fail('expected a Uint8Array holding the start of the file');
  if (!Number.isSafeInteger(fileSize) || fileSize < 0) {
    throw fail(`file size must be a non-negative integer, got ${String(fileSize)}`);
  }
  if (fileSize < 8) throw fail(`the file is ${fileSize} bytes, shorter than its 8-byte header length`);
  if (bytes.length > fileSize) {
    throw fail(`${bytes.length} bytes were given but the file size is said to be ${fileSize}`);
  }
  const headerLength = safetensorsHeaderLength(bytes);
  const dataOffset = 8 + headerLength;
  if (dataOffset > fileSize) {
    throw fail(`header length ${headerLength} runs past the end of the file (${fileSize} bytes)`, {
      headerLength,
      fileSize,
    });
  }
  if (bytes.length < dataOffset) {
    throw fail(`the header needs the first ${dataOffset} bytes of the file, but only ${bytes.length} were given`);
  }
  const dataLength = fileSize - dataOffset;
  const raw = bytes.subarray(8, dataOffset);

  if (raw[0] !== 0x7b) throw fail('the header does not start with "{"');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(raw);
  } catch (cause) {
    throw new ModelsealError('INVALID_ARGUMENT', 'safetensors: the header is not valid UTF-8', { cause });
  }
  // The spec allows trailing padding with spaces (0x20), and nothing else, after the object.
  let last = text.length;
  while (last > 0 && text.charCodeAt(last - 1) === 0x20) last--;
  if (text.charCodeAt(last - 1) !== 0x7d) {
    throw fail('the header JSON must end with "}" followed only by space padding');
  }
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new ModelsealError('INVALID_ARGUMENT', `safetensors: the header is not valid JSON (${reason})`, { cause });
  }
  if (!isPlainObject(root)) throw fail('the header must be a JSON object');
  checkJsonStrictness(text);

  const metadata: Record<string, string> = Object.create(null) as Record<string, string>;
  const tensors: TensorInfo[] = [];
  for (const name of Object.keys(root)) {
    const value = root[name];
    if (name === METADATA_KEY) {
      if (!isPlainObject(value)) throw fail('__metadata__ must be an object mapping strings to strings');
      for (const key of Object.keys(value)) {
        const v = value[key];
        if (typeof v !== 'string') {
          throw fail(`__metadata__ value of ${JSON.stringify(key)} must be a string, got ${describe(v)}`);
        }
        metadata[key] = v;
      }
      continue;
    }
    tensors.push(parseTensorEntry(name, value, dataOffset, dataLength));
  }

  // File order; zero-size tensors can share an offset, so break ties by end, then by name.
  tensors.sort((a, b) => a.start - b.start || a.end - b.end || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  let covered = dataOffset;
  let previous: TensorInfo | undefined;
  for (const t of tensors) {
    if (t.start < covered) {
      throw fail(
        `tensor ${JSON.stringify(t.name)} overlaps tensor ${JSON.stringify(previous?.name)} ` +
          `(data bytes ${t.start - dataOffset}..${covered - dataOffset})`,
        { tensor: t.name, other: previous?.name },
      );
    }
    if (t.start > covered) {
      throw fail(
        `data bytes ${covered - dataOffset}..${t.start - dataOffset} belong to no tensor ` +
          `(gap before ${JSON.stringify(t.name)})`,
        { tensor: t.name },
      );
    }
    covered = t.end;
    previous = t;
  }
  if (covered !== fileSize) {
    throw fail(
      `the tensors cover ${covered - dataOffset} of the ${dataLength} bytes of the data section; ` +
        `${fileSize - covered} trailing bytes belong to no tensor`,
      { covered: covered - dataOffset, dataLength },
    );
  }
  return { headerLength, dataOffset, metadata, tensors };
}

function parseTensorEntry(name: string, value: unknown, dataOffset: number, dataLength: number): TensorInfo {
  const where = `tensor ${JSON.stringify(name)}`;
  if (!isPlainObject(value)) throw fail(`${where} must be an object, got ${describe(value)}`, { tensor: name });
  for (const key of Object.keys(value)) {
    if (!TENSOR_FIELDS.has(key)) throw fail(`${where} has an unknown field ${JSON.stringify(key)}`, { tensor: name });
  }
  for (const key of TENSOR_FIELDS) {
    if (!hasOwn(value, key)) throw fail(`${where} has no ${key}`, { tensor: name });
  }
  const { dtype, shape, data_offsets: offsets } = value;
  if (typeof dtype !== 'string' || !hasOwn(SAFETENSORS_DTYPE_BITS, dtype)) {
    throw fail(`${where} has an unknown dtype ${describe(dtype)}`, { tensor: name });
  }
  const bits = SAFETENSORS_DTYPE_BITS[dtype]!;
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    throw fail(`${where} has an invalid shape ${describe(shape)}: expected an array of non-negative integers`, {
      tensor: name,
    });
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
    throw fail(`${where} has invalid data_offsets ${describe(offsets)}: expected [begin, end]`, { tensor: name });
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end)
    throw fail(`${where} has data_offsets [${begin}, ${end}] that end before they begin`, { tensor: name });
  if (end > dataLength) {
    throw fail(`${where} has data_offsets [${begin}, ${end}] outside the data section (${dataLength} bytes)`, {
      tensor: name,
      dataLength,
    });
  }
  const totalBits = shape.reduce((n, d) => n * BigInt(d), 1n) * BigInt(bits);
  if (totalBits % 8n !== 0n) {
    throw fail(
      `${where}: ${shape.length === 0 ? 'a scalar' : `shape [${shape.join(', ')}]`} of ${dtype} ` +
        'does not fill whole bytes',
      {
        tensor: name,
      },
    );
  }
  const expected = totalBits / 8n;
  if (expected !== BigInt(end - begin)) {
    throw fail(`${where} has ${end - begin} bytes but shape [${shape.join(', ')}] of ${dtype} needs ${expected}`, {
      tensor: name,
      bytes: end - begin,
      expected: expected.toString(),
    });
  }
  return { name, dtype, shape: [...shape], start: dataOffset + begin, end: dataOffset + end };
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function describe(v: unknown): string {
  if (v === undefined) return 'undefined';
  const s = JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/**
 * Checks what JSON.parse lets through silently, on text it has already accepted: a key repeated
 * in one object (JSON.parse keeps the last), and numbers that are not plain non-negative
 * integers (`1.0`, `1e3`, `-0`), which the reference implementation refuses as sizes.
 */
function checkJsonStrictness(text: string): void {
  const objects: (Set<string> | null)[] = []; // a key set per open object, null per open array
  let expectKey = false;
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1;
      while (text.charCodeAt(j) !== 0x22) j += text.charCodeAt(j) === 0x5c /* \ */ ? 2 : 1;
      if (expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        const keys = objects[objects.length - 1];
        if (keys?.has(key)) throw fail(`the header repeats the key ${JSON.stringify(key)}`, { key });
        keys?.add(key);
        expectKey = false;
      }
      i = j + 1;
    } else if (c === 0x7b /* { */) {
      objects.push(new Set());
      expectKey = true;
      i++;
    } else if (c === 0x5b /* [ */) {
      objects.push(null);
      i++;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      objects.pop();
      i++;
    } else if (c === 0x2c /* , */) {
      expectKey = objects[objects.length - 1] != null;
      i++;
    } else if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) {
      let j = i + 1;
      while (j < text.length && /[0-9eE.+-]/.test(text.charAt(j))) j++;
      const token = text.slice(i, j);
      if (!/^(0|[1-9][0-9]*)$/.test(token)) {
        throw fail(`the header holds the number ${token}; only non-negative integers are allowed`);
      }
      i = j;
    } else {
      i++; // whitespace, ':', true, false, null
    }
  }
}

/**
 * Encodes a safetensors header: `__metadata__` first (when not empty), then the tensors in the
 * given order with data offsets relative to the data section, padded with spaces to a multiple of
 * 8 bytes as the reference writer does.
 *
 * @returns the whole prefix of the file: 8-byte length, then the padded JSON
 */
export function encodeSafetensorsHeader(
  metadata: Readonly<Record<string, string>>,
  tensors: readonly { name: string; dtype: string; shape: readonly number[]; begin: number; end: number }[],
): Uint8Array {
  const obj: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) obj[METADATA_KEY] = { ...metadata };
  for (const t of tensors) obj[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [t.begin, t.end] };
  const json = Buffer.from(JSON.stringify(obj), 'utf8');
  const n = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + n).fill(0x20, 8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  out.set(json, 8);
  return out;
}

/** Reads and parses the header of the safetensors file at `path` (only the header bytes are read). */
export async function readSafetensorsHeader(path: string): Promise<SafetensorsHeader> {
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    const first = new Uint8Array(8);
    const { bytesRead } = await fh.read(first, 0, 8, 0);
    const n = safetensorsHeaderLength(first.subarray(0, bytesRead));
    if (8 + n > size) throw fail(`header length ${n} runs past the end of the ${size}-byte file`);
    const bytes = new Uint8Array(8 + n);
    await fh.read(bytes, 0, 8 + n, 0);
    return parseSafetensorsHeader(bytes, size);
  } finally {
    await fh.close();
  }
}
