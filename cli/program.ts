/**
 * The modelseal command line as a value: `createProgram()` builds the commander tree and `run()`
 * parses one argv and returns the exit code instead of exiting, so the entry point (modelseal.ts)
 * and the in-process CLI fuzzer (test/fuzz/cli.test.ts) share every line of it.
 */
import { Command, CommanderError } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ErrorCodes, ModelsealError } from '../src/index.js';
import { CommandOutcome, releaseInterruptSignals, reportError, type GlobalOptions } from './util.js';
import { registerInit } from './commands/init.js';
import { registerKeygen } from './commands/keygen.js';
import { registerSeal } from './commands/seal.js';
import { registerOpen } from './commands/open.js';
import { registerInspect } from './commands/inspect.js';
import { registerVerify } from './commands/verify.js';
import { registerDemo } from './commands/demo.js';
import { registerReseal, registerRewrap } from './commands/rewrap.js';
import { registerProviders } from './commands/providers.js';
import { registerSigner } from './commands/signer.js';
import { registerAudit } from './commands/audit.js';
import { registerReceipt } from './commands/receipt.js';
import { registerPolicy } from './commands/policy.js';
import { registerServe } from './commands/serve.js';
import { registerRecipient } from './commands/recipient.js';
import { registerFingerprint } from './commands/fingerprint.js';
import { registerClean } from './commands/clean.js';
import { registerLists } from './commands/lists.js';
import { registerScreen } from './commands/screen.js';
import { registerRules } from './commands/rules.js';
import { registerKms } from './commands/kms.js';
import { registerClassify } from './commands/classify.js';
import { registerLicense } from './commands/license.js';
import { registerKeyProvider } from './commands/keyprovider.js';
import { registerMlflow } from './commands/mlflow.js';
import { registerHf } from './commands/hf.js';
import { registerPush } from './commands/push.js';
import { registerPull } from './commands/pull.js';
import { registerGateReview } from './commands/gate-review.js';
import { registerGate } from './commands/gate.js';

/** The package version: package.json is two levels up from dist/cli/, one from cli/ (tests run the source). */
function version(): string {
  for (const rel of ['../../package.json', '../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'modelseal' && pkg.version) return pkg.version;
    } catch {
      // not here: try the next level
    }
  }
  return '0.0.0';
}

/** The text after the options in `modelseal --help`: typical use by journey, and the exit codes. */
function programHelp(): string {
  return `
Typical use:
  modelseal init                                   create ./keys (publisher signing key, local key, x25519 identity)
  modelseal seal ./checkpoint --to local -o m.mseal
  modelseal seal ./checkpoint --to x25519:recipient.pub -o m.mseal
  modelseal inspect m.mseal                        recipients, files, signer (no key needed)
  modelseal classify ./checkpoint --tokens 15e12   exact parameters, compute, export determinations
  modelseal verify m.mseal --publisher pub.pem     signature and every chunk (no key needed)
  modelseal open m.mseal -o ./weights              decrypt, verify, write ./weights + model.sig
  modelseal rewrap m.mseal --add x25519:bob.pub    add or remove recipients in place (header only)
  modelseal providers                              local, x25519, aws-kms, pkcs11: configured? reachable?
  modelseal seal ./checkpoint --signer aws-kms:alias/pub -o m.mseal   signed by a KMS (or pkcs11:) key
  modelseal signer pubkey aws-kms:alias/pub -o pub.pem                that key's PEM, for verify --publisher
  modelseal clean [dir]                            remove what an interrupted seal or open left behind
  modelseal demo                                   the whole controlled export on the bundled sample:
                                                   classify, screen, license, seal, release, audit, trace
Deciding (compliance):
  modelseal lists import consolidated.json         screening lists as dated snapshots; then screen --name …
  modelseal recipient issue acme-labs --org "Acme Labs" --country DE --nationality DE
  modelseal license issue EAR-1 --holder acme-labs --model ./checkpoint --destination DE
  modelseal serve                                  the release service: every key release decided and logged
Auditing:
  modelseal audit verify --log modelseal-data/log  the log was never rewritten
  modelseal audit export --log modelseal-data/log -o evidence.tar   a signed evidence pack; verify-export checks it
  modelseal audit report --log modelseal-data/log -o report.html    one page to look at
  modelseal trace leaked.safetensors --original ./checkpoint        whose fingerprinted copy leaked
Registries:
  modelseal push m.mseal oci://registry.example/models/m:v1         a ModelPack artifact; pull and open oci:// too
  modelseal mlflow register --name m oci://registry.example/models/m:v1
  modelseal hf export m.mseal -o ./m-hf            a folder with a gated model card for the Hub

Exit codes: ${Object.entries(ErrorCodes)
    .map(([k, v]) => `${v.exit} ${k}`)
    .filter((v, i, a) => a.indexOf(v) === i)
    .join(', ')}. See docs/ERRORS.md.`;
}

/** The commander tree of every modelseal command, with the global options. */
export function createProgram(): Command {
  const program = new Command('modelseal')
    .description('Seal ML model weights into an auditable, export-controlled package, and open or verify one.')
    .version(version())
    .option('--json', 'print exactly one JSON object on stdout (no human text, no progress)')
    .option('-q, --quiet', 'print nothing but errors')
    .option('--keys <dir>', 'key store folder (default: $MODELSEAL_KEYS or ./keys)')
    .option('--passphrase-file <file>', 'file holding the key store passphrase (or set MODELSEAL_PASSPHRASE_FILE)')
    .option(
      '--kms-endpoint <url>',
      "AWS KMS (or KMS-compatible) endpoint; default: the AWS SDK's (AWS_ENDPOINT_URL_KMS, region from " +
        'AWS_REGION or the profile)',
    )
    .option(
      '--pkcs11-module <path>',
      'PKCS#11 module for pkcs11 recipients (or MODELSEAL_PKCS11_MODULE), e.g. /usr/lib/softhsm/libsofthsm2.so',
    )
    .option(
      '--pkcs11-pin-file <file>',
      'file holding the token PIN (or MODELSEAL_PKCS11_PIN_FILE, or the PIN in MODELSEAL_PKCS11_PIN)',
    )
    .option(
      '--threads <n>',
      'threads for bulk crypto, the main one included (default: number of cores, or 1 for payloads under ' +
        '32 MiB; 0 or 1 = no worker threads)',
    )
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .addHelpText('after', programHelp());
  for (const register of [
    registerInit,
    registerKeygen,
    registerSeal,
    registerOpen,
    registerInspect,
    registerVerify,
    registerRewrap,
    registerReseal,
    registerProviders,
    registerSigner,
    registerAudit,
    registerKms,
    registerReceipt,
    registerPolicy,
    registerServe,
    registerRecipient,
    registerLicense,
    registerMlflow,
    registerHf,
    registerLists,
    registerScreen,
    registerRules,
    registerClassify,
    registerFingerprint,
    registerClean,
    registerKeyProvider,
    registerPush,
    registerPull,
    registerDemo,
    registerGate,
  ]) {
    register(program);
  }
  // `gate review` under `gate` (the gateway's command), made here only when no register above made it.
  const gate =
    program.commands.find((c) => c.name() === 'gate') ??
    program.command('gate').description('the inference gateway: review its callers');
  registerGateReview(gate);
  return program;
}

/**
 * Whether the user asked for JSON output: the parsed option, or `--json` among the options when
 * parsing failed before it was seen.
 */
function wantsJson(program: Command, args: readonly string[]): boolean {
  if (program.opts<GlobalOptions>().json) return true;
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).includes('--json');
}

/** A commander usage error as a ModelsealError: INVALID_ARGUMENT, the message without commander's "error: " prefix. */
function usageError(e: CommanderError): ModelsealError {
  const text =
    e.code === 'commander.help' || e.code === 'commander.helpDisplayed'
      ? 'no command given; run modelseal --help'
      : e.message.replace(/^error: /, '');
  return new ModelsealError('INVALID_ARGUMENT', text, { cause: e, details: { usage: e.code } });
}

/**
 * Runs the CLI on `argv` (as process.argv: node, script, args...) and returns the exit code. Output
 * goes to process.stdout and process.stderr; nothing here exits the process.
 */
export async function run(argv: readonly string[]): Promise<number> {
  const program = createProgram();
  const args = argv.slice(2);
  let json = wantsJson(program, args);
  // With --json commander's own error text would be a second, non-JSON output: the catch below prints the JSON instead.
  program.configureOutput({ writeErr: (text) => (json ? undefined : process.stderr.write(text)) });
  for (let c: Command[] = [program]; c.length; c = c.flatMap((x) => x.commands as Command[])) {
    for (const x of c) x.configureOutput(program.configureOutput()).exitOverride();
  }
  try {
    // Third-party key providers: modules that call registerProvider() from the modelseal library.
    for (const spec of (process.env.MODELSEAL_PROVIDERS ?? '')
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean)) {
      try {
        await import(existsSync(spec) ? pathToFileURL(resolve(spec)).href : spec);
      } catch (cause) {
        throw new ModelsealError(
          'INVALID_ARGUMENT',
          `MODELSEAL_PROVIDERS: cannot load the provider module ${spec} ` +
            `(${cause instanceof Error ? cause.message.split('\n')[0] : String(cause)})`,
          { cause },
        );
      }
    }
    await program.parseAsync([...argv]);
    return 0;
  } catch (e) {
    if (e instanceof CommandOutcome) return e.exitCode;
    json = wantsJson(program, args);
    const g = { ...program.opts<GlobalOptions>(), json };
    if (e instanceof CommanderError) {
      if (e.exitCode === 0) return 0;
      if (!json) return ErrorCodes.INVALID_ARGUMENT.exit;
      return reportError(usageError(e), g);
    }
    return reportError(e, g);
  } finally {
    releaseInterruptSignals();
  }
}
