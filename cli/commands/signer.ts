import type { Command } from 'commander';
import { createPublicKey } from 'node:crypto';
import { resolve } from 'node:path';
import { ModelsealError, NoteSigner, writeFileAtomic, type Signer } from '../../src/index.js';
import { emitJson, say, signerFrom, type GlobalOptions } from '../util.js';

export function registerSigner(program: Command): void {
  const signer = program
    .command('signer')
    .description('keys that sign from AWS KMS or an HSM (seal, rewrap, fingerprint embed --signer <spec>)');
  signer
    .command('pubkey')
    .description(
      "print (or write) a signer's public key: the PEM that verify --publisher and the key store's trusted/ take",
    )
    .argument('<spec>', 'aws-kms:<key id, ARN or alias>[?region=…&endpoint=…] or pkcs11:<token>/<label>')
    .option(
      '-o, --output <file>',
      'write the PEM to this file (e.g. keys/trusted/<name>.pub) instead of stdout; with --log-name, the log ' +
        'verifier key instead (e.g. keys/log.vkey, for serve --log-signer)',
    )
    .option('--force', 'replace the output file if it exists (the log.vkey `init` wrote)')
    .option('--log-name <origin>', 'for an Ed25519 key: also give its log note verifier key under this name')
    .addHelpText(
      'after',
      '\nExample:\n  modelseal signer pubkey aws-kms:alias/publisher -o publisher-kms.pub\n  modelseal verify ' +
        'llama.mseal --publisher publisher-kms.pub\n  modelseal signer pubkey pkcs11:log-hsm/log --log-name ' +
        'releases.example/log -o keys/log.vkey --force\n  modelseal serve --log-signer pkcs11:log-hsm/log',
    )
    .action(async (spec: string, o: { output?: string; logName?: string; force?: boolean }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const s = await signerFrom(g, spec);
      const pem = createPublicKey({ key: Buffer.from(s.publicKey), format: 'der', type: 'spki' })
        .export({ format: 'pem', type: 'spki' })
        .toString();
      const verifierKey = o.logName !== undefined ? logVerifierKey(s, spec, o.logName) : undefined;
      const out = o.output !== undefined ? resolve(o.output) : undefined;
      if (out)
        await writeFileAtomic(out, verifierKey !== undefined ? verifierKey + '\n' : pem, { overwrite: !!o.force });
      emitJson(g, 'signer', {
        spec,
        keyId: s.keyId ?? null,
        algorithm: s.algorithm,
        publicKey: pem.trim(),
        ...(out && verifierKey === undefined ? { publicKeyFile: out } : {}),
        ...(verifierKey !== undefined ? { logVerifierKey: verifierKey } : {}),
        ...(out && verifierKey !== undefined ? { logVerifierKeyFile: out } : {}),
      });
      const what = verifierKey !== undefined ? 'log verifier key' : `${s.algorithm} public key`;
      if (out) say(g, `wrote ${out} (${what} of ${s.keyId ?? spec})`);
      else if (!g.json) process.stdout.write(pem);
      if (verifierKey !== undefined && !g.json) process.stdout.write(verifierKey + '\n');
    });
}

/** The log note verifier key of an Ed25519 signer named `origin`; a usage error for any other key. */
function logVerifierKey(s: Signer, spec: string, origin: string): string {
  if (s.algorithm !== 'ed25519')
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `--log-name: ${s.keyId ?? spec} is a ${s.algorithm} key; a log verifier key is made of an Ed25519 key`,
    );
  return NoteSigner.fromSigner(origin, s).verifierKey;
}
