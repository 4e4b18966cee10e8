/** `receipt verify`: a log receipt (C2SP tlog-proof) checked offline. */
import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { ModelsealError, verifyProof } from '../../src/index.js';
import { emitJson, say, type GlobalOptions } from '../util.js';
import { LOG_KEY_HELP, logKey } from './audit.js';

/** `receipt verify <receipt>`: the checkpoint's signature by the log and the inclusion proof. */
export function registerReceipt(program: Command): void {
  program
    .command('receipt')
    .description('check log receipts (C2SP tlog-proof) offline')
    .command('verify')
    .description(
      "check that a receipt's entry is in the log: the checkpoint's signature by the log and the inclusion proof",
    )
    .argument('<receipt>', 'a .tlog-proof file (modelseal receipts carry the logged entry)')
    .option('--log-key <key|file>', LOG_KEY_HELP)
    .option('--entry <file>', 'the logged entry, when the receipt does not carry it (or to check it is that entry)')
    .action(receiptVerify);
}

async function readInput(p: string): Promise<Buffer> {
  try {
    return await readFile(p);
  } catch (cause) {
    throw new ModelsealError('IO', `cannot read ${p}`, { cause });
  }
}

async function receiptVerify(file: string, o: { logKey?: string; entry?: string }, cmd: Command): Promise<void> {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  const verifier = await logKey(g, o.logKey);
  const proof = (await readInput(file)).toString('utf8');
  const r = verifyProof(proof, o.entry ? await readInput(o.entry) : undefined, verifier);
  const entry = r.entry.toString('utf8');
  emitJson(g, 'receipt verify', {
    index: r.index,
    origin: r.checkpoint.origin,
    size: r.checkpoint.size,
    root: r.checkpoint.root.toString('base64'),
    entry,
  });
  say(g, `receipt verified: entry ${r.index} of log ${r.checkpoint.origin} (checkpoint size ${r.checkpoint.size})`);
  say(g, `  ${entry.length > 400 ? entry.slice(0, 400) + '…' : entry}`);
}
