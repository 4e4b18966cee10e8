import type { Command } from 'commander';
import { codeParams, sayTensors } from './fingerprint.js';
import { licenseChecks } from './seal-license.js';
import { classificationLines, classifyOptions, sealClassification, type ClassifyFlags } from './seal-classify.js';
import {
  DEFAULT_PARAMS,
  DEFAULT_REGISTRY,
  loadFingerprintKey,
  ModelsealError,
  openExportLog,
  seal,
  type ExportLog,
  type LoggedExport,
  type Publisher,
  type Recipient,
  type SealOptions,
  type SealResult,
} from '../../src/index.js';
import {
  collect,
  emitJson,
  fmtBytes,
  interruptSignal,
  keysDir,
  parseRecipients,
  passphraseSource,
  publisherKey,
  SIGNER_OPTION,
  removeStaleAt,
  say,
  threads,
  withProgress,
  type GlobalOptions,
} from '../util.js';

/** --chunk-size: bytes, or a size like 64KiB or 1MiB. */
export function parseSize(v: string): number {
  const m = /^(\d+)\s*(k|kib|m|mib)?$/i.exec(v.trim());
  if (!m) throw new ModelsealError('INVALID_ARGUMENT', `--chunk-size ${v}: expected bytes or a size like 1MiB`);
  const unit = (m[2] ?? '').toLowerCase();
  return Number(m[1]) * (unit.startsWith('k') ? 1024 : unit.startsWith('m') ? 1 << 20 : 1);
}

/** --to recipients, or --group key groups with --threshold. */
async function recipientsOrGroups(
  o: { to: string[]; group: string[]; threshold?: string },
  g: GlobalOptions,
): Promise<{ recipients: Recipient[]; keyGroups?: { threshold: number; groups: Recipient[][] } }> {
  if (o.group.length === 0) {
    if (o.to.length === 0)
      throw new ModelsealError(
        'INVALID_ARGUMENT',
        'say who can open the package: --to <recipient> (repeatable), or key groups with --group',
      );
    if (o.threshold !== undefined) throw new ModelsealError('INVALID_ARGUMENT', '--threshold goes with --group');
    return { recipients: await parseRecipients(o.to, g) };
  }
  if (o.to.length > 0)
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      'give --to or --group, not both (with key groups, every recipient belongs to a group)',
    );
  const groups = await Promise.all(
    o.group.map((v) =>
      parseRecipients(
        v
          .split(',')
          .map((x) => x.trim())
          .filter(Boolean),
        g,
      ),
    ),
  );
  const threshold = o.threshold === undefined ? groups.length : /^\d+$/.test(o.threshold) ? Number(o.threshold) : NaN;
  if (Number.isNaN(threshold))
    throw new ModelsealError('INVALID_ARGUMENT', `--threshold ${o.threshold}: expected a whole number`);
  return { recipients: [], keyGroups: { threshold, groups } };
}

interface SealFlags extends ClassifyFlags {
  to: string[];
  group: string[];
  threshold?: string;
  output: string;
  license: string;
  destination: string[];
  licenseCheck: boolean;
  policy: string;
  chunkSize: string;
  signingKey?: string;
  signer?: string;
  allowSymlinks?: boolean;
  force?: boolean;
  fsync?: boolean;
  log?: string;
  logKey?: string;
  fingerprint?: string | true;
  registry: string;
  coalition?: string;
  support?: string;
}

const TO_HELP =
  'who can open it, repeatable: "local" (this key store), "x25519:<public key or .pub file>", ' +
  '"aws-kms:<key ARN, id or alias>", or "pkcs11:<token label>/<key label>"';
const LOG_HELP =
  'record the export (one entry per recipient) in a transparency log before the package is written; ' +
  "if the log cannot be written, nothing is. <dir> or postgres://…: a log store signed with the key store's " +
  'log.key; <url>: a release service (`modelseal serve`), which logs exports its trusted publishers sign';
const SEAL_EXAMPLES = `
Examples:
  modelseal seal ./llama --to local -o llama.mseal
  modelseal seal model.safetensors --to x25519:alice.pub --to x25519:bob.pub --license EAR-123 -o m.mseal
  # the key only through the release service, and the weights marked for acme:
  modelseal seal ./llama --to release:https://release.example#acme --license EAR-123 --fingerprint -o llama-acme.mseal
  # KMS in us-east-1 AND (the HSM OR the security officer's offline key):
  modelseal seal ./llama --group aws-kms:alias/us-east-1 --group pkcs11:hsm/kek,x25519:officer.pub -o m.mseal`;

/** `seal <input> -o <package>`: encrypt and sign a checkpoint for its recipients. */
export function registerSeal(program: Command): void {
  const cmd = program
    .command('seal')
    .description('encrypt a checkpoint (file or folder) into one signed package for licensed recipients')
    .argument('<input>', 'a model file (safetensors, GGUF, .pt, ...) or a checkpoint folder')
    .option('--to <recipient>', TO_HELP, collect, [])
    .option(
      '--group <recipients>',
      'k-of-n custody instead of --to: one key group, as comma-separated recipients (any one of them opens ' +
        'the group); repeat for each group',
      collect,
      [],
    )
    .option('--threshold <k>', 'with --group: how many groups it takes to open (default: all of them)')
    .requiredOption(
      '-o, --output <package>',
      'package file to write ("-" for stdout: the package is made in a scratch file under $TMPDIR first, ' +
        'since its header comes first but is known last)',
    )
    .option('--license <id>', 'license id bound into every recipient stanza', 'none')
    .option(
      '--destination <CC>',
      'with --license and a release: recipient: where the weights go (ISO 3166 alpha-2), checked against the ' +
        'license; repeatable (given once, the classification record answers its license questions for it)',
      collect,
      [],
    )
    .option(
      '--no-license-check',
      'with --license and a release: recipient: seal without asking the service whether the license covers it ' +
        '(to seal ahead of issuing it; warns)',
    )
    .option('--policy <hash>', 'policy hash bound into every recipient stanza', 'none')
    .option('--chunk-size <size>', 'power of two from 64KiB to 16MiB', '1MiB')
    .option('--signing-key <file>', "publisher key file (default: the key store's publisher.key)")
    .option(...SIGNER_OPTION)
    .option(
      '--allow-symlinks',
      'seal the files that symbolic links inside the folder point to (links outside it are refused)',
    )
    .option(
      '--fsync',
      'flush the output to disk before it is renamed into place, so it also survives a power cut (slower)',
    )
    .option('--force', 'replace the output file if it exists')
    .option('--log <dir|url>', LOG_HELP)
    .option(
      '--fingerprint [recipient]',
      "mark the weights (safetensors, GGUF) with this recipient's fingerprint as they are sealed, and record " +
        'it in the registry; the recipient defaults to the one --to (e.g. the name in release:<url>#<name>)',
    )
    .option('--registry <file>', 'with --fingerprint: the fingerprint registry to append to', DEFAULT_REGISTRY)
    .option('--coalition <c>', 'with --fingerprint: largest coalition the code is built for', String(DEFAULT_PARAMS.c))
    .option(
      '--support <fraction>',
      'with --fingerprint: fraction of the eligible weights that carry the mark',
      String(DEFAULT_PARAMS.support),
    )
    .option(
      '--log-key <key|file>',
      "with --log <url>: the log's verifier key that the receipts must verify under (default: the key store's " +
        'log.vkey)',
    )
    .addHelpText('after', SEAL_EXAMPLES);
  classifyOptions(cmd).action(sealAction);
}

/** `-o -` writes the package to stdout: not to a terminal, and not beside --json. */
function checkStdoutOutput(o: SealFlags, g: GlobalOptions): void {
  if (o.output !== '-') return;
  if (process.stdout.isTTY)
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      'refusing to write a package to a terminal; redirect stdout or use -o <file>',
    );
  if (g.json) throw new ModelsealError('INVALID_ARGUMENT', '--json and -o - both want stdout; pick one');
}

/** --fingerprint: whose copy the weights mark, with the key store's fingerprint key and the code. */
async function fingerprintOption(
  o: SealFlags,
  g: GlobalOptions,
  recipients: readonly Recipient[],
): Promise<SealOptions['fingerprint']> {
  if (o.fingerprint === undefined) return undefined;
  if (o.fingerprint === true && recipients.length !== 1)
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      '--fingerprint marks one copy for one recipient: seal for exactly one --to, or name the recipient ' +
        '(--fingerprint <id>)',
    );
  return {
    recipient: o.fingerprint === true ? recipients[0]!.id : o.fingerprint,
    key: await loadFingerprintKey(keysDir(g), passphraseSource(g), { create: true }),
    params: codeParams(o),
    registry: o.registry,
  };
}

async function sealAction(input: string, o: SealFlags, cmd: Command): Promise<void> {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  checkStdoutOutput(o, g);
  const t = threads(g);
  const staleRemoved = o.output === '-' ? [] : await removeStaleAt(o.output);
  const log = o.log
    ? await openExportLog(o.log, {
        keysDir: keysDir(g),
        passphrase: passphraseSource(g),
        ...(o.logKey !== undefined ? { logKey: o.logKey } : {}),
      })
    : undefined;
  const logged: LoggedExport[] = [];
  try {
    const publisher = await publisherKey(g, o.signingKey, o.signer);
    const who = await recipientsOrGroups(o, g);
    const fingerprint = await fingerprintOption(o, g, who.recipients);
    const everyone = [...who.recipients, ...(who.keyGroups?.groups.flat() ?? [])];
    const licensed = licenseChecks(g, o, everyone, publisher);
    await licensed?.before();
    const classification = await sealClassification(input, o);
    const r = await withProgress(g, (progress) =>
      seal({
        input,
        output: o.output === '-' ? process.stdout : o.output,
        ...who,
        ...(fingerprint ? { fingerprint } : {}),
        ...(classification ? { classification } : {}),
        publisher,
        license: o.license,
        policy: o.policy,
        chunkSize: parseSize(o.chunkSize),
        allowSymlinks: o.allowSymlinks ?? false,
        force: o.force ?? false,
        fsync: o.fsync ?? false,
        ...(t !== undefined ? { threads: t } : {}),
        ...(progress.onProgress ? { onProgress: progress.onProgress } : {}),
        signal: interruptSignal(),
        // The license is checked with the model, and the exports logged, before the package is
        // moved into place: no covering license, no log entry, no package.
        beforeCommit: async (result: SealResult) => {
          await licensed?.model(result);
          if (log) await recordExports(log, publisher, logged)(result);
        },
      }),
    );
    emitJson(g, 'seal', { ...r, staleRemoved, ...(log ? { log: { origin: log.origin, entries: logged } } : {}) });
    printSealed(g, o, r, log, logged);
  } finally {
    await log?.close();
  }
}

/** seal's beforeCommit with --log: records the exports in `log`, collecting the entries in `logged`. */
function recordExports(log: ExportLog, publisher: Publisher, logged: LoggedExport[]) {
  return async (result: SealResult): Promise<void> => {
    logged.push(...(await log.record(result, publisher)));
  };
}

function printSealed(
  g: GlobalOptions,
  o: SealFlags,
  r: SealResult,
  log: ExportLog | undefined,
  logged: readonly LoggedExport[],
): void {
  const files = `${r.files.length} file${r.files.length === 1 ? '' : 's'}`;
  say(
    g,
    `sealed ${r.model.name} (${files}, ${fmtBytes(r.plaintextBytes)}) → ${r.output} (${fmtBytes(r.packageBytes)})`,
  );
  if (r.keyGroups) say(g, `  opening needs ${r.keyGroups.threshold} of ${r.keyGroups.groups} key groups`);
  for (const s of r.recipients) {
    const group = s.group !== undefined ? `[group ${s.group}] ` : '';
    const model = s.model ? ` for model ${s.model}` : '';
    say(g, `  recipient ${group}${s.type.padEnd(7)} ${s.recipient}  license ${s.license}${model}`);
  }
  say(g, `  package ${r.packageId}\n  model   ${r.model.rootDigest}\n  signer  ${r.signer}`);
  if (r.excluded.length) say(g, `  left out: ${r.excluded.join(', ')}`);
  if (r.classification) for (const l of classificationLines(r.classification)) say(g, `  classification: ${l}`);
  if (r.fingerprint) {
    sayTensors(g, r.fingerprint.tensors);
    const fp = r.fingerprint.record;
    say(g, `  fingerprint ${fp.id} for ${fp.recipient}, recorded in ${o.registry}`);
  }
  if (log) {
    const entries = `entr${logged.length === 1 ? 'y' : 'ies'} ${logged.map((l) => l.index).join(', ')}`;
    say(g, `  logged  export ${entries} in log ${log.origin}`);
  }
}
