import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  ApiKeyStore,
  dataPaths,
  ModelsealError,
  parseKeyExpiry,
  RecipientRegistry,
  writeFileAtomic,
  type ApiKeyRecord,
} from '../../src/index.js';
import { collect, emitJson, say, type GlobalOptions } from '../util.js';
import { dataDir, DATA_HELP } from './policy.js';

const store = (o: { data?: string }) => {
  const paths = dataPaths(dataDir(o));
  return new ApiKeyStore(paths.apiKeys, new RecipientRegistry(paths.recipients));
};

/** One line of `recipient key list`: never the secret, which is not stored. */
function keyLine(k: ApiKeyRecord): string {
  const models = k.models.length ? k.models.join(',') : 'every model';
  const expires = k.expires ? `expires ${k.expires}` : 'no expiry';
  const revoked = k.revoked ? `  REVOKED ${k.revoked}` : '';
  const label = k.label ? `  "${k.label}"` : '';
  return `${k.id}  ${k.recipient.padEnd(20)} ${models}; created ${k.created}; ${expires}${label}${revoked}`;
}

interface IssueOptions {
  data?: string;
  model: string[];
  expires?: string;
  label?: string;
  out?: string;
}

/** `recipient key issue | revoke | list`: the recipients' API keys for `modelseal gate` (docs/GATE.md). */
export function registerRecipientKey(recipient: Command): void {
  const k = recipient.command('key').description("the recipients' API keys for the inference gateway (modelseal gate)");
  k.command('issue')
    .description('issue an API key for a registered recipient: printed once, stored only as its SHA-256')
    .argument('<name>', 'the recipient')
    .option('--data <dir>', DATA_HELP)
    .option('--model <name>', 'a served model the key may call (repeatable; default: every model)', collect, [])
    .option('--expires <when>', 'expiry: an ISO 8601 date or date-time, or a duration such as 30d, 12h')
    .option('--label <text>', 'a note for the operator, shown by list (not secret)')
    .option('--out <file>', 'write the key to this new file (mode 0600) instead of stdout')
    .action(async (name: string, o: IssueOptions, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const now = new Date();
      const expires = o.expires === undefined ? null : parseKeyExpiry(o.expires, now);
      const out = o.out === undefined ? undefined : resolve(o.out);
      if (out && existsSync(out))
        throw new ModelsealError('OUTPUT_EXISTS', `${out} already exists; choose another --out (no key was issued)`);
      const keys = store(o);
      const { record, key } = await keys.issue(name, { models: o.model, expires, label: o.label ?? '' }, now);
      const { hash: _h, ...shown } = record;
      if (out) {
        // A key whose text could not be kept anywhere is revoked at once: nobody holds it.
        await writeFileAtomic(out, key + '\n', { mode: 0o600 }).catch(async (e: unknown) => {
          await keys.revoke(record.id);
          throw e;
        });
        emitJson(g, 'recipient key issue', { key: shown, keyFile: out });
        say(g, `issued API key ${record.id} for ${name}; written to ${out} (hand it to the recipient)`);
        return;
      }
      emitJson(g, 'recipient key issue', { key: shown, apiKey: key });
      if (!g.json) process.stdout.write(key + '\n');
      say(g, `issued API key ${record.id} for ${name}: shown once, only its SHA-256 is kept`);
    });
  k.command('revoke')
    .description('revoke an API key: the gateway refuses it from its next request')
    .argument('<id>', 'the key id (msk_<id>_…; recipient key list shows them)')
    .option('--data <dir>', DATA_HELP)
    .action(async (id: string, o: { data?: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const { hash: _h, ...record } = await store(o).revoke(id);
      emitJson(g, 'recipient key revoke', { key: record });
      say(g, `revoked API key ${id} of ${record.recipient} at ${record.revoked}`);
    });
  k.command('list')
    .description("list API keys (all, or one recipient's): ids, models, dates; never secrets")
    .argument('[name]', 'only the keys of this recipient')
    .option('--data <dir>', DATA_HELP)
    .action(async (name: string | undefined, o: { data?: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const keys = (await store(o).list(name)).map(({ hash: _h, ...rest }) => rest);
      emitJson(g, 'recipient key list', { keys });
      if (!keys.length) say(g, 'no API keys (modelseal recipient key issue <name>)');
      for (const x of keys) say(g, keyLine({ ...x, hash: '' }));
    });
}
