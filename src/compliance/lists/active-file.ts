/**
 * `<data>/lists/active.json`: for every source, the snapshot in force and where it came from.
 * Replaced atomically by each import; snapshots themselves never change. docs/SCREENING.md.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelsealError } from '../../errors.js';
import { ioError, writeFileAtomic } from '../../io/atomic.js';

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
