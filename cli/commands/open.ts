import type { Command } from 'commander';
import { rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import {
  ModelsealError,
  open,
  openToStream,
  pullPackage,
  readLogVerifier,
  writeReleaseReceipt,
  type OpenOptions,
  type ProviderSettings,
  type StreamOpenResult,
} from '../../src/index.js';
import {
  collect,
  emitJson,
  fmtBytes,
  identities,
  interruptSignal,
  keysDir,
  removeStaleAt,
  say,
  threads,
  trusted,
  withProgress,
  type GlobalOptions,
} from '../util.js';

interface OpenFlags {
  output: string;
  identity: string[];
  publisher: string[];
  force?: boolean;
  fsync?: boolean;
  server?: string;
  destination?: string;
  logKey?: string;
  plainHttp?: boolean;
}

/** --server: the recipient identity, the destination and the log key the receipt must verify under. */
async function releaseSettings(
  g: GlobalOptions,
  o: { server?: string; identity: string[]; destination?: string; logKey?: string },
  onReceipt: (text: string, requestId: string) => void,
): Promise<NonNullable<ProviderSettings['release']>> {
  if (o.identity.length !== 1)
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      '--server needs exactly one --identity: your recipient identity file (from `modelseal recipient issue`)',
    );
  if (!o.destination || !/^[A-Z]{2}$/.test(o.destination))
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      '--server needs --destination <country>: where the weights go, as an ISO 3166 alpha-2 code such as DE',
    );
  if (!/^https?:\/\//.test(o.server!))
    throw new ModelsealError('INVALID_ARGUMENT', `--server ${o.server}: expected an http:// or https:// URL`);
  return {
    server: o.server!.replace(/\/+$/, ''),
    identityFile: o.identity[0]!,
    destination: o.destination,
    logKey: await readLogVerifier(o.logKey ?? join(keysDir(g), 'log.vkey')),
    onReceipt,
  };
}

/** `open <package> -o <path>`: decrypt, verify every byte, write the checkpoint and model.sig. */
export function registerOpen(program: Command): void {
  program
    .command('open')
    .description(
      "decrypt a package, verify every byte against the publisher's signed manifest, and write the checkpoint " +
        'plus model.sig',
    )
    .argument('<package>', 'package file ("-" for stdin), or oci://<registry>/<repository>[:<tag>|@sha256:<hex>]')
    .requiredOption(
      '-o, --output <path>',
      'folder (folder package) or file (single-file package) to create; "-" writes a single file to stdout ' +
        'after it verified',
    )
    .option(
      '-i, --identity <file>',
      "identity key file to try (repeatable; the key store's keys are always tried)",
      collect,
      [],
    )
    .option(
      '--publisher <pem>',
      "trusted publisher public key (repeatable; the key store's publisher.pub and trusted/ are always trusted)",
      collect,
      [],
    )
    .option(
      '--server <url>',
      'ask this release service for the key (a package sealed --to release:…): --identity is then your ' +
        'recipient identity (modelseal recipient issue)',
    )
    .option(
      '--destination <country>',
      'with --server: where the weights go, ISO 3166 alpha-2 (the license must allow it)',
    )
    .option(
      '--log-key <key|file>',
      "with --server: the release service's log key; its receipt must verify under it before the key is used " +
        "(default: the key store's log.vkey)",
    )
    .option(
      '--fsync',
      'flush the output to disk before it is renamed into place, so it also survives a power cut (slower)',
    )
    .option('--force', 'replace the output if it exists')
    .option('--plain-http', 'with oci://: speak HTTP to the registry (loopback registries fall back to it anyway)')
    .addHelpText(
      'after',
      '\nNothing appears at the output path unless the whole package authenticated: on any failure, Ctrl-C or ' +
        'a crash, only a hidden .mseal-partial-* temporary may remain.\n\n' +
        'Example: modelseal open llama.mseal -o ./llama --identity alice.x25519 --publisher publisher.pub',
    )
    .action(openAction);
}

async function openAction(pkg: string, o: OpenFlags, cmd: Command): Promise<void> {
  if (!pkg.startsWith('oci://')) return openLocal(pkg, o, cmd);
  // oci://: pull to a hidden file beside the output, open it exactly as a local package, then remove it.
  const g = cmd.optsWithGlobals<GlobalOptions>();
  const out = o.output === '-' ? resolve('modelseal-stdout') : resolve(o.output);
  const local = join(dirname(out), `.${basename(out)}.oci-package.mseal`);
  try {
    const pulled = await withProgress(g, (progress) => {
      const down = progress.counting('download');
      return pullPackage(pkg, local, {
        trustedPublishers: null, // open checks the signature itself, before any key is asked for
        force: true,
        ...(o.plainHttp ? { plainHttp: true } : {}),
        ...(down ? { onProgress: (done: number, total: number) => down({ done, total }) } : {}),
        signal: interruptSignal(),
      });
    });
    say(g, `pulled ${pulled.reference}`);
    await openLocal(local, o, cmd);
  } finally {
    await rm(local, { force: true });
  }
}

async function openLocal(pkg: string, o: OpenFlags, cmd: Command): Promise<void> {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  let receipt: { text: string; requestId: string } | undefined;
  const release = o.server
    ? await releaseSettings(g, o, (text, requestId) => (receipt = { text, requestId }))
    : undefined;
  const t = threads(g);
  const toStdout = o.output === '-';
  if (toStdout && g.json) throw new ModelsealError('INVALID_ARGUMENT', '--json and -o - both want stdout; pick one');
  const staleRemoved = toStdout ? [] : await removeStaleAt(o.output);
  const common: Omit<OpenOptions, 'output'> = {
    input: pkg === '-' ? process.stdin : pkg,
    identities: await identities(g, release ? [] : o.identity, release),
    trustedPublishers: await trusted(g, o.publisher),
    fsync: o.fsync ?? false,
    ...(t !== undefined ? { threads: t } : {}),
    signal: interruptSignal(),
    ...(process.env.MODELSEAL_DEBUG ? { debug: (m: string) => process.stderr.write(`debug: ${m}\n`) } : {}),
  };
  const r: StreamOpenResult & { output?: string; provenance?: string } = await withProgress(g, (progress) => {
    const withBar = { ...common, ...(progress.onProgress ? { onProgress: progress.onProgress } : {}) };
    return toStdout
      ? openToStream(withBar, process.stdout)
      : open({ ...withBar, output: o.output, force: o.force ?? false });
  });
  // The release receipt goes next to the output, once the output is complete.
  const receiptPath =
    receipt && r.output !== undefined
      ? await writeReleaseReceipt(r.output, receipt.text, { overwrite: o.force ?? false })
      : undefined;
  emitJson(g, 'open', {
    ...r,
    staleRemoved,
    ...(receipt ? { release: { requestId: receipt.requestId, receipt: receiptPath ?? null } } : {}),
  });
  printOpened(g, o, r, receipt, receiptPath);
}

function printOpened(
  g: GlobalOptions,
  o: OpenFlags,
  r: StreamOpenResult & { output?: string; provenance?: string },
  receipt: { requestId: string } | undefined,
  receiptPath: string | undefined,
): void {
  const files = `${r.files.length} file${r.files.length === 1 ? '' : 's'}`;
  const to = r.output ?? 'stdout';
  say(g, `opened ${r.model.name} → ${to} (${files}, ${fmtBytes(r.plaintextBytes)}), every byte verified`);
  const w = r.openedWith;
  say(g, `  opened with ${w.identity} (stanza ${w.type} for ${w.recipient}, license ${w.license})`);
  say(g, `  signer ${r.signer}\n  provenance ${r.provenance ?? '(not written with -o -)'}`);
  if (receipt) {
    const where = receiptPath ?? '(not written with -o -)';
    say(g, `  released by ${o.server} (request ${receipt.requestId}); receipt ${where}`);
  }
}
