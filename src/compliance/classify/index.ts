/**
 * Classification of a checkpoint from its headers alone: exact parameters per dtype, the
 * architecture config.json states and the count it implies, the training compute declared or
 * estimated, then the determinations of the rule packs. A sealed package gives the record `seal`
 * bound into it. docs/CLASSIFICATION.md.
 */
import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelsealError } from '../../errors.js';
import type { ClassificationRecord, ModelFacts } from '../../format/classification.js';
import { ioError } from '../../io/atomic.js';
import { determine, type DetermineOptions } from '../rules/index.js';
import { architectureOf, configParameters, readConfig } from './config.js';
import { trainingCompute } from './compute.js';
import { readPackageClassification } from './package.js';
import type { Classification } from './types.js';
import {
  checkpointInvalid,
  countGgufFile,
  countIndexedSafetensors,
  countSafetensorsFile,
  countSafetensorsFiles,
  type WeightCount,
} from './weights.js';

export { decimalInteger } from './compute.js';
export { recordOfHeader, type PackageDigests } from './package.js';
export { writeDatasheet, renderDatasheet } from './datasheet.js';
export type { Classification } from './types.js';

/** What the caller declares about a checkpoint, and what to determine. */
export interface ClassifyOptions extends DetermineOptions {
  /** Training tokens D: compute is estimated as 6·N·D (a number, or a decimal string such as "15e12"). */
  tokens?: number | string;
  /** Declared training compute in operations (a number, or a decimal string such as "2e26"). */
  trainingFlops?: number | string;
  weights?: 'open' | 'closed';
  /** The clock (default: now). */
  now?: () => Date;
}

const INDEX = 'model.safetensors.index.json';

/** The weights of a folder: its index if it has one, else every top-level .safetensors, else one .gguf. */
async function countFolder(folder: string): Promise<{ count: WeightCount; index: boolean }> {
  const names = await readdir(folder).catch((cause: unknown) =>
    Promise.reject(ioError(`cannot read ${folder}`, cause)),
  );
  if (names.includes(INDEX)) return { count: await countIndexedSafetensors(join(folder, INDEX)), index: true };
  const safetensors = names.filter((n) => n.endsWith('.safetensors')).sort();
  if (safetensors.length > 0) return { count: await countSafetensorsFiles(folder, safetensors), index: false };
  const gguf = names.filter((n) => n.endsWith('.gguf'));
  if (gguf.length === 1) return { count: await countGgufFile(join(folder, gguf[0]!)), index: false };
  throw checkpointInvalid(
    gguf.length > 1
      ? `${folder} holds ${gguf.length} .gguf files: classify each one on its own`
      : `${folder} holds no weights (no ${INDEX}, .safetensors or .gguf file)`,
    undefined,
    { path: folder },
  );
}

type Kind = 'folder' | 'safetensors' | 'gguf' | 'package';

/** What the first bytes of a file say it is, or null. */
function sniff(head: Uint8Array, size: number): Kind | null {
  const text = (from: number, to: number) => String.fromCharCode(...head.subarray(from, to));
  if (text(0, 4) === 'GGUF') return 'gguf';
  if (text(257, 262) === 'ustar') return 'package';
  if (head.length > 8 && head[8] === 0x7b) {
    const n = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
    if (n >= 2n && n <= BigInt(size - 8)) return 'safetensors';
  }
  return null;
}

/** What `path` is: a folder, or a file told apart by its name (.safetensors, .gguf, .mseal), else its first bytes. */
async function kindOf(path: string): Promise<Kind> {
  const s = await stat(path).catch((cause: unknown) => Promise.reject(ioError(`cannot read ${path}`, cause)));
  if (s.isDirectory()) return 'folder';
  // A fifo or device would block or never end: only regular files are weights.
  if (!s.isFile())
    throw new ModelsealError('INVALID_ARGUMENT', `${path} is not a regular file or a folder: nothing to classify`);
  for (const k of ['safetensors', 'gguf'] as const) if (path.endsWith(`.${k}`)) return k;
  if (path.endsWith('.mseal')) return 'package';
  const head = new Uint8Array(512);
  const fh = await open(path, 'r').catch((cause: unknown) => Promise.reject(ioError(`cannot read ${path}`, cause)));
  try {
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    const kind = sniff(head.subarray(0, bytesRead), s.size);
    if (kind !== null) return kind;
  } finally {
    await fh.close();
  }
  throw new ModelsealError(
    'INVALID_ARGUMENT',
    `${path}: expected a checkpoint folder, a .safetensors or .gguf file, or a .mseal package`,
  );
}

/** The weights at `path`, of kind `kind`. */
async function countPath(path: string, kind: Exclude<Kind, 'package'>) {
  if (kind === 'folder') return { ...(await countFolder(path)), folder: path };
  const count = kind === 'gguf' ? await countGgufFile(path) : await countSafetensorsFile(path);
  return { count, folder: null, index: false };
}

/** The facts of the checkpoint at `path` and what they were read from. */
async function checkpointFacts(path: string, kind: Exclude<Kind, 'package'>, options: ClassifyOptions) {
  const { count, folder, index } = await countPath(path, kind);
  const config = folder === null ? null : await readConfig(join(folder, 'config.json'));
  const implied = config === null ? null : configParameters(config);
  const facts: ModelFacts = {
    parameters: count.parameters,
    tensors: count.tensors,
    dtypes: count.dtypes,
    format: count.format,
    architecture: config === null ? (count.architecture ?? null) : architectureOf(config),
    configParameters: implied,
    trainingCompute: trainingCompute(count.parameters, options),
    weights: options.weights ?? 'unknown',
  };
  const source = { kind: 'checkpoint' as const, path, files: count.files, config: config !== null, index };
  return { facts, source };
}

/** The mismatch between the count config.json implies and the one read, or null. */
export function configMismatchOf(facts: ModelFacts): Classification['configMismatch'] {
  if (facts.configParameters === null || facts.configParameters === facts.parameters) return null;
  const difference = facts.parameters - facts.configParameters;
  return {
    configParameters: facts.configParameters,
    parameters: facts.parameters,
    difference,
    message:
      `config.json implies ${facts.configParameters} parameters but the weights hold ${facts.parameters} ` +
      `(${difference > 0 ? '+' : ''}${difference}): the record uses the count read from the weights`,
  };
}

/** A record of `facts` determined under the rule packs `options` ask for, dated now. */
async function determined(facts: ModelFacts, options: ClassifyOptions): Promise<ClassificationRecord> {
  const { rulePacks, determinations } = await determine(facts, options);
  const time = (options.now?.() ?? new Date()).toISOString().replace(/\.\d+Z$/, 'Z');
  return { v: 2, time, facts, destination: options.destination ?? null, rulePacks, determinations };
}

/**
 * A package's record as sealed; with a destination, packs or date, its sealed facts determined
 * again (the sealed record kept beside the new one). Declared inputs belong to the sealed record.
 */
async function packageClassification(path: string, options: ClassifyOptions): Promise<Classification> {
  for (const [given, flag] of [
    [options.tokens, '--tokens'],
    [options.trainingFlops, '--training-flops'],
    [options.weights, '--open-weights/--closed-weights'],
  ] as const)
    if (given !== undefined)
      throw new ModelsealError(
        'INVALID_ARGUMENT',
        `${flag}: a package's classification record keeps the inputs given when it was sealed; ` +
          'classify the checkpoint to use other inputs',
      );
  const { record: sealed, digests } = await readPackageClassification(path);
  const again = options.destination !== undefined || options.rules !== undefined || options.at !== undefined;
  const record = again ? await determined(sealed.facts, options) : sealed;
  return {
    record,
    source: { kind: 'package', path, digests, ...(again ? { sealed } : {}) },
    configMismatch: configMismatchOf(record.facts),
  };
}

/**
 * Classifies `path` — a Hugging Face folder, one .safetensors or .gguf file, or a sealed .mseal
 * package (whose bound record is returned as sealed) — and says what it read.
 */
export async function classify(path: string, options: ClassifyOptions = {}): Promise<Classification> {
  const kind = await kindOf(path);
  if (kind === 'package') return packageClassification(path, options);
  const { facts, source } = await checkpointFacts(path, kind, options);
  const record = await determined(facts, options);
  return { record, source, configMismatch: configMismatchOf(facts) };
}

/**
 * Classifies the checkpoint at `path` (a Hugging Face folder, one .safetensors or .gguf file) from
 * its headers, and determines it under the rule packs; a .mseal package gives the record sealed into it.
 */
export async function classifyPath(path: string, options: ClassifyOptions = {}): Promise<ClassificationRecord> {
  return (await classify(path, options)).record;
}
