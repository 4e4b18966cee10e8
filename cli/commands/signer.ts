import type { Command } from 'commander';
import { createPublicKey } from 'node:crypto';
import { resolve } from 'node:path';
import { NoteSigner, writeFileAtomic } from '../../src/index.js';
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
    .option('-o, --output <file>', 'write the PEM to this file (e.g. keys/trusted/<name>.pub) instead of stdout')
    .option('--log-name <origin>', 'for an Ed25519 key: also give its log note verifier key under this name')
    .addHelpText(
      'after',
      '\nExample:\n  modelseal signer pubkey aws-kms:alias/publisher -o publisher-kms.pub\n  modelseal verify ' +
        'llama.mseal --publisher publisher-kms.pub',
    )
    .action(async (spec: string, o: { output?: string; logName?: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const s = await signerFrom(g, spec);
      const pem = createPublicKey({ key: Buffer.from(s.publicKey), format: 'der', type: 'spki' })
        .export({ format: 'pem', type: 'spki' })
        .toString();
      const verifierKey =
        o.logName !== undefined && s.algorithm === 'ed25519'
          ? NoteSigner.fromSigner(o.logName, s).verifierKey
          : undefined;
      if (o.output) await writeFileAtomic(resolve(o.output), pem);
      emitJson(g, 'signer', {
        spec,
        keyId: s.keyId ?? null,
        algorithm: s.algorithm,
        publicKey: pem.trim(),
        ...(o.output ? { publicKeyFile: resolve(o.output) } : {}),
        ...(verifierKey ? { logVerifierKey: verifierKey } : {}),
      });
      if (o.output) say(g, `wrote ${resolve(o.output)} (${s.algorithm} public key of ${s.keyId ?? spec})`);
      else if (!g.json) process.stdout.write(pem);
      if (verifierKey && !g.json) process.stdout.write(verifierKey + '\n');
    });
}
