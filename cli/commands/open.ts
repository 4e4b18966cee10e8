import { Command } from 'commander';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ModelsealError, open, type OpenResult } from '../../src/index.js';
import { collect, emitJson, fmtBytes, identities, interruptSignal, progressBar, say, threads, trusted, type GlobalOptions } from '../util.js';

export function registerOpen(program: Command): void {
  program
    .command('open')
    .description('decrypt a package, verify every byte against the publisher\'s signed manifest, and write the checkpoint plus model.sig')
    .argument('<package>', 'package file ("-" for stdin)')
    .requiredOption('-o, --output <path>', 'folder (folder package) or file (single-file package) to create; "-" writes a single file to stdout after it verified')
    .option('-i, --identity <file>', 'identity key file to try (repeatable; the key store\'s keys are always tried)', collect, [])
    .option('--publisher <pem>', 'trusted publisher public key (repeatable; the key store\'s publisher.pub and trusted/ are always trusted)', collect, [])
    .option('--fsync', 'flush the output to disk before it is renamed into place, so it also survives a power cut (slower)')
    .option('--force', 'replace the output if it exists')
    .addHelpText('after', '\nNothing appears at the output path unless the whole package authenticated: on any failure, Ctrl-C or a crash, only a hidden .mseal-partial-* temporary may remain.\n\nExample: modelseal open llama.mseal -o ./llama --identity alice.x25519 --publisher publisher.pub')
    .action(async (pkg: string, o: { output: string; identity: string[]; publisher: string[]; force?: boolean; fsync?: boolean }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const t = threads(g);
      const toStdout = o.output === '-';
      if (toStdout && g.json) throw new ModelsealError('INVALID_ARGUMENT', '--json and -o - both want stdout; pick one');
      const scratch = toStdout ? await mkdtemp(join(tmpdir(), 'modelseal-')) : undefined;
      try {
        const r: OpenResult = await open({
          input: pkg === '-' ? process.stdin : pkg,
          output: scratch ? join(scratch, 'out') : o.output,
          identities: await identities(g, o.identity),
          trustedPublishers: await trusted(g, o.publisher),
          force: o.force ?? false,
        fsync: o.fsync ?? false,
          ...(t !== undefined ? { threads: t } : {}),
          ...(progressBar(g) ? { onProgress: progressBar(g)! } : {}),
          signal: interruptSignal(),
          ...(process.env.MODELSEAL_DEBUG ? { debug: (m: string) => process.stderr.write(`debug: ${m}\n`) } : {}),
        });
        if (scratch) {
          if (r.kind !== 'file') throw new ModelsealError('INVALID_ARGUMENT', '-o - works only for a single-file package; this one is a folder');
          await pipeline(createReadStream(r.output), process.stdout, { end: false });
        }
        emitJson(g, 'open', r);
        say(g, `opened ${r.model.name} → ${toStdout ? 'stdout' : r.output} (${r.files.length} file${r.files.length === 1 ? '' : 's'}, ${fmtBytes(r.plaintextBytes)}), every byte verified`);
        say(g, `  opened with ${r.openedWith.identity} (stanza ${r.openedWith.type} for ${r.openedWith.recipient}, license ${r.openedWith.license})`);
        say(g, `  signer ${r.signer}\n  provenance ${toStdout ? '(not written with -o -)' : r.provenance}`);
      } finally {
        if (scratch) await rm(scratch, { recursive: true, force: true });
      }
    });
}
