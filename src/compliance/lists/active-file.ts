/**
 * `<data>/lists/active.json`: for every source, the snapshot in force and where it came from.
 * Replaced atomically by each import; snapshots themselves never change. docs/SCREENING.md.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ModelsealError } from '../../errors.js';
import { ioError, isProcessRunning, writeFileAtomic } from '../../io/atomic.js';

/** An input file of an import, as active.json records it. */
export interface ImportedFile {
  /** The path as given to the import. */
  name: string;
  sha256: string;
  bytes: number;
  format: string;
}

/** One source's active snapshot. */
export interface ActiveSource {
  /** "sha256:<hex>" of the snapshot file (its name is `<hex>.jsonl`). */
  digest: string;
  entries: number;
  /** Names, aliases and weak aliases of all entries together. */
  names: number;
  /** When this snapshot was imported (ISO 8601). */
  imported: string;
  /** When an import last confirmed it (a re-import of the same content): its age counts from here. */
  refreshed: string;
  /** Past this many days since `refreshed` the source is stale. */
  maxAgeDays: number;
  files: ImportedFile[];
  /** Records of the inputs that are not parties (FtM Address, Sanction…), left out. */
  skipped: number;
}

/** The whole of active.json. */
export interface ActiveState {
  v: 1;
  sources: Record<string, ActiveSource>;
}

/** The files of `<data>/lists`. */
export function listsPaths(data: string) {
  const dir = join(data, 'lists');
  return { dir, snapshots: join(dir, 'snapshots'), active: join(dir, 'active.json') };
}

/** The snapshot file of a digest "sha256:<hex>". */
export function snapshotPath(data: string, digest: string): string {
  return join(listsPaths(data).snapshots, `${digest.replace(/^sha256:/, '')}.jsonl`);
}

/** Source names: what active.json keys, logs and `--source` use. */
export const SOURCE_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** The active state of `<data>/lists` (empty when nothing was imported); LIST_INVALID when active.json is damaged. */
export async function readActive(data: string): Promise<ActiveState> {
  const path = listsPaths(data).active;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { v: 1, sources: {} };
    throw ioError(`cannot read ${path}`, e);
  }
  try {
    const state = JSON.parse(text) as Partial<ActiveState> | null;
    if (state?.v !== 1 || typeof state.sources !== 'object') throw new Error('not version 1');
    for (const [name, s] of Object.entries(state.sources))
      if (!SOURCE_NAME.test(name) || !/^sha256:[0-9a-f]{64}$/.test(s.digest))
        throw new Error(`source ${JSON.stringify(name)} is malformed`);
    return state as ActiveState;
  } catch (cause) {
    throw new ModelsealError(
      'LIST_INVALID',
      `${path} is damaged (${(cause as Error).message}); restore it from a backup or import the lists again`,
      { cause },
    );
  }
}

/** Replaces active.json atomically. */
export async function writeActive(data: string, state: ActiveState): Promise<void> {
  const sources = Object.fromEntries(Object.entries(state.sources).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  await writeFileAtomic(listsPaths(data).active, JSON.stringify({ v: 1, sources }, null, 2) + '\n', {
    overwrite: true,
  });
}

/** How long an import waits for another one's commit before it gives up. */
const LOCK_WAIT_MS = 120_000;

/**
 * Runs `fn` holding `<data>/lists/.lock`, so two imports never both read and replace active.json
 * (the later would drop the earlier's source). A lock left by a process of this host that no
 * longer runs is taken over; one held longer than two minutes is an error naming its holder.
 */
export async function withListsLock<T>(data: string, fn: () => Promise<T>): Promise<T> {
  const { dir } = listsPaths(data);
  const lock = join(dir, '.lock');
  await mkdir(dir, { recursive: true }).catch((e: unknown) => {
    throw ioError(`cannot create ${dir}`, e);
  });
  const me = `${hostname()} ${process.pid}`;
  for (const deadline = Date.now() + LOCK_WAIT_MS; ;) {
    try {
      await writeFile(lock, me, { flag: 'wx' });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw ioError(`cannot create ${lock}`, e);
    }
    const holder = await readFile(lock, 'utf8').catch(() => '');
    const [host, pid] = holder.split(' ');
    if (host === hostname() && Number(pid) > 0 && !isProcessRunning(Number(pid))) {
      await rm(lock, { force: true });
      continue;
    }
    if (Date.now() > deadline)
      throw new ModelsealError(
        'IO',
        `${lock} is held by another list import (${holder || 'unknown holder'}); wait for it, or remove the file ` +
          'if no import is running',
      );
    await new Promise((r) => setTimeout(r, 50));
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { force: true });
  }
}
