/**
 * seal's classification (docs/FORMAT.md §Classification): the checkpoint classified from its headers
 * with what the publisher declares, the record bound into the signed header and the export events.
 */
import type { Command } from 'commander';
import { classifyPath, ModelsealError, type ClassificationRecord, type ClassifyOptions } from '../../src/index.js';
import { collect, warn } from '../util.js';

/** seal's classification flags. */
export interface ClassifyFlags {
  classify: boolean;
  tokens?: string;
  trainingFlops?: string;
  openWeights?: boolean;
  closedWeights?: boolean;
  rules: string[];
  destination: string[];
}

/** Adds seal's classification options to `cmd`. */
export function classifyOptions(cmd: Command): Command {
  return cmd
    .option('--training-flops <F>', 'declared training compute in operations (e.g. 2e26), for the classification')
    .option('--tokens <N>', 'training tokens: the classification estimates compute as 6·N·D')
    .option('--open-weights', 'the weights are published (the classification excludes them from 4E091)')
    .option('--closed-weights', 'the weights are not published')
    .option(
      '--rules <pack>',
      'classify under this rule pack (file or id) instead of those in force; repeatable',
      collect,
      [],
    )
    .option(
      '--no-classify',
      'seal without a classification record (a package its release service then treats as unclassified)',
    );
}

function positive(v: string, flag: string): number {
  const n = Number(v);
  if (!/^\s*[0-9.eE+]+\s*$/.test(v) || !Number.isFinite(n) || n <= 0)
    throw new ModelsealError('INVALID_ARGUMENT', `${flag} ${v}: expected a positive number like 2e26`);
  return n;
}

/** Whether the publisher declared anything about the model: then a failed classification fails the seal. */
function declared(o: ClassifyFlags): boolean {
  return [o.tokens, o.trainingFlops, o.openWeights, o.closedWeights].some((x) => x !== undefined) || o.rules.length > 0;
}

/**
 * The record seal binds for `input`, or undefined with --no-classify, or (with a warning) when the
 * input holds no weights the classifier reads and nothing about the model was declared.
 */
export async function sealClassification(input: string, o: ClassifyFlags): Promise<ClassificationRecord | undefined> {
  if (!o.classify) {
    if (declared(o))
      throw new ModelsealError('INVALID_ARGUMENT', '--no-classify goes without the classification flags');
    return undefined;
  }
  if (o.openWeights && o.closedWeights)
    throw new ModelsealError('INVALID_ARGUMENT', 'give --open-weights or --closed-weights, not both');
  const options: ClassifyOptions = {
    ...(o.tokens !== undefined ? { tokens: positive(o.tokens, '--tokens') } : {}),
    ...(o.trainingFlops !== undefined ? { trainingFlops: positive(o.trainingFlops, '--training-flops') } : {}),
    ...(o.openWeights ? { weights: 'open' as const } : o.closedWeights ? { weights: 'closed' as const } : {}),
    ...(o.rules.length ? { rules: o.rules } : {}),
    ...(o.destination.length === 1 ? { destination: o.destination[0]! } : {}),
  };
  try {
    return await classifyPath(input, options);
  } catch (e) {
    if (declared(o) || !(e instanceof ModelsealError)) throw e;
    warn(`${input} was not classified (${e.message}); sealing without a classification record`);
    return undefined;
  }
}

/** A classification record for people, one line per fact and per determination (seal, inspect). */
export function classificationLines(c: ClassificationRecord): string[] {
  const f = c.facts;
  const dtypes = Object.entries(f.dtypes)
    .map(([d, n]) => `${d} ${n.toLocaleString('en-US')}`)
    .join(', ');
  const t = f.trainingCompute;
  const kinds = `${f.format}${dtypes ? `; ${dtypes}` : ''}`;
  const lines = [
    `${f.parameters.toLocaleString('en-US')} parameters in ${f.tensors} tensors (${kinds})`,
    t
      ? `training compute ${t.flops} (${t.method === '6ND' ? `6·N·D, ${t.tokens} tokens` : 'declared'})`
      : 'training compute not given',
    `weights ${f.weights}, determined ${c.time}${c.destination ? ` for destination ${c.destination}` : ''}`,
  ];
  for (const d of c.determinations) {
    const license = d.licenseRequired === null ? '' : `; license ${d.licenseRequired ? 'required' : 'not required'}`;
    const exceptions = d.licenseExceptions.length ? ` (exceptions ${d.licenseExceptions.join(', ')})` : '';
    lines.push(`${d.regime} ${d.classification} [${d.status}] under ${d.rulePack}${license}${exceptions}`);
  }
  if (c.determinations.length === 0) lines.push('no determinations: no rule pack applied');
  return lines;
}
