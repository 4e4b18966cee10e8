/**
 * Classification of a checkpoint from its headers alone: exact parameters per dtype, the
 * architecture config.json states and the count it implies, the training compute declared or
 * estimated, then the determinations of the rule packs. A sealed package gives the record `seal`
 * bound into it. docs/CLASSIFICATION.md.
 */
import { readdir, stat } from 'node:fs/promises';
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

/** The weights at `path`: a folder, a .safetensors or a .gguf file (told apart by name, then by magic). */
async function countPath(path: string): Promise<{ count: WeightCount; folder: string | null; index: boolean }> {
  const s = await stat(path).catch((cause: unknown) => Promise.reject(ioError(`cannot read ${path}`, cause)));
  if (s.isDirectory()) return { ...(await countFolder(path)), folder: path };
  if (path.endsWith('.gguf')) return { count: await countGgufFile(path), folder: null, index: false };
  if (path.endsWith('.safetensors')) return { count: await countSafetensorsFile(path), folder: null, index: false };
  throw new ModelsealError(
    'INVALID_ARGUMENT',
    `${path}: expected a checkpoint folder, a .safetensors or .gguf file, or a .mseal package`,
  );
}

/** The facts of the checkpoint at `path` and what they were read from. */
async function checkpointFacts(path: string, options: ClassifyOptions) {
  const { count, folder, index } = await countPath(path);
  const config = folder === null ? null : await readConfig(join(folder, 'config.json'));
  const implied = config === null ? null : configParameters(config);
  const facts: ModelFacts = {
    parameters: count.parameters,
    tensors: count.tensors,
    dtypes: count.dtypes,
    format: count.format,
    architecture: config === null ? null : architectureOf(config),
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

/**
 * Classifies `path` — a Hugging Face folder, one .safetensors or .gguf file, or a sealed .mseal
 * package (whose bound record is returned as sealed) — and says what it read.
 */
export async function classify(path: string, options: ClassifyOptions = {}): Promise<Classification> {
  if (path.endsWith('.mseal')) {
    const { record, digests } = await readPackageClassification(path);
    return { record, source: { kind: 'package', path, digests }, configMismatch: configMismatchOf(record.facts) };
  }
  const { facts, source } = await checkpointFacts(path, options);
  const { rulePacks, determinations } = await determine(facts, options);
  const time = (options.now?.() ?? new Date()).toISOString().replace(/\.\d+Z$/, 'Z');
  const record: ClassificationRecord = {
    v: 1,
    time,
    facts,
    destination: options.destination ?? null,
    rulePacks,
    determinations,
  };
  return { record, source, configMismatch: configMismatchOf(facts) };
}

/**
 * Classifies the checkpoint at `path` (a Hugging Face folder, one .safetensors or .gguf file) from
 * its headers, and determines it under the rule packs; a .mseal package gives the record sealed into it.
 */
export async function classifyPath(path: string, options: ClassifyOptions = {}): Promise<ClassificationRecord> {
  return (await classify(path, options)).record;
}
