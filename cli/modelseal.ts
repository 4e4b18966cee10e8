#!/usr/bin/env node
/** The modelseal command line: parse options, call the library (src/index.ts), print. Only this layer exits. */
import { Command, CommanderError } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { ErrorCodes, ModelsealError } from '../src/index.js';
import { reportError, type GlobalOptions } from './util.js';
import { registerInit } from './commands/init.js';
import { registerKeygen } from './commands/keygen.js';
import { registerSeal } from './commands/seal.js';
import { registerOpen } from './commands/open.js';
import { registerInspect } from './commands/inspect.js';
import { registerVerify } from './commands/verify.js';
import { registerDemo } from './commands/demo.js';
import { registerReseal, registerRewrap } from './commands/rewrap.js';
import { registerProviders } from './commands/providers.js';
import { registerAudit } from './commands/audit.js';
import { registerPolicy } from './commands/policy.js';
import { registerServe } from './commands/serve.js';
import { registerRecipient } from './commands/recipient.js';
import { registerFingerprint } from './commands/fingerprint.js';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command('modelseal')
  .description('Seal ML model weights into an auditable, export-controlled package, and open or verify one.')
  .version(pkg.version)
  .option('--json', 'print exactly one JSON object on stdout (no human text, no progress)')
  .option('-q, --quiet', 'print nothing but errors')
  .option('--keys <dir>', 'key store folder (default: $MODELSEAL_KEYS or ./keys)')
  .option('--passphrase-file <file>', 'file holding the key store passphrase (or set MODELSEAL_PASSPHRASE_FILE)')
  .option('--kms-endpoint <url>', 'AWS KMS (or KMS-compatible) endpoint; default: the AWS SDK\'s (AWS_ENDPOINT_URL_KMS, region from AWS_REGION or the profile)')
  .option('--pkcs11-module <path>', 'PKCS#11 module for pkcs11 recipients (or MODELSEAL_PKCS11_MODULE), e.g. /usr/lib/softhsm/libsofthsm2.so')
  .option('--pkcs11-pin-file <file>', 'file holding the token PIN (or MODELSEAL_PKCS11_PIN_FILE, or the PIN in MODELSEAL_PKCS11_PIN)')
  .option('--threads <n>', 'threads for bulk crypto, the main one included (default: number of cores, or 1 for payloads under 32 MiB; 0 or 1 = no worker threads)')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride()
  .addHelpText(
    'after',
    `
Typical use:
  modelseal init                                   create ./keys (publisher signing key, local key, x25519 identity)
  modelseal seal ./checkpoint --to local -o m.mseal
  modelseal seal ./checkpoint --to x25519:recipient.pub -o m.mseal
  modelseal inspect m.mseal                        recipients, files, signer (no key needed)
  modelseal verify m.mseal --publisher pub.pem     signature and every chunk (no key needed)
  modelseal open m.mseal -o ./weights              decrypt, verify, write ./weights + model.sig
  modelseal rewrap m.mseal --add x25519:bob.pub    add or remove recipients in place (header only)
  modelseal providers                              local, x25519, aws-kms, pkcs11: configured? reachable?
  modelseal demo                                   all of the above on the bundled sample

Exit codes: ${Object.entries(ErrorCodes)
      .map(([k, v]) => `${v.exit} ${k}`)
      .filter((v, i, a) => a.indexOf(v) === i)
      .join(', ')}. See docs/ERRORS.md.`,
  );

for (const register of [registerInit, registerKeygen, registerSeal, registerOpen, registerInspect, registerVerify, registerRewrap, registerReseal, registerProviders, registerAudit, registerPolicy, registerServe, registerRecipient, registerFingerprint, registerDemo]) {
  register(program);
}

try {
  // Third-party key providers: modules that call registerProvider() from the modelseal library.
  for (const spec of (process.env.MODELSEAL_PROVIDERS ?? '').split(',').map((x) => x.trim()).filter(Boolean)) {
    try {
      await import(existsSync(spec) ? pathToFileURL(resolve(spec)).href : spec);
    } catch (cause) {
      throw new ModelsealError('INVALID_ARGUMENT', `MODELSEAL_PROVIDERS: cannot load the provider module ${spec} (${cause instanceof Error ? cause.message.split('\n')[0] : cause})`, { cause });
    }
  }
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    process.exitCode = e.exitCode === 0 ? 0 : 2;
  } else {
    process.exitCode = reportError(e, program.opts<GlobalOptions>());
  }
}
