import type { Command } from 'commander';
import { initKeystore, ModelsealError, originOfPrefix } from '../../src/index.js';
import { emitJson, keysDir, passphraseSource, say, type GlobalOptions } from '../util.js';

/** `init`: creates the key store. */
export function registerInit(program: Command): void {
  program
    .command('init')
    .description(
      'create a key store: a publisher signing key (ECDSA P-256), a local key-encryption key, an x25519 ' +
        'identity and a transparency-log key (Ed25519)',
    )
    .option(
      '--protect',
      'encrypt the private keys with a passphrase (scrypt); read from --passphrase-file, ' +
        '$MODELSEAL_PASSPHRASE(_FILE) or a prompt',
    )
    .option(
      '--log-origin <origin>',
      "the transparency log's name, its URL without the scheme (C2SP checkpoint origin); " +
        'default <hostname>/modelseal-log',
    )
    .option(
      '--log-url <prefix>',
      "the log's URL prefix (where `serve --log-url` serves it, e.g. https://releases.example/log): its origin " +
        'is that URL without the scheme, as C2SP tlog-tiles recommends',
    )
    .option(
      '--force',
      'replace an existing key store (packages sealed to the old keys can no longer be opened with it)',
    )
    .addHelpText(
      'after',
      '\nThe key store is ./keys unless --keys or MODELSEAL_KEYS says otherwise. Private files are mode 0600; ' +
        'keep them out of version control.',
    )
    .action(async (o: { protect?: boolean; force?: boolean; logOrigin?: string; logUrl?: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      if (o.logUrl !== undefined) {
        const fromUrl = originOfPrefix(o.logUrl);
        if (o.logOrigin !== undefined && o.logOrigin !== fromUrl)
          throw new ModelsealError(
            'INVALID_ARGUMENT',
            `--log-origin ${o.logOrigin} and --log-url ${o.logUrl} (origin ${fromUrl}) disagree; give one`,
          );
        o.logOrigin = fromUrl;
      }
      const passphrase = o.protect ? await passphraseSource(g)() : undefined;
      const r = await initKeystore(keysDir(g), {
        ...(passphrase !== undefined ? { passphrase } : {}),
        ...(o.logOrigin !== undefined ? { logOrigin: o.logOrigin } : {}),
        force: o.force ?? false,
      });
      emitJson(g, 'init', { ...r, protected: passphrase !== undefined });
      say(g, `created key store ${r.dir}${passphrase !== undefined ? ' (passphrase-protected)' : ''}`);
      say(g, `  publisher key id   ${r.publisherKeyId} (share ${r.dir}/publisher.pub with recipients and auditors)`);
      say(g, `  local recipient    ${r.localRecipient}  (seal with --to local)`);
      say(g, `  x25519 recipient   ${r.x25519Recipient}`);
      say(g, `  log verifier key   ${r.logVerifierKey} (in ${r.dir}/log.vkey: auditors check the log with it)`);
    });
}
