/**
 * Classification of a checkpoint from its headers alone. PLACEHOLDER until the classifier lands:
 * it reads nothing and reports an empty safetensors model. docs/CLASSIFICATION.md.
 */
import type { ClassificationRecord } from '../../format/classification.js';
import { determine, type DetermineOptions } from '../rules/index.js';

/** What the caller declares about a checkpoint, and what to determine. */
export interface ClassifyOptions extends DetermineOptions {
  /** Training tokens D: compute is estimated as 6·N·D. */
  tokens?: number;
  /** Declared training compute in operations. */
  trainingFlops?: number;
  weights?: 'open' | 'closed';
  /** The clock (default: now). */
  now?: () => Date;
}

/**
 * Classifies the checkpoint at `path` (a Hugging Face folder, one .safetensors or .gguf file) from
 * its headers, and determines it under the rule packs.
 */
export async function classifyPath(path: string, options: ClassifyOptions = {}): Promise<ClassificationRecord> {
  const facts = {
    parameters: 0,
    tensors: 0,
    dtypes: {},
    format: 'safetensors' as const,
    architecture: null,
    configParameters: null,
    trainingCompute: null,
    weights: options.weights ?? ('unknown' as const),
  };
  const { rulePacks, determinations } = await determine(facts, options);
  const time = (options.now?.() ?? new Date()).toISOString().replace(/\.\d+Z$/, 'Z');
  return { v: 1, time, facts, destination: options.destination ?? null, rulePacks, determinations };
}
