import { createHash } from 'node:crypto';
import { type Command, Option } from 'commander';
import {
  copyEvents,
  DEFAULT_EPSILON,
  DEFAULT_PARAMS,
  DEFAULT_REGISTRY,
  DEFAULT_TRACES,
  embedFingerprint,
  leakDigest,
  loadFingerprintKey,
  MAX_RELATIVE_RMS,
  ModelsealError,
  openExportLog,
  readRegistry,
  traceEvent,
  traceLeak,
  type CodeParams,
  type ExportEvent,
  type IndexedEvent,
  type ReleaseEvent,
  type TensorReport,
  type TraceReport,
} from '../../src/index.js';
import {
  emitJson,
  keysDir,
  passphraseSource,
  publisherKey,
  SIGNER_OPTION,
  say,
  trusted,
  withProgress,
  type GlobalOptions,
} from '../util.js';
import { logFlag, logOptions, withLog, type LogFlags } from './audit.js';

const CODE_HELP = `
The code: a symmetric Tardos code (Škorić et al. 2008) over a keyed 10% of the weights of every
F32/F16/BF16 tensor of two or more dimensions. Each marked weight moves up or down by one BF16 ulp,
or by a factor 1 ± 2^-8 for F32/F16, so the mark survives a cast to BF16. docs/FINGERPRINT.md.`;

/** --support and --coalition, checked. */
export function codeParams(o: { support?: string; coalition?: string }): CodeParams {
  const support = o.support === undefined ? DEFAULT_PARAMS.support : Number(o.support);
  const c = o.coalition === undefined ? DEFAULT_PARAMS.c : Number(o.coalition);
  if (!Number.isFinite(support))
    throw new ModelsealError('INVALID_ARGUMENT', `--support ${o.support}: expected a fraction like 0.1`);
  if (!Number.isInteger(c))
    throw new ModelsealError('INVALID_ARGUMENT', `--coalition ${o.coalition}: expected a whole number`);
  return { support, c };
}

/** The "marked N weights in M tensors" line of embed and seal --fingerprint. */
export function sayTensors(g: GlobalOptions, tensors: readonly TensorReport[]): void {
  const worst = tensors.reduce((a, t) => Math.max(a, t.relativeRms), 0);
  const marked = tensors.reduce((a, t) => a + t.marked, 0);
  const rms = `${worst.toExponential(2)} (bound ${MAX_RELATIVE_RMS.toExponential(2)})`;
  say(
    g,
    `  marked  ${marked.toLocaleString('en-US')} weights in ${tensors.length} tensors; ` +
      `relative RMS change per tensor ≤ ${rms}`,
  );
}

interface EmbedFlags {
  recipient: string;
  output: string;
  registry: string;
  coalition?: string;
  support?: string;
  signingKey?: string;
  signer?: string;
  force?: boolean;
}

interface TraceFlags extends LogFlags {
  original: string;
  registry: string;
  /** The old spelling of --registry, kept as a hidden alias. */
  recipients?: string;
  epsilon: string;
  traces: string;
  record?: boolean;
}

/** `fingerprint embed | list` and `trace`. */
export function registerFingerprint(program: Command): void {
  const fp = program
    .command('fingerprint')
    .description("mark a recipient's copy of the weights, and list the marks made");
  registerEmbed(fp);
  registerList(fp);
  registerTrace(program);
}

function registerEmbed(fp: Command): void {
  fp.command('embed')
    .description(
      "write a recipient's fingerprinted copy of a checkpoint (safetensors or GGUF file, or a folder) and record " +
        'it in the registry',
    )
    .argument(
      '<input>',
      'a .safetensors or .gguf file, or a checkpoint folder (sharded ones too); other files are copied unchanged',
    )
    .requiredOption('--recipient <id>', 'who receives this copy (the name trace will report)')
    .requiredOption('-o, --output <path>', 'the marked copy (a file for a file, a folder for a folder)')
    .option('--registry <file>', 'fingerprint registry to append to', DEFAULT_REGISTRY)
    .option(
      '--coalition <c>',
      'largest coalition of colluding recipients the code is built for',
      String(DEFAULT_PARAMS.c),
    )
    .option(
      '--support <fraction>',
      'fraction of the eligible weights that carry the mark',
      String(DEFAULT_PARAMS.support),
    )
    .option(
      '--signing-key <file>',
      "publisher key that signs the registry record (default: the key store's publisher.key)",
    )
    .option(...SIGNER_OPTION)
    .option('--force', 'replace the output if it exists')
    .addHelpText(
      'after',
      `${CODE_HELP}

The fingerprint key is the key store's fingerprint.key (made on first use). Keep it secret:
with it, anyone could forge or scrub marks.

Example:
  modelseal fingerprint embed ./llama --recipient acme -o ./llama-acme`,
    )
    .action(embedAction);
}

async function embedAction(input: string, o: EmbedFlags, cmd: Command): Promise<void> {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  const key = await loadFingerprintKey(keysDir(g), passphraseSource(g), { create: true });
  const publisher = await publisherKey(g, o.signingKey, o.signer);
  const params = codeParams(o);
  const r = await withProgress(g, (progress) => {
    const onProgress = progress.counting('mark');
    return embedFingerprint({
      input,
      output: o.output,
      recipient: o.recipient,
      key,
      publisher,
      registry: o.registry,
      params,
      force: o.force ?? false,
      ...(onProgress ? { onProgress } : {}),
    });
  });
  emitJson(g, 'fingerprint embed', r);
  say(g, `fingerprinted ${input} for ${o.recipient} → ${r.output}`);
  sayTensors(g, r.tensors);
  const rec = r.record;
  say(g, `  id      ${rec.id} (key ${rec.keyId}, c = ${rec.params.c})`);
  say(g, `  original ${rec.original}\n  marked   ${rec.marked}\n  recorded in ${o.registry}`);
}

function registerList(fp: Command): void {
  fp.command('list')
    .description('list the embeddings in the registry')
    .option('--registry <file>', 'fingerprint registry', DEFAULT_REGISTRY)
    .action(async (o: { registry: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const records = await readRegistry(o.registry, await trusted(g, []));
      emitJson(g, 'fingerprint list', { records });
      for (const r of records) {
        const what = r.package ? `package ${r.package.slice(0, 16)}…` : r.marked;
        say(g, `${r.time}  ${r.id}  ${r.recipient.padEnd(20)} key ${r.keyId}  c=${r.params.c}  ${what}`);
      }
    });
}

const TRACE_HELP = `
How it decides: the leak is aligned to the original (names, else shapes — also transposed — and
cosine similarity), a cast is undone by casting the original the same way, and every recipient in
the registry gets a z-score: the correlation of (leak − original) with their code. An innocent
recipient's score is 1-sub-Gaussian whatever was done to the weights, so accusing only at
z ≥ τ = √(2 ln(n·T·K/ε)) keeps the chance of accusing anyone innocent, over n recipients, T
traces and K looks, below ε. trace looks at the scores after 32 MiB of the leak and each time that
doubles, and stops reading once a look decides (someone accused, every other score below τ/2); a
model of at most 32 MiB has K = 1. The verdict says how much of the leak was read. A leak that
matches no tensor of the original accuses nobody and says so.

Exit code 0 whether or not someone is accused; --json prints { accused: [{ recipient, z, threshold,
bound, ... }], scores: [...], read: { tensors, parameters, bytes, fraction, looksTaken, stoppedEarly, ... } }.

Example:
  modelseal trace leaked.safetensors --original ./llama --log data/log`;

const TRACE_LOG_HELP =
  "the transparency log (a store, or a running `modelseal serve`'s URL): print each accused recipient's " +
  'export and release events';

function registerTrace(program: Command): void {
  const trace = program
    .command('trace')
    .description('find whose fingerprinted copy a leaked checkpoint was made from, with a bound on false accusation')
    .argument('<leaked>', 'the leaked weights: a .safetensors or .gguf file, or a folder of them')
    .requiredOption('--original <checkpoint>', 'the original (unmarked) checkpoint the copies were made from')
    .option('--registry <file>', 'the fingerprint registry listing every marked copy', DEFAULT_REGISTRY)
    .addOption(new Option('--recipients <file>', 'old spelling of --registry').hideHelp())
    .option('--epsilon <p>', 'probability of accusing anyone innocent, at most', String(DEFAULT_EPSILON))
    .option(
      '--traces <T>',
      'number of traces the bound must cover (each trace spends a share of epsilon)',
      String(DEFAULT_TRACES),
    )
    .option(
      '--record',
      'append the verdict to the --log as a trace event (a store: signed with the log key; a service: sent ' +
        'signed by the publisher key) and print its index',
    );
  logOptions(trace, TRACE_LOG_HELP).addHelpText('after', TRACE_HELP).action(traceAction);
}

/** The registry file of `trace`: --registry, or its old spelling --recipients (not both). */
function traceRegistry(o: TraceFlags, cmd: Command): string {
  if (o.recipients === undefined) return o.registry;
  if (cmd.getOptionValueSource('registry') !== 'default')
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      '--recipients is the old spelling of --registry: give the registry once, as --registry <file>',
    );
  return o.recipients;
}

type TraceEvents = IndexedEvent<ExportEvent | ReleaseEvent>[];

async function traceAction(leaked: string, o: TraceFlags, cmd: Command): Promise<void> {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  const registryFile = traceRegistry(o, cmd);
  const fromLog = logFlag(o); // a usage error shows before the leak is read
  if (o.record && !fromLog)
    throw new ModelsealError('INVALID_ARGUMENT', '--record appends the verdict to a log: give it with --log <dir|url>');
  const key = await loadFingerprintKey(keysDir(g), passphraseSource(g));
  const registry = await readRegistry(registryFile, await trusted(g, []));
  const r = await withProgress(g, (progress) => {
    const onProgress = progress.counting('trace');
    return traceLeak({
      leaked,
      original: o.original,
      key,
      registry,
      epsilon: Number(o.epsilon),
      traces: Number(o.traces),
      ...(onProgress ? { onProgress } : {}),
    });
  });
  // Recorded first: a store that does not exist yet is made by the append, then read.
  const recorded = o.record && fromLog ? await recordTrace(g, fromLog.spec, leaked, r) : undefined;
  // The log's story of each accused copy: its export (by fingerprint id or package) and every release of it.
  const events = fromLog
    ? await withLog(o, ({ store }) => copyEvents(store, new Map(r.accused.map((a) => [a.recipient, a.records]))))
    : undefined;
  const accused = r.accused.map((a) => ({
    ...a,
    ...(events ? { events: (events.get(a.recipient) ?? []).map(({ index, event }) => ({ ...event, index })) } : {}),
  }));
  emitJson(g, 'trace', { ...r, accused, ...(recorded ? { recorded } : {}) });
  printTrace(g, leaked, o, r, accused);
  if (recorded)
    say(g, `recorded the verdict in ${recorded.origin} as entry #${recorded.index} (leak ${recorded.leak})`);
}

/** Appends the verdict to the log `where` (docs/LOG.md, "Traces"); returns the entry's index. */
async function recordTrace(g: GlobalOptions, where: string, leaked: string, r: TraceReport) {
  const publisher = await publisherKey(g);
  const publisherId = `sha256:${createHash('sha256').update(publisher.spki).digest('hex')}`;
  const leak = await leakDigest(leaked);
  const log = await openExportLog(where, { keysDir: keysDir(g), passphrase: passphraseSource(g) });
  try {
    const [index] = await log.append([traceEvent(r, leak, publisherId)], publisher);
    return { origin: log.origin, index: index!, leak };
  } finally {
    await log.close();
  }
}

type Accused = TraceReport['accused'][number] & { events?: (TraceEvents[number]['event'] & { index: number })[] };

function printTrace(g: GlobalOptions, leaked: string, o: TraceFlags, r: TraceReport, accused: Accused[]): void {
  const unread = r.unread.tensors.length
    ? `${r.unread.tensors.length} tensors of ${leaked} cannot be read (types: ${r.unread.types.join(', ')}) ` +
      'and were not compared'
    : '';
  if (!r.derived && unread) {
    const none = r.unmatched.length ? `; the ${r.unmatched.length} readable match nothing` : '';
    say(
      g,
      `cannot tell whether ${leaked} is derived from ${o.original}: ${unread}${none}. Nobody is accused; ` +
        'convert the leak to F16 or F32 with a tool that reads those types, and trace that.',
    );
    return;
  }
  if (!r.derived) {
    const compared = `no tensor matches (${r.unmatched.length} compared)`;
    say(g, `${leaked} is not derived from ${o.original}: ${compared}. Nobody is accused.`);
    return;
  }
  if (unread) say(g, `warning: ${unread}; the verdict rests on the others`);
  printEvidence(g, r);
  if (accused.length === 0) say(g, 'nobody is accused: no score reaches the threshold');
  for (const a of accused) printAccused(g, a);
  const top = r.scores.filter((s) => !accused.some((a) => a.recipient === s.recipient)).slice(0, 3);
  if (top.length) say(g, `highest other scores: ${top.map((s) => `${s.recipient} ${s.z.toFixed(2)}`).join(', ')}`);
}

/** What the verdict rests on: the alignment, how much was read, and the threshold. */
function printEvidence(g: GlobalOptions, r: TraceReport): void {
  const byShape = r.aligned.filter((a) => a.how !== 'name').length;
  const casts = r.aligned.some((a) => a.recast !== 'none')
    ? `; undid casts: ${[...new Set(r.aligned.map((a) => a.recast))].join(', ')}`
    : '';
  const positions = r.positions.toLocaleString('en-US');
  say(g, `aligned ${r.aligned.length} tensors (${byShape} by shape), ${positions} positions measured${casts}`);
  if (!r.originalInRegistry)
    say(
      g,
      `warning: no registry record names ${r.original} as its original; scored every recipient marked with this key`,
    );
  const rd = r.read;
  const n = (x: number) => x.toLocaleString('en-US');
  const early = rd.stoppedEarly ? `: the evidence decided at look ${rd.looksTaken} of ${r.looks}` : '';
  say(
    g,
    `read ${rd.tensors} of ${rd.tensorsTotal} tensors, ${n(rd.parameters)} of ${n(rd.parametersTotal)} parameters, ` +
      `${n(rd.bytes)} of ${n(rd.bytesTotal)} bytes (${(100 * rd.fraction).toFixed(1)}%)${early}`,
  );
  say(
    g,
    `threshold τ = ${r.threshold.toFixed(2)} for n = ${r.n} recipients, T = ${r.traces} traces, ` +
      `K = ${r.looks} looks, ε = ${r.epsilon}`,
  );
}

function printAccused(g: GlobalOptions, a: Accused): void {
  const z = `z = ${a.z.toFixed(2)} ≥ τ = ${a.threshold.toFixed(2)}`;
  say(g, `ACCUSED ${a.recipient}: ${z}; P(anyone innocent scores this high) ≤ 10^${a.log10Bound.toFixed(1)}`);
  for (const rec of a.records)
    say(g, `  copy ${rec.id} made ${rec.time}${rec.package ? `, package ${rec.package}` : ''}`);
  for (const e of a.events ?? []) {
    const what =
      e.type === 'release'
        ? ` ${e.decision} to ${e.destination ?? '?'} from ${e.ip} (license ${e.license ?? '-'})`
        : ` (license ${e.license})`;
    say(g, `  log #${e.index} ${e.time} ${e.type}${what}`);
  }
}
