/**
 * Model weight files as the fingerprint sees them: the tensors of every safetensors and GGUF file
 * of a checkpoint (a file or a folder, sharded or not), read tensor by tensor.
 */
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { ModelsealError } from '../errors.js';
import { readSafetensorsHeader } from '../formats/safetensors.js';
import { readGgufHeader } from '../formats/gguf.js';
import { blockShape, canDequantize, dequantizeBlocks } from '../formats/quants.js';
import { collectInputs, type InputFile } from '../formats/checkpoint.js';
import { ioError } from '../io/atomic.js';
import { decodeFloats, DTYPE_BYTES, isFloatDtype } from '../formats/floats.js';
import { readFully, ShortReadError } from '../crypto/bulk.js';

export type WeightFormat = 'safetensors' | 'gguf';

export interface WeightTensor {
  name: string;
  /** safetensors dtype, or the GGUF type name (F32, F16, BF16, Q8_0, …). */
  dtype: string;
  /** Row-major, outermost first (GGUF dims reversed). */
  shape: number[];
  elements: number;
  /** Absolute byte offsets in the file. */
  start: number;
  end: number;
}

export interface WeightFile {
  /** Path inside the checkpoint (POSIX), or the file's name. */
  path: string;
  source: string;
  format: WeightFormat;
  size: number;
  tensors: WeightTensor[];
  /** safetensors `__metadata__` (empty for GGUF). */
  metadata: Record<string, string>;
}

export interface Checkpoint {
  kind: 'file' | 'folder';
  name: string;
  weights: WeightFile[];
  /** Every file of the checkpoint, weights included. */
  files: InputFile[];
}

export function weightFormat(path: string): WeightFormat | null {
  return path.endsWith('.safetensors') ? 'safetensors' : path.endsWith('.gguf') ? 'gguf' : null;
}

/** Tensors a fingerprint goes into: floats of two or more dimensions. */
export function isMarkable(t: WeightTensor): boolean {
  return isFloatDtype(t.dtype) && t.shape.length >= 2 && t.elements > 0;
}

export async function readWeightFile(source: string, path: string): Promise<WeightFile> {
  const format = weightFormat(path);
  if (format === 'safetensors') {
    const h = await readSafetensorsHeader(source);
    const size = h.tensors.reduce((a, t) => Math.max(a, t.end), h.dataOffset);
    return {
      path,
      source,
      format,
      size,
      metadata: { ...h.metadata },
      tensors: h.tensors.map((t) => ({
        name: t.name,
        dtype: t.dtype,
        shape: t.shape,
        elements: t.shape.reduce((a, b) => a * b, 1),
        start: t.start,
        end: t.end,
      })),
    };
  }
  if (format === 'gguf') {
    const g = await readGgufHeader(source);
    return {
      path,
      source,
      format,
      size: g.tensors.reduce((a, t) => Math.max(a, t.end), g.dataOffset),
      metadata: {},
      tensors: g.tensors.map((t) => ({
        name: t.name,
        dtype: t.typeName,
        shape: t.shape,
        elements: t.ne.reduce((a, b) => a * b, 1),
        start: t.start,
        end: t.end,
      })),
    };
  }
  throw new ModelsealError('INVALID_ARGUMENT', `${path}: not a weight file (expected .safetensors or .gguf)`);
}

/**
 * Reads the weight files of a checkpoint. A sharded checkpoint's index
 * (`*.safetensors.index.json`) must agree with its shards: every tensor it maps is in that shard.
 */
export async function readCheckpoint(input: string): Promise<Checkpoint> {
  const inputs = await collectInputs(input);
  const weights: WeightFile[] = [];
  for (const f of inputs.files) if (weightFormat(f.path)) weights.push(await readWeightFile(f.source, f.path));
  for (const f of inputs.files.filter((x) => x.path.endsWith('.safetensors.index.json'))) {
    let map: unknown;
    try {
      // A `null` document throws here too.
      map = (JSON.parse(await readFile(f.source, 'utf8')) as { weight_map?: unknown }).weight_map;
    } catch (cause) {
      throw new ModelsealError('INVALID_ARGUMENT', `${f.path}: not a JSON index with a weight_map`, { cause });
    }
    if (!map || typeof map !== 'object') throw new ModelsealError('INVALID_ARGUMENT', `${f.path}: no weight_map`);
    const dir = f.path.includes('/') ? f.path.slice(0, f.path.lastIndexOf('/') + 1) : '';
    for (const [name, shard] of Object.entries(map)) {
      const w = weights.find((x) => x.path === dir + String(shard));
      if (!w)
        throw new ModelsealError(
          'INVALID_ARGUMENT',
          `${f.path}: tensor ${name} is mapped to ${String(shard)}, which is not in the checkpoint`,
        );
      if (!w.tensors.some((t) => t.name === name))
        throw new ModelsealError('INVALID_ARGUMENT', `${f.path}: tensor ${name} is not in its shard ${String(shard)}`);
    }
  }
  if (weights.length === 0)
    throw new ModelsealError('INVALID_ARGUMENT', `${input}: no .safetensors or .gguf weight files`);
  return { kind: inputs.kind, name: inputs.name, weights, files: inputs.files };
}

/** Reads bytes [start, end) of a file. */
export function readRange(source: string, start: number, end: number): Uint8Array {
  return withRanges(source, (read) => read(start, end));
}

/** Calls `f` with a reader of byte ranges of `source`, the file opened once for all of them. */
function withRanges<T>(source: string, f: (read: (start: number, end: number) => Uint8Array) => T): T {
  let fd: number;
  try {
    fd = openSync(source, 'r');
  } catch (cause) {
    throw ioError(`cannot read ${source}`, cause);
  }
  try {
    return f((start, end) => {
      const out = new Uint8Array(end - start);
      try {
        readFully(fd, out, start);
      } catch (e) {
        if (e instanceof ShortReadError)
          throw new ModelsealError(
            'INVALID_ARGUMENT',
            `${source}: the file ends inside a tensor (bytes ${start}–${end})`,
          );
        throw ioError(`cannot read ${source}`, e);
      }
      return out;
    });
  } finally {
    closeSync(fd);
  }
}

/** Whether trace can read a tensor's values: F32, F16, BF16, and the GGUF block types of src/formats/quants.ts. */
export function isReadable(t: WeightTensor): boolean {
  return isFloatDtype(t.dtype) || canDequantize(t.dtype);
}

/** Bytes of quantized data read at a time: whole blocks, dequantized straight into the output. */
const QUANT_CHUNK = 1 << 20;

/** A tensor's values as float32 (block types dequantized); null when not {@link isReadable}. */
export function readTensorValues(file: WeightFile, t: WeightTensor): Float32Array | null {
  const dtype = t.dtype;
  if (isFloatDtype(dtype)) return decodeFloats(dtype, readRange(file.source, t.start, t.end), 0, t.elements);
  const block = blockShape(dtype);
  if (!block) return null;
  const out = new Float32Array(t.elements);
  const step = Math.max(1, Math.floor(QUANT_CHUNK / block.bytes)) * block.bytes;
  for (let at = t.start, o = 0; at < t.end; at += step) {
    o += dequantizeBlocks(dtype, readRange(file.source, at, Math.min(at + step, t.end)), out, o);
  }
  return out;
}

/** A tensor's values, read a range or a few positions at a time: what trace holds is a slice, never the tensor. */
export interface TensorReader {
  /** Values of elements [e0, e1). */
  range(e0: number, e1: number): Float32Array;
  /** Values at the given element positions. */
  at(positions: readonly number[]): Float32Array;
}

/**
 * A reader of a tensor's values; null when not {@link isReadable}. F32, F16 and BF16 are read
 * straight from the file, range by range; a block-quantized type (GGUF) by the whole blocks that
 * cover the range or the position: what the caller holds is a slice, never the tensor.
 */
export function tensorReader(file: WeightFile, t: WeightTensor): TensorReader | null {
  const dtype = t.dtype;
  if (!isReadable(t)) return null;
  if (!isFloatDtype(dtype)) {
    const { elements: E, bytes: B } = blockShape(dtype)!;
    // Elements [e0, e1) lie in blocks floor(e0/E) … ceil(e1/E)-1; a tensor's data is whole blocks.
    const blocks = (read: (start: number, end: number) => Uint8Array, e0: number, e1: number) => {
      const b0 = Math.floor(e0 / E);
      const b1 = Math.ceil(e1 / E);
      const out = new Float32Array((b1 - b0) * E);
      dequantizeBlocks(dtype, read(t.start + b0 * B, t.start + b1 * B), out);
      return out.subarray(e0 - b0 * E, e1 - b0 * E);
    };
    return {
      range: (e0, e1) => withRanges(file.source, (read) => blocks(read, e0, e1)),
      at: (ps) =>
        withRanges(file.source, (read) => {
          let cached: { block: number; values: Float32Array } | undefined;
          return Float32Array.from(ps, (i) => {
            const block = Math.floor(i / E);
            if (cached?.block !== block) cached = { block, values: blocks(read, block * E, block * E + E) };
            return cached.values[i - block * E]!;
          });
        }),
    };
  }
  const es = DTYPE_BYTES[dtype];
  return {
    range: (e0, e1) => decodeFloats(dtype, readRange(file.source, t.start + e0 * es, t.start + e1 * es), 0, e1 - e0),
    // One read per position: a sample of a few thousand scattered values costs milliseconds, not the tensor.
    at: (ps) =>
      withRanges(file.source, (read) =>
        Float32Array.from(ps, (i) => decodeFloats(dtype, read(t.start + i * es, t.start + (i + 1) * es), 0, 1)[0]!),
      ),
  };
}
