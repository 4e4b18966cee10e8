/**
 * Exact tensor counts from checkpoint headers alone: one safetensors file, a sharded Hugging Face
 * index, or one GGUF file. No tensor data is read (the GGUF reader reads at most the header, or the
 * first MiB of a small file). Every failure is a CHECKPOINT_INVALID naming the file.
 */
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, normalize, sep } from 'node:path';
import { ModelsealError } from '../../errors.js';
import { ioError } from '../../io/atomic.js';
import { readGgufHeader, type GgufFile } from '../../formats/gguf.js';
import { readSafetensorsHeader } from '../../formats/safetensors.js';

/** The counted weights: element counts, never bytes. */
export interface WeightCount {
  parameters: number;
  tensors: number;
  /** Parameters per dtype ("BF16", "Q4_K", …). */
  dtypes: Record<string, number>;
  format: 'safetensors' | 'gguf';
  /** The weight files read, relative to the checkpoint folder (or the file's own name). */
  files: string[];
  /** A GGUF file's architecture metadata under config.json's names; absent for safetensors. */
  architecture?: Record<string, unknown>;
}

/** One tensor as the counters see it. */
interface Counted {
  name: string;
  dtype: string;
  shape: readonly number[];
}

/** Headers read at once: enough to hide latency on a 1,000-shard index, few enough to stay under fd limits. */
export const SHARD_CONCURRENCY = 32;

/** A CHECKPOINT_INVALID error; `cause` kept. */
export function checkpointInvalid(message: string, cause?: unknown, details?: Record<string, unknown>): ModelsealError {
  return new ModelsealError('CHECKPOINT_INVALID', message, {
    ...(cause === undefined ? {} : { cause }),
    ...(details === undefined ? {} : { details }),
  });
}

function elements(shape: readonly number[]): number {
  return shape.reduce((a, d) => a * d, 1);
}

/** Parameters, tensors and per-dtype counts of `tensors`. */
function tally(tensors: Iterable<Counted>, format: WeightCount['format'], files: string[]): WeightCount {
  const dtypes: Record<string, number> = {};
  let parameters = 0;
  let count = 0;
  for (const t of tensors) {
    const n = elements(t.shape);
    parameters += n;
    count++;
    dtypes[t.dtype] = (dtypes[t.dtype] ?? 0) + n;
  }
  if (count === 0) throw checkpointInvalid(`${files.join(', ')} holds no tensors: there are no weights to classify`);
  return { parameters, tensors: count, dtypes, format, files };
}

/** Refuses what is not a regular file (a fifo would block the reader); IO when it cannot be seen. */
async function mustBeFile(path: string, shown: string): Promise<void> {
  const s = await stat(path).catch((cause: unknown) => Promise.reject(ioError(`cannot read ${path}`, cause)));
  if (!s.isFile())
    throw checkpointInvalid(`${shown} is not a regular file: weights are files`, undefined, { file: shown });
}

/** The tensors of one safetensors file, as a CHECKPOINT_INVALID when its header is bad or it cannot be read. */
async function safetensorsTensors(path: string, shown: string): Promise<Counted[]> {
  await mustBeFile(path, shown);
  try {
    return (await readSafetensorsHeader(path)).tensors;
  } catch (cause) {
    const why = cause instanceof Error ? cause.message : String(cause);
    throw checkpointInvalid(
      `${shown} is not a readable safetensors file (${why}): re-download or re-export it`,
      cause,
      { file: shown },
    );
  }
}

/** Counts one .safetensors file. */
export async function countSafetensorsFile(path: string): Promise<WeightCount> {
  return tally(await safetensorsTensors(path, basename(path)), 'safetensors', [basename(path)]);
}

/** config.json's name for each per-architecture GGUF key (llama.cpp's `<arch>.<key>`). */
const GGUF_FIELDS: readonly [string, string][] = [
  ['embedding_length', 'hidden_size'],
  ['block_count', 'num_hidden_layers'],
  ['attention.head_count', 'num_attention_heads'],
  ['attention.head_count_kv', 'num_key_value_heads'],
  ['feed_forward_length', 'intermediate_size'],
  ['context_length', 'max_position_embeddings'],
  ['vocab_size', 'vocab_size'],
];

/** The architecture a GGUF file's metadata states, under config.json's names (`model_type` = general.architecture). */
export function ggufArchitecture(file: GgufFile): Record<string, unknown> | undefined {
  const get = (key: string) => file.metadata.get(key)?.value;
  const arch = get('general.architecture');
  if (typeof arch !== 'string') return undefined;
  const out: Record<string, unknown> = { model_type: arch };
  const name = get('general.name');
  if (typeof name === 'string') out.name = name;
  for (const [key, field] of GGUF_FIELDS) {
    const v = get(`${arch}.${key}`);
    if (typeof v === 'number' || typeof v === 'bigint') out[field] = Number(v);
  }
  const tokens = get('tokenizer.ggml.tokens') as { items?: unknown[] } | undefined;
  if (out.vocab_size === undefined && Array.isArray(tokens?.items)) out.vocab_size = tokens.items.length;
  return out;
}

/** Counts one .gguf file: quantized tensors count their elements (a Q4_K block of 256 is 256 parameters). */
export async function countGgufFile(path: string): Promise<WeightCount> {
  let file: GgufFile;
  await mustBeFile(path, basename(path));
  try {
    file = await readGgufHeader(path);
  } catch (cause) {
    const why = cause instanceof Error ? cause.message : String(cause);
    throw checkpointInvalid(
      `${basename(path)} is not a readable GGUF file (${why}): re-download or re-export it`,
      cause,
      {
        file: basename(path),
      },
    );
  }
  const tensors = file.tensors.map((t) => ({ name: t.name, dtype: t.typeName, shape: t.shape }));
  const architecture = ggufArchitecture(file);
  return { ...tally(tensors, 'gguf', [basename(path)]), ...(architecture && { architecture }) };
}

/** Runs `f` over `items`, at most `limit` at a time, results in order. */
async function mapBounded<T, R>(items: readonly T[], limit: number, f: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return out;
}

/** Merges the tensors of several files, each once: a name stored in two files is an error naming both. */
function mergeShards(shards: { file: string; tensors: Counted[] }[]): Map<string, Counted & { file: string }> {
  const all = new Map<string, Counted & { file: string }>();
  const duplicates: string[] = [];
  for (const s of shards) {
    for (const t of s.tensors) {
      const seen = all.get(t.name);
      if (seen) duplicates.push(`${t.name} (${seen.file} and ${s.file})`);
      else all.set(t.name, { ...t, file: s.file });
    }
  }
  if (duplicates.length > 0) {
    const shown =
      duplicates.slice(0, 5).join(', ') + (duplicates.length > 5 ? `, and ${duplicates.length - 5} more` : '');
    throw checkpointInvalid(
      `${duplicates.length} tensor name(s) are stored in more than one shard: ${shown}; ` +
        'a checkpoint stores each tensor once — remove the stray shard or use the index',
      undefined,
      { duplicates: duplicates.slice(0, 100) },
    );
  }
  return all;
}

/** The tensors of several safetensors files of one folder (headers read concurrently), each once, with their file. */
async function readShards(folder: string, files: readonly string[]): Promise<Map<string, Counted & { file: string }>> {
  const shards = await mapBounded(files, SHARD_CONCURRENCY, async (file) => ({
    file,
    tensors: await safetensorsTensors(join(folder, file), file),
  }));
  return mergeShards(shards);
}

/** Counts several safetensors files of one folder, each tensor once. */
export async function countSafetensorsFiles(folder: string, files: readonly string[]): Promise<WeightCount> {
  return tally((await readShards(folder, files)).values(), 'safetensors', [...files]);
}

/** The `weight_map` of a model.safetensors.index.json: tensor name → shard file, checked. */
async function readWeightMap(indexPath: string): Promise<Map<string, string>> {
  const shown = basename(indexPath);
  let index: unknown;
  try {
    index = JSON.parse(await readFile(indexPath, 'utf8'));
  } catch (cause) {
    const why = cause instanceof Error ? cause.message : String(cause);
    throw checkpointInvalid(`cannot read ${shown} (${why}): fix or re-download the index`, cause, { file: shown });
  }
  const map = (index as { weight_map?: unknown } | null)?.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map))
    throw checkpointInvalid(`${shown} has no "weight_map" object: it is not a safetensors index`, undefined, {
      file: shown,
    });
  const out = new Map<string, string>();
  for (const [name, file] of Object.entries(map)) {
    if (typeof file !== 'string' || !isPlainShardName(file))
      throw checkpointInvalid(
        `${shown} maps ${JSON.stringify(name)} to ${JSON.stringify(file)}, not a file name inside the folder`,
        undefined,
        { file: shown, tensor: name },
      );
    out.set(name, file);
  }
  if (out.size === 0) throw checkpointInvalid(`${shown} names no tensors: there are no weights to classify`);
  return out;
}

/** A shard name the index may use: a relative path that stays inside the folder. */
function isPlainShardName(file: string): boolean {
  const n = normalize(file);
  return file.length > 0 && !n.startsWith('..') && !n.startsWith(sep) && !n.includes(`${sep}..${sep}`) && n !== '.';
}

/**
 * Counts a sharded checkpoint from its index: every shard the index names must exist and hold the
 * tensors mapped to it; each tensor is counted once. Tensors a shard holds beyond the map count too.
 */
export async function countIndexedSafetensors(indexPath: string): Promise<WeightCount> {
  const folder = dirname(indexPath);
  const map = await readWeightMap(indexPath);
  const files = [...new Set(map.values())].sort();
  const missing: string[] = [];
  await mapBounded(files, SHARD_CONCURRENCY, async (file) => {
    const s = await stat(join(folder, file)).catch(() => null);
    if (!s?.isFile()) missing.push(file);
  });
  if (missing.length > 0) {
    missing.sort();
    throw checkpointInvalid(
      `${basename(indexPath)} names ${missing.length} shard(s) that are not in ${folder}: ` +
        `${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}; download the missing shards`,
      undefined,
      { missing: missing.slice(0, 100) },
    );
  }
  const stored = await readShards(folder, files);
  for (const [name, file] of map) {
    const holder = stored.get(name)?.file;
    if (holder !== file)
      throw checkpointInvalid(
        `${basename(indexPath)} maps ${name} to ${file}, but ` +
          (holder === undefined ? 'no shard holds it' : `it is stored in ${holder}`) +
          ': the index and the shards do not belong together',
        undefined,
        { tensor: name, file },
      );
  }
  return tally(stored.values(), 'safetensors', files);
}
