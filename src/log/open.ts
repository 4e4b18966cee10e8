/**
 * A log from what the user typed. A store: a directory (the file store) or a PostgreSQL URL
 * (`postgres://user@host:port/db[?schema=name]`, the shared store of several servers). For reading
 * only, also a running release service: an http(s) URL, read over C2SP tlog-tiles (remote.ts).
 */
import { FileStore } from './filestore.js';
import { PgStore } from './pgstore.js';
import { RemoteLog } from './remote.js';
import type { LogStore } from './store.js';

export const isPostgresUrl = (spec: string): boolean => /^postgres(ql)?:\/\//.test(spec);

/** Opens the store for writing (the file store takes its lock), or read-only for an auditor. */
export async function openLogStore(spec: string, mode: 'write' | 'read' = 'write'): Promise<LogStore> {
  if (!isPostgresUrl(spec)) return mode === 'write' ? FileStore.open(spec) : FileStore.openReadOnly(spec);
  const u = new URL(spec);
  const schema = u.searchParams.get('schema') ?? undefined;
  u.searchParams.delete('schema');
  return PgStore.open(u.toString(), schema ? { schema } : {});
}

/** What a log spec names: a running release service (read over HTTP) or a log store. */
export type LogSpecKind = 'service' | 'store';

/** An http:// or https:// URL names a release service; anything else (a directory, a PostgreSQL URL) a store. */
export function logSpecKind(spec: string): LogSpecKind {
  return /^https?:\/\//.test(spec) ? 'service' : 'store';
}

/** A log opened for reading, and how messages name it. */
export interface LogSource {
  store: LogStore;
  /** The directory or service URL; a PostgreSQL URL, which may hold a password, is "the PostgreSQL log". */
  name: string;
  /** Read over HTTP: there are no stored hashes to check or to prove from. */
  remote: boolean;
}

/**
 * Opens the log `spec` names, read-only: a release service's tiles and checkpoints for an http(s)
 * URL, else a store (a directory or a PostgreSQL URL). `kind` overrides what the spelling says.
 */
export async function openLogSource(spec: string, kind: LogSpecKind = logSpecKind(spec)): Promise<LogSource> {
  if (kind === 'service') return { store: await RemoteLog.open(spec), name: spec, remote: true };
  const name = isPostgresUrl(spec) ? 'the PostgreSQL log' : spec;
  return { store: await openLogStore(spec, 'read'), name, remote: false };
}
