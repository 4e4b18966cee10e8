import { Command } from 'commander';
import { join } from 'node:path';
import { codeParams, sayTensors } from './fingerprint.js';
import {
  DEFAULT_PARAMS,
  DEFAULT_REGISTRY,
  loadFingerprintKey,
  type SealOptions,
  encodeEvent,
  exportEvents,
  loadLogSigner,
  openLogStore,
  logExports,
  ModelsealError,
  readLogVerifier,
  seal,
  TransparencyLog,
  type Recipient,
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
  progressBar,
  publisherKey,
  SIGNER_OPTION,
  removeStaleAt,
  say,
  threads,
  type GlobalOptions,
} from '../util.js';

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

export function registerSeal(program: Command): void {
  program
    .command('seal')
    .description('encrypt a checkpoint (file or folder) into one signed package for licensed recipients')
    .argument('<input>', 'a model file (safetensors, GGUF, .pt, ...) or a checkpoint folder')
    .option(
      '--to <recipient>',
      'who can open it, repeatable: "local" (this key store), "x25519:<public key or .pub file>", "aws-kms:<key ARN, id or alias>", or "pkcs11:<token label>/<key label>"',
      collect,
      [],
    )
    .option(
      '--group <recipients>',
      'k-of-n custody instead of --to: one key group, as comma-separated recipients (any one of them opens the group); repeat for each group',
      collect,
      [],
    )
    .option('--threshold <k>', 'with --group: how many groups it takes to open (default: all of them)')
    .requiredOption(
      '-o, --output <package>',
      'package file to write ("-" for stdout: the package is made in a scratch file under $TMPDIR first, since its header comes first but is known last)',
    )
    .option('--license <id>', 'license id bound into every recipient stanza', 'none')
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
    .option(
      '--log <dir|url>',
      "record the export (one entry per recipient) in a transparency log before the package is written; if the log cannot be written, nothing is. <dir> or postgres://…: a log store signed with the key store's log.key; <url>: a release service (`modelseal serve`), which logs exports its trusted publishers sign",
    )
    .option(
      '--fingerprint [recipient]',
      "mark the weights (safetensors, GGUF) with this recipient's fingerprint as they are sealed, and record it in the registry; the recipient defaults to the one --to (e.g. the name in release:<url>#<name>)",
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
      "with --log <url>: the log's verifier key that the receipts must verify under (default: the key store's log.vkey)",
    )
    .addHelpText(
      'after',
      "\nExamples:\n  modelseal seal ./llama --to local -o llama.mseal\n  modelseal seal model.safetensors --to x25519:alice.pub --to x25519:bob.pub --license EAR-123 -o m.mseal\n  # the key only through the release service, and the weights marked for acme:\n  modelseal seal ./llama --to release:https://release.example#acme --license EAR-123 --fingerprint -o llama-acme.mseal\n  # KMS in us-east-1 AND (the HSM OR the security officer's offline key):\n  modelseal seal ./llama --group aws-kms:alias/us-east-1 --group pkcs11:hsm/kek,x25519:officer.pub -o m.mseal",
    )
    .action(
      async (
        input: string,
        o: {
          to: string[];
          group: string[];
          threshold?: string;
          output: string;
          license: string;
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
        },
        cmd: Command,
      ) => {
        const g = cmd.optsWithGlobals<GlobalOptions>();
        if (o.output === '-' && process.stdout.isTTY)
          throw new ModelsealError(
            'INVALID_ARGUMENT',
            'refusing to write a package to a terminal; redirect stdout or use -o <file>',
          );
        if (o.output === '-' && g.json)
          throw new ModelsealError('INVALID_ARGUMENT', '--json and -o - both want stdout; pick one');
        const t = threads(g);
        const staleRemoved = o.output === '-' ? [] : await removeStaleAt(o.output);
        const remote = o.log !== undefined && /^https?:\/\//.test(o.log);
        const logSigner =
          o.log && !remote ? await loadLogSigner(join(keysDir(g), 'log.key'), passphraseSource(g)) : undefined;
        const log = o.log && logSigner ? new TransparencyLog(await openLogStore(o.log), logSigner) : undefined;
        const remoteKey = remote ? await readLogVerifier(o.logKey ?? join(keysDir(g), 'log.vkey')) : undefined;
        const logged: Array<{ index: number; recipient: string }> = [];
        const publisher = await publisherKey(g, o.signingKey, o.signer);
        const who = await recipientsOrGroups(o, g);
        let fingerprint: SealOptions['fingerprint'];
        if (o.fingerprint !== undefined) {
          if (o.fingerprint === true && who.recipients.length !== 1)
            throw new ModelsealError(
              'INVALID_ARGUMENT',
              '--fingerprint marks one copy for one recipient: seal for exactly one --to, or name the recipient (--fingerprint <id>)',
            );
          fingerprint = {
            recipient: o.fingerprint === true ? who.recipients[0]!.id : o.fingerprint,
            key: await loadFingerprintKey(keysDir(g), passphraseSource(g), { create: true }),
            params: codeParams(o),
            registry: o.registry,
          };
        }
        const r = await seal({
          input,
          output: o.output === '-' ? process.stdout : o.output,
          ...who,
          ...(fingerprint ? { fingerprint } : {}),
          publisher,
          license: o.license,
          policy: o.policy,
          chunkSize: parseSize(o.chunkSize),
          allowSymlinks: o.allowSymlinks ?? false,
          force: o.force ?? false,
          fsync: o.fsync ?? false,
          ...(t !== undefined ? { threads: t } : {}),
          ...(progressBar(g) ? { onProgress: progressBar(g)! } : {}),
          signal: interruptSignal(),
          ...(o.log
            ? {
                beforeCommit: async (res: SealResult) => {
                  const events = exportEvents(res);
                  const indexes = remoteKey
                    ? await logExports(o.log!, events, publisher.signer, remoteKey)
                    : (await Promise.all(events.map((e) => log!.append(encodeEvent(e))))).map((rc) => rc.index);
                  indexes.forEach((index, i) => logged.push({ index, recipient: events[i]!.recipient }));
                },
              }
            : {}),
        }).finally(() => log?.close());
        const origin = log?.origin ?? remoteKey?.name;
        emitJson(g, 'seal', { ...r, staleRemoved, ...(o.log ? { log: { origin, entries: logged } } : {}) });
        say(
          g,
          `sealed ${r.model.name} (${r.files.length} file${r.files.length === 1 ? '' : 's'}, ${fmtBytes(r.plaintextBytes)}) → ${r.output} (${fmtBytes(r.packageBytes)})`,
        );
        if (r.keyGroups) say(g, `  opening needs ${r.keyGroups.threshold} of ${r.keyGroups.groups} key groups`);
        for (const s of r.recipients)
          say(
            g,
            `  recipient ${s.group !== undefined ? `[group ${s.group}] ` : ''}${s.type.padEnd(7)} ${s.recipient}  license ${s.license}`,
          );
        say(g, `  package ${r.packageId}\n  model   ${r.model.rootDigest}\n  signer  ${r.signer}`);
        if (r.excluded.length) say(g, `  left out: ${r.excluded.join(', ')}`);
        if (r.fingerprint) {
          sayTensors(g, r.fingerprint.tensors);
          say(
            g,
            `  fingerprint ${r.fingerprint.record.id} for ${r.fingerprint.record.recipient}, recorded in ${o.registry}`,
          );
        }
        if (o.log)
          say(
            g,
            `  logged  export entr${logged.length === 1 ? 'y' : 'ies'} ${logged.map((l) => l.index).join(', ')} in log ${origin}`,
          );
      },
    );
}
