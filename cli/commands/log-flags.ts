/**
 * The flags that name a log (--log, and its old spellings --store and --server), its verifier key
 * (--log-key) and a period (--since, --until), shared by the commands that read a log.
 */
import { Option, type Command } from 'commander';
import { join } from 'node:path';
import {
  auditLog,
  logSpecKind,
  ModelsealError,
  openLogSource,
  readLogVerifier,
  type AuditReport,
  type LogSource,
  type NoteVerifier,
  type LogSpecKind,
} from '../../src/index.js';
import { keysDir, threads, withProgress, type GlobalOptions } from '../util.js';

export const LOG_KEY_HELP =
  "the log's verifier key (origin+id+key) or a file holding it; default: the key store's log.vkey";

/** The log verifier key: --log-key (a key or a file), or the key store's log.vkey. */
export async function logKey(g: GlobalOptions, given: string | undefined) {
  return readLogVerifier(given ?? join(keysDir(g), 'log.vkey'));
}

export const LOG_HELP =
  'the log: a running `modelseal serve` (an http(s) URL: its C2SP tiles and checkpoints), the data directory of ' +
  "`seal --log`, the log/ folder of a service's data directory (read-only, beside a running server), or a " +
  'PostgreSQL URL (serve --store)';

/** Adds --log and its old spellings (hidden): --store for a store, and --server for a service unless `storeOnly`. */
export function logOptions(cmd: Command, help = LOG_HELP, storeOnly = false): Command {
  cmd.option('--log <dir|postgres-url|url>', help);
  cmd.addOption(new Option('--store <dir|postgres-url>', 'old spelling of --log for a store').hideHelp());
  if (!storeOnly) cmd.addOption(new Option('--server <url>', 'old spelling of --log for a release service').hideHelp());
  return cmd;
}

export interface LogFlags {
  log?: string;
  store?: string;
  server?: string;
}

/**
 * The log the flags name, if any: --log as spelled (an http(s) URL is a service, else a store), or an
 * old spelling, which keeps its meaning (--store a store, --server a service). At most one of them.
 */
export function logFlag(o: LogFlags): { spec: string; kind: LogSpecKind } | undefined {
  const given = (['log', 'store', 'server'] as const).filter((k) => o[k] !== undefined);
  if (given.length > 1)
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `--${given[0]!} and --${given[1]!} both name the log: give it once, as --log <dir|postgres-url|url>`,
    );
  const flag = given[0];
  if (flag === undefined) return undefined;
  const spec = o[flag]!;
  if (spec === '')
    throw new ModelsealError('INVALID_ARGUMENT', `--${flag}: expected a directory, a PostgreSQL URL or an http(s) URL`);
  return { spec, kind: flag === 'server' ? 'service' : flag === 'store' ? 'store' : logSpecKind(spec) };
}

/** The log the flags name; one is required. */
export function requiredLog(o: LogFlags): { spec: string; kind: LogSpecKind } {
  const log = logFlag(o);
  if (!log)
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      'give the log as --log <dir|postgres-url|url>: a log store, or a running `modelseal serve`',
    );
  return log;
}

/** Runs `fn` on the log the flags name (one is required), opened read-only, closing it afterwards. */
export async function withLog<T>(o: LogFlags, fn: (s: LogSource) => Promise<T>): Promise<T> {
  const { spec, kind } = requiredLog(o);
  const src = await openLogSource(spec, kind);
  try {
    return await fn(src);
  } finally {
    await src.store.close();
  }
}

/** A --since or --until flag as milliseconds since the epoch; INVALID_ARGUMENT when it is not a time. */
export function timeOption(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const t = Date.parse(v);
  if (Number.isNaN(t))
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `--${name} ${JSON.stringify(v)}: expected a date or time (ISO 8601, e.g. 2026-11-01 or 2026-11-01T12:00:00Z)`,
    );
  return t;
}

/** The log verified in full by `auditLog` (with a progress bar on a terminal), as `audit verify` does. */
export function verifyLog(g: GlobalOptions, src: LogSource, verifier: NoteVerifier): Promise<AuditReport> {
  const t = threads(g);
  return withProgress(g, (progress) => {
    const onEntries = progress.counting('audit');
    return auditLog(src.store, verifier, {
      storedHashes: !src.remote,
      ...(t !== undefined ? { threads: t } : {}),
      ...(onEntries ? { onProgress: (done: number, total: number) => onEntries({ done, total }) } : {}),
    });
  });
}

/** Country flags (repeatable, or comma-separated) as upper-case ISO 3166 alpha-2 codes. */
export function countries(flag: string, values: readonly string[]): string[] {
  const out = values.flatMap((v) => v.split(',')).map((c) => c.trim().toUpperCase());
  const bad = out.find((c) => !/^[A-Z]{2}$/.test(c));
  if (bad !== undefined)
    throw new ModelsealError('INVALID_ARGUMENT', `--${flag} ${bad}: expected an ISO 3166 alpha-2 code such as DE`);
  return out;
}
