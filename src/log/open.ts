/**
 * A log store from what the user typed: a directory (the file store) or a PostgreSQL URL
 * (`postgres://user@host:port/db[?schema=name]`, the shared store of several servers).
 */
import { FileStore } from './filestore.js';
import { PgStore } from './pgstore.js';
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
