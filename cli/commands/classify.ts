import { Option, type Command } from 'commander';
import {
  classify,
  ModelsealError,
  writeDatasheet,
  type Classification,
  type ClassifyOptions,
  type Determination,
} from '../../src/index.js';
import { emitJson, warn, type GlobalOptions } from '../util.js';

interface ClassifyFlags {
  tokens?: string;
  trainingFlops?: string;
  openWeights?: boolean;
  closedWeights?: boolean;
  destination?: string;
  rules?: string[];
  at?: string;
  datasheet?: string;
  force?: boolean;
}

const bad = (message: string) => new ModelsealError('INVALID_ARGUMENT', message);

/** The library options the flags ask for, checked. */
function optionsOf(o: ClassifyFlags): ClassifyOptions {
  if (o.trainingFlops !== undefined && o.tokens !== undefined)
    throw bad('give either --training-flops (declared compute) or --tokens (estimated as 6·N·D), not both');
  if (o.destination !== undefined && !/^[A-Za-z]{2}$/.test(o.destination))
    throw bad(`--destination ${o.destination}: expected an ISO 3166 alpha-2 country code such as DE`);
  let at: Date | undefined;
  if (o.at !== undefined) {
    at = new Date(o.at);
    if (!/^\d{4}-\d\d-\d\d/.test(o.at) || Number.isNaN(at.getTime()))
      throw bad(`--at ${o.at}: expected a date such as 2025-06-01`);
  }
  return {
    ...(o.tokens !== undefined && { tokens: o.tokens }),
    ...(o.trainingFlops !== undefined && { trainingFlops: o.trainingFlops }),
    ...(o.openWeights && { weights: 'open' as const }),
    ...(o.closedWeights && { weights: 'closed' as const }),
    ...(o.destination !== undefined && { destination: o.destination.toUpperCase() }),
    ...(o.rules !== undefined && { rules: o.rules }),
    ...(at !== undefined && { at }),
  };
}

/** The --json object: the record's facts at the top level, then the rest of the record. */
function jsonOf(c: Classification, datasheet: string | undefined): object {
  const r = c.record;
  return {
    ...r.facts,
    configMismatch: c.configMismatch,
    determinations: r.determinations,
    rulePacks: r.rulePacks,
    destination: r.destination,
    time: r.time,
    source: c.source,
    ...(datasheet !== undefined && { datasheet }),
  };
}

function determinationLine(d: Determination): string {
  const license =
    d.licenseRequired === null
      ? ''
      : d.licenseRequired
        ? `; license required${d.licenseExceptions.length ? ` (may apply: ${d.licenseExceptions.join(', ')})` : ''}`
        : '; no license required';
  return `    ${d.regime.padEnd(11)} ${d.classification} [${d.status}] under ${d.rulePack}${license}`;
}

/** Where the record comes from, for the summary's first line. */
function origin(c: Classification): string {
  if (c.source.kind !== 'package') return '';
  return c.source.sealed
    ? ` (facts sealed into the package ${c.source.sealed.time}, determined again now; --json has the sealed record)`
    : ' (the record sealed into the package)';
}

/** The human summary, one line per item. */
function describe(c: Classification): string[] {
  const f = c.record.facts;
  const tc = f.trainingCompute;
  const arch = f.architecture;
  const family = arch
    ? [arch.model_type, ...((arch.architectures as unknown[] | undefined) ?? [])].filter(Boolean)
    : [];
  return [
    `${c.source.path}: ${f.format}${origin(c)}`,
    `  parameters  ${f.parameters.toLocaleString('en-US')} in ${f.tensors} tensors`,
    `  dtypes      ${Object.entries(f.dtypes)
      .map(([d, n]) => `${d} ${n.toLocaleString('en-US')}`)
      .join(', ')}`,
    `  config      ${
      arch === null
        ? 'none'
        : (family.join(' ') || 'unknown family') +
          (f.configParameters === null ? '' : `; implies ${f.configParameters.toLocaleString('en-US')} parameters`)
    }`,
    `  compute     ${
      tc === null ? 'not given (--training-flops or --tokens)' : `${tc.flops} operations (${tc.method})`
    }`,
    `  weights     ${f.weights}`,
    `  destination ${c.record.destination ?? 'none given'}`,
    `  rule packs  ${c.record.rulePacks.join(', ') || 'none'}`,
    `  determinations ${c.record.determinations.length}`,
    ...c.record.determinations.map(determinationLine),
  ];
}

/** `classify <path>`: exact facts from the headers, and the rule packs' determinations. */
export function registerClassify(program: Command): void {
  program
    .command('classify')
    .description(
      'what a checkpoint is under export rules: exact parameters from the headers, training compute, ' +
        'determinations (no weights are read; a .mseal shows the record sealed into it, no key needed)',
    )
    .argument('<path>', 'a Hugging Face folder, a .safetensors or .gguf file, or a .mseal package')
    .option('--tokens <n>', 'training tokens D: compute is estimated as 6·N·D')
    .option('--training-flops <f>', 'declared training compute in operations, e.g. 2e26')
    .addOption(new Option('--open-weights', 'the weights are published').conflicts('closedWeights'))
    .addOption(new Option('--closed-weights', 'the weights are not published').conflicts('openWeights'))
    .option('--destination <cc>', 'ISO 3166 alpha-2 destination: answer whether a license is required')
    .option('--rules <pack...>', 'rule pack files or ids to use instead of the shipped packs in force')
    .option('--at <date>', 'apply the rule packs in force on this date (default: today)')
    .option('--datasheet <file.md>', 'also write the technical datasheet (Markdown) to this file')
    .option('--force', 'replace an existing --datasheet file')
    .action(async (path: string, o: ClassifyFlags, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const c = await classify(path, optionsOf(o));
      if (o.datasheet !== undefined) await writeDatasheet(o.datasheet, c, o.force === true);
      emitJson(g, 'classify', jsonOf(c, o.datasheet));
      if (g.json) return;
      if (c.configMismatch) warn(c.configMismatch.message);
      if (g.quiet) return;
      process.stdout.write(describe(c).join('\n') + '\n');
    });
}
