import type { Command } from 'commander';
import { resolve } from 'node:path';
import { ModelsealError, newPublisherKey, newX25519Key, writeFileAtomic, writeKeyFile } from '../../src/index.js';
import { emitJson, passphraseSource, say, type GlobalOptions } from '../util.js';

/** `keygen`: one x25519 identity or publisher key. */
export function registerKeygen(program: Command): void {
  program
    .command('keygen')
    .description('make a new key pair: an x25519 recipient identity (default) or a publisher signing key')
    .requiredOption('-o, --output <file>', 'private key file to write (mode 0600); the public key goes to <file>.pub')
    .option('--type <type>', 'x25519 (a recipient) or publisher (ECDSA P-256 signing key)', 'x25519')
    .option('--protect', 'encrypt the private key with a passphrase (scrypt)')
    .addHelpText(
      'after',
      '\nExample: modelseal keygen -o alice.x25519   then give alice.x25519.pub to the publisher, ' +
        'who seals with --to x25519:alice.x25519.pub',
    )
    .action(async (o: { output: string; type: string; protect?: boolean }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const passphrase = o.protect ? await passphraseSource(g)() : undefined;
      const out = resolve(o.output);
      let pub: string;
      if (o.type === 'x25519') {
        const k = newX25519Key(passphrase);
        await writeKeyFile(out, k.file);
        pub = k.identity.recipient.id;
        await writeFileAtomic(`${out}.pub`, pub + '\n');
      } else if (o.type === 'publisher') {
        const k = newPublisherKey(passphrase);
        await writeKeyFile(out, k.file);
        pub = k.publisher.publicKeyPem;
        await writeFileAtomic(`${out}.pub`, pub);
      } else {
        throw new ModelsealError('INVALID_ARGUMENT', `--type ${o.type}: expected x25519 or publisher`);
      }
      emitJson(g, 'keygen', { type: o.type, privateKey: out, publicKeyFile: `${out}.pub`, publicKey: pub.trim() });
      say(g, `wrote ${out} (private, 0600) and ${out}.pub`);
      if (!g.json) process.stdout.write(pub.trim() + '\n');
    });
}
