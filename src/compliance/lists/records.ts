/**
 * Snapshot records: the metadata of each snapshot an import makes (source, counts, when, from which
 * files), kept beside it as `<data>/lists/snapshots/<hex>.json` and never overwritten, so that a
 * later import (which replaces active.json) loses nothing a logged screening rests on.
 * docs/SCREENING.md, "Snapshot records".
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelsealError } from '../../errors.js';
import { ioError, pathExists, writeFileAtomic } from '../../io/atomic.js';
import type { SnapshotRecord } from '../records.js';
import { listsPaths, readActive, SOURCE_NAME, type ActiveSource } from './active-file.js';

/** A logged snapshot reference, "<source>@sha256:<64 hex>". */
export const SNAPSHOT_REF = /^([a-z0-9][a-z0-9._-]{0,63})@(sha256:[0-9a-f]{64})$/;

/** The record file of the snapshot `digest` ("sha256:<hex>"). */
export function snapshotRecordPath(data: string, digest: string): string {
  return join(listsPaths(data).snapshots, `${digest.replace(/^sha256:/, '')}.json`);
}

/** The record of source `source`'s snapshot as active.json (or an import) describes it. */
export function snapshotRecordOf(source: string, s: Omit<ActiveSource, 'refreshed'>): SnapshotRecord {
  return {
    ref: `${source}@${s.digest}`,
    source,
    digest: s.digest,
    entries: s.entries,
    names: s.names,
    imported: s.imported,
    maxAgeDays: s.maxAgeDays,
    files: s.files,
    skipped: s.skipped,
  };
}

/** Keeps `record` beside its snapshot unless a record is there already (the first import's stays). */
export async function keepSnapshotRecord(data: string, record: SnapshotRecord): Promise<void> {
  const path = snapshotRecordPath(data, record.digest);
  if (await pathExists(path)) return;
  try {
    await writeFileAtomic(path, JSON.stringify(record, null, 2) + '\n');
  } catch (e) {
    if (e instanceof ModelsealError && e.code === 'OUTPUT_EXISTS') return;
    throw e;
  }
}

/**
 * Migrates a data directory of earlier versions: every snapshot in force gets its record from
 * active.json, where it has none. Idempotent; call it under the lists lock or before any import runs.
 */
export async function keepActiveSnapshotRecords(data: string): Promise<number> {
  const active = await readActive(data);
  let kept = 0;
  for (const [source, s] of Object.entries(active.sources)) {
    if (await pathExists(snapshotRecordPath(data, s.digest))) continue;
    await keepSnapshotRecord(data, snapshotRecordOf(source, s));
    kept++;
  }
  return kept;
}

/**
 * The record of a logged snapshot reference; null when the snapshot file or its record is not kept.
 * A directory not yet migrated answers from active.json for the snapshots in force. Read-only.
 */
export async function readSnapshotRecord(data: string, ref: string): Promise<SnapshotRecord | null> {
  const m = SNAPSHOT_REF.exec(ref);
  if (!m || !SOURCE_NAME.test(m[1]!)) return null;
  const [source, digest] = [m[1]!, m[2]!];
  const snapshot = join(listsPaths(data).snapshots, `${digest.slice(7)}.jsonl`);
  if (!(await pathExists(snapshot))) return null;
  const path = snapshotRecordPath(data, digest);
  let text: string | null = null;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(`cannot read ${path}`, e);
  }
  if (text === null) {
    const inForce = (await readActive(data)).sources[source];
    return inForce?.digest === digest ? snapshotRecordOf(source, inForce) : null;
  }
  let record: SnapshotRecord;
  try {
    record = JSON.parse(text) as SnapshotRecord;
  } catch (cause) {
    throw new ModelsealError('EVIDENCE_INVALID', `${path} is not JSON; restore it from a backup`, { cause });
  }
  if (record.digest !== digest)
    throw new ModelsealError('EVIDENCE_INVALID', `${path} is not the record of ${digest}; restore it from a backup`);
  // The snapshot's header names its source: under another source's name, it is no snapshot that was logged.
  return record.ref === ref ? record : null;
}
