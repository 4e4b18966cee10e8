import type { Command } from 'commander';
import { createPublicKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { loadOrCreateCa, ModelsealError, RecipientRegistry, writeKeyFile } from '../../src/index.js';
import { emitJson, keysDir, passphraseSource, say, type GlobalOptions } from '../util.js';
import { dataDir, DATA_HELP } from './policy.js';

interface Attrs {
  data?: string;
  org: string;
  country: string;
  nationality: string;
}

const registry = (o: { data?: string }) => new RecipientRegistry(join(dataDir(o), 'recipients'));

/** The --data, --org, --country and --nationality options of issue and register. */
const withAttrs = (c: Command) =>
  c
    .option('--data <dir>', DATA_HELP)
    .requiredOption('--org <name>', 'the recipient organisation')
    .requiredOption('--country <code>', 'where the recipient is established (ISO 3166 alpha-2)')
    .requiredOption('--nationality <code>', "the recipient's nationality (ISO 3166 alpha-2), for deemed-export rules");

/** `recipient issue | register | revoke | list`. */
export function registerRecipient(program: Command): void {
  const r = program
    .command('recipient')
    .description("the release service's registered recipients: who may ask for keys");
  registerIssue(r);
  registerRegister(r);
  r.command('revoke')
    .description('revoke a recipient: its next request is denied (and logged)')
    .argument('<name>')
    .option('--data <dir>', DATA_HELP)
    .action(async (name: string, o: { data?: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const record = await registry(o).revoke(name);
      emitJson(g, 'recipient revoke', { recipient: record });
      say(g, `revoked ${name} at ${record.revoked}`);
    });
  r.command('list')
    .description('list registered recipients')
    .option('--data <dir>', DATA_HELP)
    .action(async (o: { data?: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const all = await registry(o).list();
      emitJson(g, 'recipient list', { recipients: all.map(({ publicKey: _k, certificate: _c, ...rest }) => rest) });
      if (!all.length) say(g, 'no recipients registered (modelseal recipient issue <name> …)');
      for (const x of all) {
        const revoked = x.revoked ? `  REVOKED ${x.revoked}` : '';
        say(g, `${x.name.padEnd(20)} ${x.org} (${x.country}, ${x.nationality})${revoked}`);
      }
    });
}

function registerIssue(r: Command): void {
  withAttrs(
    r
      .command('issue')
      .description(
        "make a key pair and an X.509 certificate signed by the publisher's CA (keys/ca.key, created on first use) " +
          'for a new recipient',
      )
      .argument('<name>', 'the recipient name: lowercase letters, digits, ".", "_", "-"')
      .option(
        '-o, --output <file>',
        'where to write the identity file to hand to the recipient (default ./<name>.identity)',
      )
      .option(
        '--protect',
        'encrypt the identity file with a passphrase (--passphrase-file, $MODELSEAL_PASSPHRASE(_FILE) or a prompt)',
      ),
  ).action(async (name: string, o: Attrs & { output?: string; protect?: boolean }, cmd: Command) => {
    const g = cmd.optsWithGlobals<GlobalOptions>();
    const ca = await loadOrCreateCa(keysDir(g), passphraseSource(g));
    const passphrase = o.protect ? await passphraseSource(g)() : undefined;
    const attrs = { org: o.org, country: o.country, nationality: o.nationality };
    const { record, identity } = await registry(o).issue(name, attrs, ca, passphrase);
    const out = resolve(o.output ?? `${name}.identity`);
    await writeKeyFile(out, identity);
    emitJson(g, 'recipient issue', { recipient: record, identity: out });
    say(g, `registered ${name} (${o.org}, ${o.country}); certificate fingerprint ${record.fingerprint}`);
    say(g, `  identity ${out} (secret: hand it to the recipient, then delete your copy)`);
    say(
      g,
      `  seal for them with --to release:<service URL>#${name}; ` +
        `they open with --server <URL> --identity ${name}.identity --destination <country>`,
    );
  });
}

function registerRegister(r: Command): void {
  withAttrs(
    r
      .command('register')
      .description(
        'register a public key the recipient made (RSA: a certificate is issued for it; ECDSA or Ed25519: ' +
          'registered as is)',
      )
      .argument('<name>', 'the recipient name')
      .requiredOption('--public-key <pem>', "the recipient's public key (PEM)"),
  ).action(async (name: string, o: Attrs & { publicKey: string }, cmd: Command) => {
    const g = cmd.optsWithGlobals<GlobalOptions>();
    let key;
    try {
      key = createPublicKey(await readFile(o.publicKey));
    } catch (cause) {
      throw new ModelsealError('INVALID_ARGUMENT', `--public-key ${o.publicKey}: not a readable PEM public key`, {
        cause,
      });
    }
    const ca = key.asymmetricKeyType === 'rsa' ? await loadOrCreateCa(keysDir(g), passphraseSource(g)) : undefined;
    const attrs = { org: o.org, country: o.country, nationality: o.nationality };
    const record = await registry(o).register(name, attrs, key, ca);
    emitJson(g, 'recipient register', { recipient: record });
    const noCert = record.certificate ? '' : ' (no certificate: not an RSA key)';
    say(g, `registered ${name} (${o.org}, ${o.country}); fingerprint ${record.fingerprint}${noCert}`);
  });
}
