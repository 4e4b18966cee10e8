import { Command } from 'commander';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import {
  ModelsealError,
  open,
  readLogVerifier,
  writeFileAtomic,
  type OpenResult,
  type ProviderSettings,
} from '../../src/index.js';
import {
  collect,
  emitJson,
  fmtBytes,
  identities,
  interruptSignal,
  keysDir,
  removeStaleAt,
  progressBar,
  say,
  threads,
  trusted,
  type GlobalOptions,
} from '../util.js';

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

export function registerOpen(program: Command): void {
  program
    .command('open')
    .description(
      "decrypt a package, verify every byte against the publisher's signed manifest, and write the checkpoint plus model.sig",
    )
    .argument('<package>', 'package file ("-" for stdin)')
    .requiredOption(
      '-o, --output <path>',
      'folder (folder package) or file (single-file package) to create; "-" writes a single file to stdout after it verified',
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
      'ask this release service for the key (a package sealed --to release:…): --identity is then your recipient identity (modelseal recipient issue)',
    )
    .option(
      '--destination <country>',
      'with --server: where the weights go, ISO 3166 alpha-2 (the license must allow it)',
    )
    .option(
      '--log-key <key|file>',
      "with --server: the release service's log key; its receipt must verify under it before the key is used (default: the key store's log.vkey)",
    )
    .option(
      '--fsync',
      'flush the output to disk before it is renamed into place, so it also survives a power cut (slower)',
    )
    .option('--force', 'replace the output if it exists')
    .addHelpText(
      'after',
      '\nNothing appears at the output path unless the whole package authenticated: on any failure, Ctrl-C or a crash, only a hidden .mseal-partial-* temporary may remain.\n\nExample: modelseal open llama.mseal -o ./llama --identity alice.x25519 --publisher publisher.pub',
    )
    .action(
      async (
        pkg: string,
        o: {
          output: string;
          identity: string[];
          publisher: string[];
          force?: boolean;
          fsync?: boolean;
          server?: string;
          destination?: string;
          logKey?: string;
        },
        cmd: Command,
      ) => {
        const g = cmd.optsWithGlobals<GlobalOptions>();
        let receipt: { text: string; requestId: string } | undefined;
        const release = o.server
          ? await releaseSettings(g, o, (text, requestId) => (receipt = { text, requestId }))
          : undefined;
        const t = threads(g);
        const toStdout = o.output === '-';
        if (toStdout && g.json)
          throw new ModelsealError('INVALID_ARGUMENT', '--json and -o - both want stdout; pick one');
        const staleRemoved = toStdout ? [] : await removeStaleAt(o.output);
        const scratch = toStdout ? await mkdtemp(join(tmpdir(), 'modelseal-')) : undefined;
        try {
          const r: OpenResult = await open({
            input: pkg === '-' ? process.stdin : pkg,
            output: scratch ? join(scratch, 'out') : o.output,
            identities: await identities(g, release ? [] : o.identity, release),
            trustedPublishers: await trusted(g, o.publisher),
            force: o.force ?? false,
            fsync: o.fsync ?? false,
            ...(t !== undefined ? { threads: t } : {}),
            ...(progressBar(g) ? { onProgress: progressBar(g)! } : {}),
            signal: interruptSignal(),
            ...(process.env.MODELSEAL_DEBUG ? { debug: (m: string) => process.stderr.write(`debug: ${m}\n`) } : {}),
          });
          if (scratch) {
            if (r.kind !== 'file')
              throw new ModelsealError(
                'INVALID_ARGUMENT',
                '-o - works only for a single-file package; this one is a folder',
              );
            await pipeline(createReadStream(r.output), process.stdout, { end: false });
          }
          // The release receipt goes next to the output, once the output is complete.
          const receiptPath = receipt && !toStdout ? `${r.output}.release.tlog-proof` : undefined;
          if (receipt && receiptPath) await writeFileAtomic(receiptPath, receipt.text, { overwrite: o.force ?? false });
          emitJson(g, 'open', {
            ...r,
            staleRemoved,
            ...(receipt ? { release: { requestId: receipt.requestId, receipt: receiptPath ?? null } } : {}),
          });
          say(
            g,
            `opened ${r.model.name} → ${toStdout ? 'stdout' : r.output} (${r.files.length} file${r.files.length === 1 ? '' : 's'}, ${fmtBytes(r.plaintextBytes)}), every byte verified`,
          );
          say(
            g,
            `  opened with ${r.openedWith.identity} (stanza ${r.openedWith.type} for ${r.openedWith.recipient}, license ${r.openedWith.license})`,
          );
          say(g, `  signer ${r.signer}\n  provenance ${toStdout ? '(not written with -o -)' : r.provenance}`);
          if (receipt)
            say(
              g,
              `  released by ${o.server} (request ${receipt.requestId}); receipt ${receiptPath ?? '(not written with -o -)'}`,
            );
        } finally {
          if (scratch) await rm(scratch, { recursive: true, force: true });
        }
      },
    );
}
