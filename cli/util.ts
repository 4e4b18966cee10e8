/** Shared CLI plumbing: output (human on stderr, one JSON object on stdout with --json), progress, errors, keys. */
import { basename, dirname, resolve } from 'node:path';
import {
  ErrorCodes,
  ModelsealError,
  identitiesFrom,
  loadPublisherKey,
  publisherFromSigner,
  signerFromSpec,
  readPublisherPublicKey,
  fsReason,
  readSecretFile,
  removeStalePartials,
  recipientFrom,
  trustedPublishers,
  KEYSTORE_FILES,
  openExportLog,
  type ExportLog,
  type Identity,
  type PassphraseSource,
  type Progress,
  type ProviderSettings,
  type Publisher,
  type Recipient,
  type Signer,
  type SignerSettings,
  type SignerUse,
} from '../src/index.js';

export interface GlobalOptions {
  json?: boolean;
  quiet?: boolean;
  keys?: string;
  passphraseFile?: string;
  threads?: string;
  kmsEndpoint?: string;
  pkcs11Module?: string;
  pkcs11PinFile?: string;
}

/** The key store folder: --keys, $MODELSEAL_KEYS or ./keys, resolved. */
export function keysDir(g: GlobalOptions): string {
  return resolve(g.keys ?? process.env.MODELSEAL_KEYS ?? 'keys');
}

/** Human text goes to stderr so that stdout stays clean for --json and for `-o -`. */
export function say(g: GlobalOptions, text: string): void {
  if (!g.json && !g.quiet) process.stderr.write(text + '\n');
}

/** Warnings go to stderr whatever the output mode: they are about safety, not progress. */
export function warn(text: string): void {
  process.stderr.write(`modelseal: warning: ${text}\n`);
}

/**
 * Removes the partial outputs that killed runs left at `output` (our naming, dead process; see
 * src/io/atomic.ts) and says so on stderr; returns their paths for the --json result.
 */
export async function removeStaleAt(output: string): Promise<string[]> {
  const target = resolve(output);
  const name = basename(target);
  const removed = await removeStalePartials(dirname(target), [name, `${name}.sig`, `${name}.release.tlog-proof`]);
  for (const s of removed)
    warn(`removed ${s.path}: a partial ${basename(s.target)} left by modelseal process ${s.pid}, which no longer runs`);
  return removed.map((s) => s.path);
}

/**
 * Ends a command that printed its own result with a non-zero exit code (`screen`: the JSON result
 * on stdout, then 16 or 17): `run()` returns the code and prints nothing more.
 */
export class CommandOutcome extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
  }
}

/** With --json, prints the command's one JSON object on stdout; otherwise nothing. */
export function emitJson(g: GlobalOptions, command: string, result: object): void {
  if (g.json) process.stdout.write(JSON.stringify({ ok: true, command, ...result }) + '\n');
}

/** A byte count for people: 1.5 MiB. */
export function fmtBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

/** The unit a phase counts in: log entries for `audit`, tensors for `trace`, bytes otherwise. */
function progressUnit(phase: Progress['phase']): (n: number) => string {
  if (phase === 'audit') return (n) => `${Math.round(n)} entries`;
  if (phase === 'trace') return (n) => `${Math.round(n)} tensors`;
  return fmtBytes;
}

/**
 * One progress display per operation: created once, handed to the library call as its
 * `onProgress`, finished once. It draws a bar on stderr only when stderr is a terminal and the
 * output is for humans (not --json, not --quiet); otherwise `onProgress` is undefined.
 */
export interface ProgressReporter {
  /** The library's progress callback, or undefined when nothing is shown. */
  readonly onProgress: ((p: Progress) => void) | undefined;
  /** A callback for library calls that report counts without a phase (fingerprint embed, trace, audit). */
  counting(phase: Progress['phase']): ((p: { done: number; total: number }) => void) | undefined;
  /** Ends the bar's line if the last update left it open (an error, or a total never reached). */
  finish(): void;
}

/** The progress reporter of one operation, drawing on `out` (stderr) under the rules of ProgressReporter. */
export function progressReporter(g: GlobalOptions, out: NodeJS.WriteStream = process.stderr): ProgressReporter {
  if (g.json || g.quiet || !out.isTTY) return { onProgress: undefined, counting: () => undefined, finish: () => {} };
  const start = Date.now();
  let phase = '';
  let last = 0;
  let open = false;
  const draw = (p: Progress) => {
    const now = Date.now();
    if (p.phase !== phase) phase = p.phase;
    else if (now - last < 100 && p.done < p.total) return;
    last = now;
    const frac = p.total > 0 ? Math.min(1, p.done / p.total) : 1;
    const rate = p.done / Math.max((now - start) / 1000, 0.001);
    const eta = rate > 0 ? (p.total - p.done) / rate : 0;
    const bar = '#'.repeat(Math.round(frac * 24)).padEnd(24, '-');
    const fmt = progressUnit(p.phase);
    const percent = (frac * 100).toFixed(0).padStart(3);
    out.write(
      `\r${p.phase.padEnd(8)} [${bar}] ${percent}% ${fmt(p.done)}/${fmt(p.total)} ` +
        `${fmt(rate)}/s ETA ${eta.toFixed(0)}s\x1b[K`,
    );
    open = p.done < p.total;
    if (!open) out.write('\n');
  };
  return {
    onProgress: draw,
    counting: (phase) => (p) => draw({ phase, ...p }),
    finish: () => {
      if (open) out.write('\n');
      open = false;
    },
  };
}

/** Runs one operation with its progress reporter, finishing the reporter whether the operation succeeds or fails. */
export async function withProgress<T>(
  g: GlobalOptions,
  run: (progress: ProgressReporter) => Promise<T>,
  out: NodeJS.WriteStream = process.stderr,
): Promise<T> {
  const progress = progressReporter(g, out);
  try {
    return await run(progress);
  } finally {
    progress.finish();
  }
}

/** Passphrases come from a file, the environment, or a prompt on the terminal; never from argv. */
export function passphraseSource(g: GlobalOptions): PassphraseSource {
  let cached: string | undefined;
  return async () => {
    if (cached !== undefined) return cached;
    const file = g.passphraseFile ?? process.env.MODELSEAL_PASSPHRASE_FILE;
    if (file)
      cached = await readSecretFile(file, g.passphraseFile ? '--passphrase-file' : 'MODELSEAL_PASSPHRASE_FILE', warn);
    else if (process.env.MODELSEAL_PASSPHRASE) cached = process.env.MODELSEAL_PASSPHRASE;
    else if (process.stdin.isTTY && process.stderr.isTTY) cached = await promptHidden('passphrase: ');
    else
      throw new ModelsealError(
        'KEYSTORE',
        'a passphrase is needed: pass --passphrase-file, or set MODELSEAL_PASSPHRASE_FILE or MODELSEAL_PASSPHRASE',
      );
    return cached;
  };
}

async function promptHidden(question: string): Promise<string> {
  process.stderr.write(question);
  const stdin = process.stdin;
  stdin.setRawMode(true);
  stdin.resume();
  let text = '';
  try {
    for await (const chunk of stdin) {
      for (const ch of (chunk as Buffer).toString('utf8')) {
        if (ch === '\r' || ch === '\n') return text;
        if (ch === '\u0003') throw new ModelsealError('INTERRUPTED', 'interrupted');
        if (ch === '\u007f') text = text.slice(0, -1);
        else text += ch;
      }
    }
    return text;
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    process.stderr.write('\n');
  }
}

/** What the providers need, from the global options and the environment. */
export function providerSettings(g: GlobalOptions, identityFiles: readonly string[] = []): ProviderSettings {
  const module = g.pkcs11Module ?? process.env.MODELSEAL_PKCS11_MODULE;
  return {
    keysDir: keysDir(g),
    passphrase: passphraseSource(g),
    identityFiles,
    kms: g.kmsEndpoint ? { endpoint: g.kmsEndpoint } : {},
    ...(module ? { pkcs11: { module, pin: () => pkcs11Pin(g) } } : {}),
  };
}

/** The token PIN: --pkcs11-pin-file, MODELSEAL_PKCS11_PIN_FILE or MODELSEAL_PKCS11_PIN (never argv). */
async function pkcs11Pin(g: GlobalOptions): Promise<string> {
  const pinFile = g.pkcs11PinFile ?? process.env.MODELSEAL_PKCS11_PIN_FILE;
  if (pinFile)
    return readSecretFile(pinFile, g.pkcs11PinFile ? '--pkcs11-pin-file' : 'MODELSEAL_PKCS11_PIN_FILE', warn);
  const pin = process.env.MODELSEAL_PKCS11_PIN;
  if (pin === undefined)
    throw new ModelsealError(
      'KEYSTORE',
      'no PKCS#11 PIN: give --pkcs11-pin-file <file>, MODELSEAL_PKCS11_PIN_FILE or MODELSEAL_PKCS11_PIN',
    );
  return pin;
}

/** Parses --to values (and the like): recipient strings of any registered provider. */
export async function parseRecipients(values: readonly string[], g: GlobalOptions): Promise<Recipient[]> {
  const settings = providerSettings(g);
  const out: Recipient[] = [];
  for (const v of values) out.push(await recipientFrom(v, settings));
  return out;
}

/** The publisher: --signer (a KMS or HSM key), else --signing-key or the key store's publisher.key. */
export async function publisherKey(g: GlobalOptions, path?: string, signer?: string): Promise<Publisher> {
  if (signer !== undefined && path !== undefined)
    throw new ModelsealError('INVALID_ARGUMENT', '--signer and --signing-key name two publisher keys: give one');
  if (signer !== undefined) return publisherFromSigner(await signerFrom(g, signer));
  return loadPublisherKey(path ?? resolve(keysDir(g), KEYSTORE_FILES.publisher), passphraseSource(g));
}

/**
 * The signer a --signer (or, for `use` 'log', a --log-signer) spec names, with the global KMS and PKCS#11
 * settings (PIN from a file or the environment).
 */
export async function signerFrom(g: GlobalOptions, spec: string, use: SignerUse = 'publisher'): Promise<Signer> {
  const module = g.pkcs11Module ?? process.env.MODELSEAL_PKCS11_MODULE;
  const settings: SignerSettings = {
    kms: g.kmsEndpoint ? { endpoint: g.kmsEndpoint } : {},
    pkcs11: { ...(module ? { module } : {}), pin: () => pkcs11Pin(g) },
  };
  return signerFromSpec(spec, settings, use);
}

/** The --signer option of the commands where the publisher signs. */
export const SIGNER_OPTION = [
  '--signer <spec>',
  'sign with a key in AWS KMS or an HSM instead of a key file: aws-kms:<key id, ARN or alias>[?region=…&endpoint=…] ' +
    'or pkcs11:<token>/<label> (docs/KEYS.md, Signers)',
] as const;

/** Every provider's identities: the key store's and the --identity files first, then the HSM, then AWS KMS. */
export async function identities(
  g: GlobalOptions,
  extra: readonly string[],
  release?: ProviderSettings['release'],
): Promise<Identity[]> {
  return identitiesFrom({ ...providerSettings(g, extra), ...(release ? { release } : {}) });
}

/** The trusted publisher keys: the --publisher files, then the key store's publisher.pub and trusted/. */
export async function trusted(g: GlobalOptions, publisherFiles: readonly string[]): Promise<Uint8Array[]> {
  const out = await Promise.all(publisherFiles.map((p) => readPublisherPublicKey(p)));
  return [...out, ...(await trustedPublishers(keysDir(g)))];
}

/** --threads, checked: a whole number, or undefined for the default. */
export function threads(g: GlobalOptions): number | undefined {
  if (g.threads === undefined) return undefined;
  if (!/^\d+$/.test(g.threads)) throw new ModelsealError('INVALID_ARGUMENT', '--threads: expected a whole number');
  return Number(g.threads);
}

/** Commander argument parser of repeatable options: collects every value in order. */
export const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

const interruptListeners: (() => void)[] = [];

/** An AbortSignal fired by Ctrl-C / SIGTERM, so the library removes its temporary output before exit. */
export function interruptSignal(): AbortSignal {
  const ac = new AbortController();
  const stop = () => {
    if (ac.signal.aborted) process.exit(ErrorCodes.INTERRUPTED.exit);
    ac.abort();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  interruptListeners.push(stop);
  return ac.signal;
}

/** Removes the signal listeners of finished commands (run() calls it, so in-process runs do not pile them up). */
export function releaseInterruptSignals(): void {
  for (const stop of interruptListeners.splice(0)) {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

/**
 * A file-system error that reached the CLI unwrapped (Node's errors carry `syscall` and an errno
 * `code`): an IO error about its path.
 */
function fsError(e: unknown): ModelsealError | undefined {
  const x = e as NodeJS.ErrnoException | undefined;
  if (
    !(x instanceof Error) ||
    typeof x.syscall !== 'string' ||
    typeof x.code !== 'string' ||
    !/^E[A-Z0-9]+$/.test(x.code)
  )
    return undefined;
  return new ModelsealError('IO', `cannot ${x.syscall} ${x.path ?? 'a file'}: ${fsReason(x)}`, { cause: e });
}

/** Prints an error (the JSON error object with --json, one line on stderr otherwise) and returns its exit code. */
export function reportError(e: unknown, g: GlobalOptions): number {
  const err =
    e instanceof ModelsealError
      ? e
      : (fsError(e) ??
        new ModelsealError(
          'INTERNAL',
          `unexpected error: ${e instanceof Error ? e.message : String(e)} — please report this`,
          { cause: e },
        ));
  if (g.json) {
    process.stdout.write(
      JSON.stringify({
        ok: false,
        error: {
          code: err.code,
          exitCode: err.exitCode,
          message: err.message,
          ...(err.details ? { details: err.details } : {}),
        },
      }) + '\n',
    );
  } else {
    process.stderr.write(`modelseal: error ${err.code}: ${err.message}\n`);
    if (process.env.MODELSEAL_DEBUG && err.cause) {
      // Any thrown value: its stack when it has one (an Error), else the value itself.
      const shown: unknown = (err.cause as { stack?: unknown }).stack ?? err.cause;
      process.stderr.write(`  cause: ${String(shown)}\n`);
    }
  }
  return err.exitCode;
}

/** The log --log names, with the key store's keys (as `seal --log`). */
export function exportLog(g: GlobalOptions, where: string, logKey?: string): Promise<ExportLog> {
  return openExportLog(where, {
    keysDir: keysDir(g),
    passphrase: passphraseSource(g),
    ...(logKey !== undefined ? { logKey } : {}),
  });
}
