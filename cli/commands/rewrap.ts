import type { Command } from 'commander';
import {
  findPackages,
  ModelsealError,
  recipientFrom,
  recoverAll,
  reseal,
  rewrapAll,
  type Recipient,
  type RewrapResult,
} from '../../src/index.js';
import {
  collect,
  emitJson,
  fmtBytes,
  identities,
  interruptSignal,
  parseRecipients,
  providerSettings,
  publisherKey,
  SIGNER_OPTION,
  say,
  threads,
  trusted,
  withProgress,
  type GlobalOptions,
} from '../util.js';

interface Opts {
  add: string[];
  group?: string;
  remove: string[];
  rotate?: string[];
  license: string;
  policy: string;
  identity: string[];
  publisher: string[];
  signingKey?: string;
  signer?: string;
  recover?: boolean;
}

/** The options rewrap and reseal share, loaded: keys that open and sign, and the change of recipients. */
async function recipientChange(g: GlobalOptions, o: Opts) {
  return {
    identities: await identities(g, o.identity),
    trustedPublishers: await trusted(g, o.publisher),
    publisher: await publisherKey(g, o.signingKey, o.signer),
    add: await parseRecipients(o.add, g),
    remove: o.remove,
    ...(o.group !== undefined ? { group: groupNumber(o.group) } : {}),
    license: o.license,
    policy: o.policy,
  };
}

function groupNumber(v: string): number {
  if (!/^\d+$/.test(v))
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `--group ${v}: expected a key group number (as \`modelseal inspect\` shows them)`,
    );
  return Number(v);
}

/** --rotate <old recipient id>=<new recipient>: the new key takes the old stanza's place, license and policy. */
async function parseRotations(values: readonly string[], g: GlobalOptions): Promise<{ from: string; to: Recipient }[]> {
  const out = [];
  for (const v of values) {
    const at = v.indexOf('=');
    if (at <= 0 || at === v.length - 1)
      throw new ModelsealError(
        'INVALID_ARGUMENT',
        `--rotate ${v}: expected a provider (aws-kms, pkcs11, …) or <old recipient id>=<new recipient>, ` +
          'e.g. aws-kms:arn:…:key/old=aws-kms:alias/new',
      );
    out.push({ from: v.slice(0, at), to: (await parseRecipients([v.slice(at + 1)], g))[0]! });
  }
  return out;
}

const recipientOptions = (c: Command) =>
  c
    .option(
      '--add <recipient>',
      'give a recipient a stanza, repeatable: "local" or "x25519:<public key or .pub file>"',
      collect,
      [],
    )
    .option(
      '--remove <recipient-id>',
      'drop the stanza of this recipient id (as `inspect` shows it), repeatable',
      collect,
      [],
    )
    .option('--group <n>', 'in a package with key groups: the group the added recipients join')
    .option('--license <id>', 'license id bound into added stanzas', 'none')
    .option('--policy <hash>', 'policy hash bound into added stanzas', 'none')
    .option(
      '-i, --identity <file>',
      "identity key file that opens the package (repeatable; the key store's keys are always tried)",
      collect,
      [],
    )
    .option(
      '--publisher <pem>',
      "trusted publisher public key (repeatable; the key store's are trusted too)",
      collect,
      [],
    )
    .option('--signing-key <file>', "publisher key file that re-signs (default: the key store's publisher.key)")
    .option(...SIGNER_OPTION);

/** `rewrap <package...>`: change the recipients of packages in place. */
export function registerRewrap(program: Command): void {
  recipientOptions(
    program
      .command('rewrap')
      .description(
        'add or remove recipients of packages in place: only the header and the signature are rewritten, ' +
          'never the payload',
      )
      .argument('<package...>', 'package files, or folders searched for *.mseal'),
  )
    .option(
      '--rotate <provider | old=new>',
      'a provider (aws-kms, pkcs11, …): wrap each of its stanzas again for the same key (its current version ' +
        'after a KMS key rotation; the key now under that HSM label); or old=new: replace the stanza of ' +
        'recipient id <old> by one for <new>, same license and policy; repeatable',
      collect,
      [],
    )
    .option('--recover', 'only restore packages whose earlier rewrap was interrupted')
    .addHelpText(
      'after',
      `
Rewrap needs an identity that opens the package (the header MAC and new stanzas need the data key)
and the publisher's signing key (the package signature must come from the same key as the
provenance inside). It is crash-safe: the old bytes are journalled beside the package first.

--remove stops future releases only: a recipient that already unwrapped the data key can still
decrypt this payload. When that matters, use \`modelseal reseal\`, which re-encrypts everything
under a fresh data key.

Examples:
  modelseal rewrap llama.mseal --add x25519:bob.pub --license EAR-123
  modelseal rewrap ./exports --remove x25519:Ab3…   # every package under ./exports
  modelseal rewrap ./exports --rotate pkcs11:hsm/kek-2025=pkcs11:hsm/kek-2026   # replace an HSM key`,
    )
    .action(rewrapAction);
}

/** "[2/5] rewrapped a.mseal: 3 recipient(s), added …" */
function rewrapLine(i: number, n: number, p: string, r: RewrapResult): string {
  const parts = [`${r.recipients.length} recipient(s)`];
  if (r.added.length) parts.push(`added ${r.added.join(', ')}`);
  if (r.removed.length) parts.push(`removed ${r.removed.join(', ')}`);
  if (r.rotated.length) parts.push(`rotated ${r.rotated.map((x) => `${x.from} → ${x.to}`).join(', ')}`);
  const recovered = r.recovered ? '; an interrupted earlier rewrap was rolled back first' : '';
  return `[${i + 1}/${n}] rewrapped ${p}: ${parts.join(', ')} (${fmtBytes(r.bytesWritten)} written)${recovered}`;
}

async function rewrapAction(paths: string[], o: Opts, cmd: Command): Promise<void> {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  const pkgs = await findPackages(paths);
  if (pkgs.length === 0) throw new ModelsealError('INVALID_ARGUMENT', `no .mseal packages in ${paths.join(', ')}`);
  if (o.recover) {
    const recovered = await recoverAll(pkgs);
    emitJson(g, 'rewrap', { recovered });
    say(g, recovered.length ? `restored ${recovered.join(', ')}` : 'nothing to restore');
    return;
  }
  const rotate = o.rotate ?? [];
  if (o.add.length === 0 && o.remove.length === 0 && rotate.length === 0)
    throw new ModelsealError('INVALID_ARGUMENT', 'nothing to do: give --add, --remove or --rotate (or --recover)');
  const renewals = rotate.filter((v) => !v.includes('='));
  if (renewals.length > 1)
    throw new ModelsealError('INVALID_ARGUMENT', `--rotate ${renewals.join(', ')}: renew one provider per run`);
  const settings = providerSettings(g);
  const change = {
    ...(await recipientChange(g, o)),
    rotate: await parseRotations(
      rotate.filter((v) => v.includes('=')),
      g,
    ),
    ...(renewals[0] ? { renew: { type: renewals[0], resolve: (id: string) => recipientFrom(id, settings) } } : {}),
  };
  const results = await rewrapAll(pkgs, change, {
    signal: interruptSignal(),
    onRewrapped: (i, p, r) => say(g, rewrapLine(i, pkgs.length, p, r)),
  });
  emitJson(g, 'rewrap', { packages: results });
}

/** `reseal <package> -o <new>`: the same package under a fresh data key. */
export function registerReseal(program: Command): void {
  recipientOptions(
    program
      .command('reseal')
      .description('re-encrypt a package under a fresh data key (after removing a recipient that may hold the old one)')
      .argument('<package>', 'the package to reseal')
      .requiredOption('-o, --output <package>', 'the new package'),
  )
    .option('--force', 'replace the output file if it exists')
    .addHelpText(
      'after',
      '\nThe kept recipients keep their license and policy; --license/--policy apply to added ones.' +
        '\nExample: modelseal reseal llama.mseal --remove x25519:Ab3… -o llama-v2.mseal',
    )
    .action(async (pkg: string, o: Opts & { output: string; force?: boolean }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const t = threads(g);
      const change = await recipientChange(g, o);
      const r = await withProgress(g, (progress) =>
        reseal(pkg, {
          ...change,
          output: o.output,
          force: o.force ?? false,
          ...(t !== undefined ? { threads: t } : {}),
          ...(progress.onProgress ? { onProgress: progress.onProgress } : {}),
          signal: interruptSignal(),
        }),
      );
      emitJson(g, 'reseal', r);
      const removed = r.removed.length ? ` (removed ${r.removed.join(', ')})` : '';
      const kept = r.recipients.map((s) => s.recipient).join(', ');
      say(g, `resealed ${pkg} → ${r.output} under a fresh data key: ${kept}${removed}`);
    });
}
