/**
 * The technical datasheet of a classification, in Markdown: what a license application and an
 * audit ask for, kept with the export records (15 CFR 762.6: five years).
 */
import type { Determination } from '../../format/classification.js';
import { writeFileAtomic } from '../../io/atomic.js';
import type { Classification } from './types.js';

const grouped = (n: number) => n.toLocaleString('en-US');

/** Markdown table cells: pipes and newlines escaped. */
const cell = (v: unknown) =>
  (typeof v === 'string' ? v : JSON.stringify(v)).replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

function factsSection(c: Classification): string[] {
  const f = c.record.facts;
  const tc = f.trainingCompute;
  const compute =
    tc === null
      ? 'not given (no `--training-flops` or `--tokens`): determinations that need it say `needs-training-compute`'
      : tc.method === 'declared'
        ? `${tc.flops} operations, declared`
        : `${tc.flops} operations, estimated as 6·N·D with N = ${f.parameters} parameters and D = ${tc.tokens} tokens`;
  return [
    '## Model',
    '',
    `- Format: ${f.format}`,
    `- Parameters: ${grouped(f.parameters)} (${f.parameters}), exact: the sum over tensors of their element ` +
      'counts, read from the headers',
    `- Tensors: ${f.tensors}`,
    `- Weights: ${f.weights === 'unknown' ? 'unknown (neither --open-weights nor --closed-weights given)' : f.weights}`,
    `- Training compute: ${compute}`,
    ...(f.configParameters === null ? [] : [`- Parameters config.json implies: ${grouped(f.configParameters)}`]),
    ...(c.configMismatch ? [`- **Warning**: ${c.configMismatch.message}`] : []),
    '',
    '### Parameters per dtype',
    '',
    '| dtype | parameters |',
    '|---|---:|',
    ...Object.entries(f.dtypes)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([d, n]) => `| ${cell(d)} | ${grouped(n)} |`),
    '',
    '### Architecture',
    '',
    ...(f.architecture === null
      ? ['No config.json: the architecture is not stated.']
      : [
          '| field | value |',
          '|---|---|',
          ...Object.entries(f.architecture).map(([k, v]) => `| ${cell(k)} | ${cell(v)} |`),
        ]),
    '',
  ];
}

function determinationLines(d: Determination): string[] {
  const exceptions = d.licenseExceptions.length ? `; exceptions that may apply: ${d.licenseExceptions.join(', ')}` : '';
  const license =
    d.licenseRequired === null
      ? 'not asked (no destination) or not addressed by this regime'
      : d.licenseRequired
        ? `required${exceptions}`
        : 'not required';
  return [
    `### ${d.regime}: ${d.classification}`,
    '',
    `- Rule pack: ${d.rulePack}`,
    `- Status: ${d.status}`,
    `- License: ${license}`,
    '- Citations:',
    ...(d.citations.length ? d.citations.map((x) => `  - ${x}`) : ['  - (none)']),
    '- Reasons:',
    ...(d.reasons.length ? d.reasons.map((x) => `  - ${x}`) : ['  - (none)']),
    '',
  ];
}

function digestsSection(c: Classification): string[] {
  if (c.source.kind === 'package') {
    const d = c.source.digests;
    return [
      '## Digests',
      '',
      `- Package: ${c.source.path}, id ${d.packageId}, signed header ${d.headerDigest}`,
      `- Model root digest (as sealed): ${d.modelRootDigest}`,
      '',
    ];
  }
  return [
    '## Digests',
    '',
    `- Checkpoint: ${c.source.path}; weight files read: ${c.source.files.join(', ')}`,
    '- Model root digest: not computed. Classification reads the headers only; the root digest covers every byte ' +
      'of the weights and is recorded when the checkpoint is sealed (`modelseal inspect <package>` shows it).',
    '',
  ];
}

/** The Markdown datasheet of a classification. */
export function renderDatasheet(c: Classification): string {
  const r = c.record;
  return [
    `# Technical datasheet: ${c.source.path}`,
    '',
    `- Determined: ${r.time}`,
    `- Destination: ${r.destination ?? 'none given'}`,
    `- Rule packs: ${r.rulePacks.length ? r.rulePacks.join(', ') : 'none'}`,
    '',
    ...factsSection(c),
    '## Determinations',
    '',
    ...(r.determinations.length
      ? r.determinations.flatMap(determinationLines)
      : ['No rule pack gave a determination.', '']),
    ...digestsSection(c),
    '## Record keeping',
    '',
    'Keep this record for five years from the export it supports (15 CFR 762.6).',
    '',
  ].join('\n');
}

/** Writes the datasheet of `c` to `path` atomically (temporary name, then rename); `overwrite` replaces a file. */
export async function writeDatasheet(path: string, c: Classification, overwrite = false): Promise<void> {
  await writeFileAtomic(path, renderDatasheet(c), { overwrite });
}
