import type { Command } from 'commander';
import { createHash, createPublicKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import {
  loadOrCreateCa,
  ModelsealError,
  openExportLog,
  openPartyScreening,
  RecipientRegistry,
  recipientNationalities,
  screenRegistration,
  writeKeyFile,
  type OverrideLog,
  type RecipientRecord,
  type ScreeningOverride,
} from '../../src/index.js';
import { emitJson, keysDir, passphraseSource, publisherKey, say, type GlobalOptions } from '../util.js';
import { dataDir, DATA_HELP } from './policy.js';
import { registerRecipientKey } from './recipient-key.js';

interface Attrs {
  data?: string;
  org: string;
  country: string;
  nationality: string[];
  citizenship: string[];
  overrideScreening?: string;
  decidedBy?: string;
  log?: string;
}

const registry = (o: { data?: string }) => new RecipientRegistry(join(dataDir(o), 'recipients'));

/** Country codes given as `--x DE,IR`, or the option repeated. */
const codes = (v: string, prev: string[]) => [...prev, ...v.split(',').map((c) => c.trim())];

/** The attribute, screening and override options of issue and register. */
const withAttrs = (c: Command) =>
  c
    .option('--data <dir>', DATA_HELP)
    .requiredOption('--org <name>', 'the recipient organisation')
    .requiredOption('--country <code>', 'where the recipient is established (ISO 3166 alpha-2)')
    .option(
      '--nationality <codes>',
      "the recipient's nationalities (ISO 3166 alpha-2, DE,IR or repeated), for deemed-export rules",
      codes,
      [],
    )
    .option('--citizenship <codes>', "the recipient's citizenships (likewise), for deemed-export rules", codes, [])
    .option(
      '--override-screening <reason>',
      'register although screening flags the name or organisation: the match, the reason and who decided are logged',
    )
    .option('--decided-by <name>', 'who decided the override (default: the operating-system user)')
    .option(
      '--log <dir|url>',
      'where the override is logged: a log store, or a release service URL (default <data>/log)',
    );

/** The recipient's attributes as the registry takes them. */
const attrsOf = (o: Attrs) => ({
  org: o.org,
  country: o.country,
  nationalities: o.nationality,
  citizenships: o.citizenship,
});

/**
 * Screens the party against the data directory's active lists before anything is written; a
 * review or hit refuses unless overridden, and an override is logged first (docs/SERVER.md).
 */
async function screened(g: GlobalOptions, name: string, o: Attrs): Promise<ScreeningOverride | undefined> {
  if (o.decidedBy !== undefined && o.overrideScreening === undefined)
    throw new ModelsealError('INVALID_ARGUMENT', '--decided-by names who decided an --override-screening: give both');
  if (await registry(o).get(name))
    throw new ModelsealError(
      'OUTPUT_EXISTS',
      `recipient ${name} is already registered; revoke it and choose another name`,
    );
  const publisher = o.overrideScreening === undefined ? undefined : await publisherKey(g);
  const publisherId = publisher ? `sha256:${createHash('sha256').update(publisher.spki).digest('hex')}` : '';
  const openLog = async (): Promise<OverrideLog> => {
    const where = o.log ?? join(dataDir(o), 'log');
    const log = await openExportLog(where, { keysDir: keysDir(g), passphrase: passphraseSource(g) });
    return {
      origin: log.origin,
      record: async (event) => {
        try {
          return (await log.append([event], publisher!))[0]!;
        } finally {
          await log.close();
        }
      },
    };
  };
  return screenRegistration(name, attrsOf(o), {
    screening: await openPartyScreening(dataDir(o)),
    publisher: publisherId,
    log: openLog,
    ...(o.overrideScreening !== undefined && {
      override: { reason: o.overrideScreening, decidedBy: o.decidedBy ?? userInfo().username },
    }),
  });
}

/** Tells the operator that the registration overrode screening, and where that is logged. */
function sayOverride(g: GlobalOptions, r: RecipientRecord): void {
  const o = r.screeningOverride;
  if (!o) return;
  const best = o.screening.best
    ? ` ${o.screening.best.name} (${o.screening.best.source}, ${o.screening.best.score})`
    : '';
  say(
    g,
    `screening ${o.screening.decision}${best} overridden by ${o.decidedBy}; ` +
      `logged as entry ${o.log.index} of ${o.log.origin}`,
  );
}

/** One line of `recipient list`: name, organisation, country, nationalities, and what is special about it. */
function listLine(x: RecipientRecord): string {
  const revoked = x.revoked ? `  REVOKED ${x.revoked}` : '';
  const nat = recipientNationalities(x);
  const override = x.screeningOverride ? `  screening overridden by ${x.screeningOverride.decidedBy}` : '';
  return `${x.name.padEnd(20)} ${x.org} (${x.country}; nationalities ${nat.join(',') || 'none'})${override}${revoked}`;
}

/** `recipient issue | register | revoke | list`. */
export function registerRecipient(program: Command): void {
  const r = program
    .command('recipient')
    .description("the release service's registered recipients: who may ask for keys");
  registerIssue(r);
  registerRegister(r);
  registerRecipientKey(r);
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
      for (const x of all) say(g, listLine(x));
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
    const override = await screened(g, name, o);
    const ca = await loadOrCreateCa(keysDir(g), passphraseSource(g));
    const passphrase = o.protect ? await passphraseSource(g)() : undefined;
    const { record, identity } = await registry(o).issue(name, attrsOf(o), ca, passphrase, override);
    const out = resolve(o.output ?? `${name}.identity`);
    await writeKeyFile(out, identity);
    emitJson(g, 'recipient issue', { recipient: record, identity: out });
    sayOverride(g, record);
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
    const override = await screened(g, name, o);
    const ca = key.asymmetricKeyType === 'rsa' ? await loadOrCreateCa(keysDir(g), passphraseSource(g)) : undefined;
    const record = await registry(o).register(name, attrsOf(o), key, ca, override);
    emitJson(g, 'recipient register', { recipient: record });
    sayOverride(g, record);
    const noCert = record.certificate ? '' : ' (no certificate: not an RSA key)';
    say(g, `registered ${name} (${o.org}, ${o.country}); fingerprint ${record.fingerprint}${noCert}`);
  });
}
