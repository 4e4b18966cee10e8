import { Command } from 'commander';
import { join } from 'node:path';
import { auditLog, FileStore, ModelsealError, readLogVerifier, receiptFor, verifyProof } from '../../src/index.js';
import { emitJson, keysDir, progressBar, say, threads, type GlobalOptions } from '../util.js';
import { readFile } from 'node:fs/promises';

const LOG_KEY_HELP = "the log's verifier key (origin+id+key) or a file holding it; default: the key store's log.vkey";

async function logKey(g: GlobalOptions, given: string | undefined) {
  return readLogVerifier(given ?? join(keysDir(g), 'log.vkey'));
}

export function registerAudit(program: Command): void {
  const audit = program.command('audit').description("check a transparency log: that it was never rewritten, and what it holds");
  audit
    .command('verify')
    .description('recompute the whole log from its entries; check every checkpoint signature and that each checkpoint is a prefix of the same tree')
    .requiredOption('--store <dir>', "the log's data directory (as given to `seal --log`)")
    .option('--log-key <key|file>', LOG_KEY_HELP)
    .addHelpText(
      'after',
      '\nReports the first problem: an entry changed after it was logged, a stored hash changed, a checkpoint\nnot signed by the log, a log that shrank, or a checkpoint that does not match the entries. Exit 12 then.\nThe store must not be in use by a running server (it takes the store\'s lock).',
    )
    .action(async (o: { store: string; logKey?: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const verifier = await logKey(g, o.logKey);
      const store = FileStore.open(o.store);
      try {
        const bar = progressBar(g);
        const t = threads(g);
        const r = await auditLog(store, verifier, {
          ...(t !== undefined ? { threads: t } : {}),
          ...(bar ? { onProgress: (done: number, total: number) => bar({ phase: 'audit', done, total }) } : {}),
        });
        if (!r.ok) throw new ModelsealError('LOG_INVALID', `${o.store}: ${r.problem!.message}`, { details: { ...r } });
        emitJson(g, 'audit verify', r);
        say(g, `log ${r.origin} verified: ${r.size} entries, ${r.checkpoints} checkpoint(s)${r.latest ? `, latest root ${r.latest.root}` : ''}`);
      } finally {
        await store.close();
      }
    });

  audit
    .command('proof')
    .description('print the receipt (C2SP tlog-proof, carrying the entry) of one log entry against the latest checkpoint')
    .argument('<index>', 'the entry index (as `seal --log` reports it)')
    .requiredOption('--store <dir>', "the log's data directory")
    .option('--log-key <key|file>', LOG_KEY_HELP)
    .addHelpText('after', '\nThe receipt goes to stdout (with --json, as the "proof" field); check it anywhere with `modelseal receipt verify`.')
    .action(async (index: string, o: { store: string; logKey?: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const n = /^(0|[1-9][0-9]*)$/.test(index) ? Number(index) : NaN;
      if (!Number.isSafeInteger(n)) throw new ModelsealError('INVALID_ARGUMENT', `<index> ${JSON.stringify(index)}: expected an entry number`);
      const verifier = await logKey(g, o.logKey);
      const store = FileStore.open(o.store);
      try {
        const r = await receiptFor(store, n);
        verifyProof(r.proof, undefined, verifier); // never hand out a proof that does not check
        if (g.json) emitJson(g, 'audit proof', { index: r.index, proof: r.proof });
        else process.stdout.write(r.proof);
      } finally {
        await store.close();
      }
    });

  program
    .command('receipt')
    .description('check log receipts (C2SP tlog-proof) offline')
    .command('verify')
    .description("check that a receipt's entry is in the log: the checkpoint's signature by the log and the inclusion proof")
    .argument('<receipt>', 'a .tlog-proof file (modelseal receipts carry the logged entry)')
    .option('--log-key <key|file>', LOG_KEY_HELP)
    .option('--entry <file>', 'the logged entry, when the receipt does not carry it (or to check it is that entry)')
    .action(async (file: string, o: { logKey?: string; entry?: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const verifier = await logKey(g, o.logKey);
      const read = async (p: string) => {
        try {
          return await readFile(p);
        } catch (cause) {
          throw new ModelsealError('IO', `cannot read ${p}`, { cause });
        }
      };
      const r = verifyProof((await read(file)).toString('utf8'), o.entry ? await read(o.entry) : undefined, verifier);
      const entry = r.entry.toString('utf8');
      emitJson(g, 'receipt verify', { index: r.index, origin: r.checkpoint.origin, size: r.checkpoint.size, root: r.checkpoint.root.toString('base64'), entry });
      say(g, `receipt verified: entry ${r.index} of log ${r.checkpoint.origin} (checkpoint size ${r.checkpoint.size})`);
      say(g, `  ${entry.length > 400 ? entry.slice(0, 400) + '…' : entry}`);
    });
}
