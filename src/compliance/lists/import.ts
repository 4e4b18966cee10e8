/**
 * `lists import`: one or more files of a source read into one snapshot, which becomes the
 * source's active snapshot. Nothing is written until every record has been read and checked,
 * and active.json is replaced only after the snapshot and its record are complete: a failed import
 * leaves the lists exactly as they were. docs/SCREENING.md, "Lists and snapshots".
 */
import { basename, extname } from 'node:path';
import { ModelsealError } from '../../errors.js';
import type { ListEntity } from '../types.js';
import {
  readActive,
  SOURCE_NAME,
  withListsLock,
  writeActive,
  type ActiveState,
  type ImportedFile,
} from './active-file.js';
import { DEFAULT_MAX_AGE_DAYS } from './limits.js';
import { keepActiveSnapshotRecords, keepSnapshotRecord, snapshotRecordOf } from './records.js';
import { detectFormat, LIST_FORMATS, readList, type ListFormat } from './read.js';
import { SnapshotBuilder, type LoadedSnapshot } from './snapshot.js';
import { InputText } from './text.js';

/** Options of {@link importLists}. */
export interface ImportOptions {
  /** The source the files make up (default: csl, opensanctions, or an own CSV's file stem). */
  source?: string;
  /** The format of every file (default "auto": detected from each file's content and extension). */
  format?: ListFormat | 'auto';
  /** Days after which the source is stale (default: the source's current setting, or 7). */
  maxAgeDays?: number;
  now?: () => Date;
}

/** What an import did. */
export interface ImportResult {
  source: string;
  digest: string;
  entries: number;
  names: number;
  skipped: number;
  /** True when the content was the source's active snapshot already: only its refresh time changed. */
  unchanged: boolean;
  files: ImportedFile[];
  /** active.json before and after the import. */
  previous: ActiveState;
  active: ActiveState;
}

function invalidArgument(message: string): ModelsealError {
  return new ModelsealError('INVALID_ARGUMENT', message);
}

/** The source of files whose formats are `formats`, when the caller named none. */
function defaultSource(files: string[], formats: ListFormat[]): string {
  const names = formats.map((f, i) =>
    f === 'ftm'
      ? 'opensanctions'
      : f === 'csv'
        ? basename(files[i]!, extname(files[i]!))
            .toLowerCase()
            .replace(/[^a-z0-9._-]+/g, '-')
            .replace(/^[^a-z0-9]+/, '')
        : 'csl',
  );
  const distinct = [...new Set(names)];
  if (distinct.length !== 1 || !SOURCE_NAME.test(distinct[0]!))
    throw invalidArgument(`these files make no single source (${distinct.join(', ')}): name it with --source`);
  return distinct[0]!;
}

/** Checks the options that do not need the files. */
function checkOptions(files: string[], opts: ImportOptions): void {
  if (!files.length) throw invalidArgument('name at least one list file to import');
  if (opts.source !== undefined && !SOURCE_NAME.test(opts.source))
    throw invalidArgument(
      `--source ${JSON.stringify(opts.source)}: use 1-64 lowercase letters, digits, ".", "_" or "-"`,
    );
  if (opts.format && opts.format !== 'auto' && !LIST_FORMATS.includes(opts.format))
    throw invalidArgument(`--format ${JSON.stringify(opts.format)}: expected auto, ${LIST_FORMATS.join(', ')}`);
  if (opts.maxAgeDays !== undefined && !(Number.isInteger(opts.maxAgeDays) && opts.maxAgeDays >= 1))
    throw invalidArgument(`--max-age ${String(opts.maxAgeDays)}: expected a whole number of days, at least 1`);
}

/** Reads `files` into one source's snapshot builder, checking every record; writes nothing. */
async function readFiles(files: string[], opts: ImportOptions) {
  checkOptions(files, opts);
  const formats: ListFormat[] = [];
  for (const f of files) formats.push(!opts.format || opts.format === 'auto' ? await detectFormat(f) : opts.format);
  const builder = new SnapshotBuilder(opts.source ?? defaultSource(files, formats));
  const counts = { skipped: 0 };
  const imported: ImportedFile[] = [];
  for (const [i, file] of files.entries()) {
    const input = new InputText(file);
    const listName = basename(file, extname(file));
    for await (const { entity, at } of readList(input, formats[i]!, listName, counts)) builder.add(entity, at);
    imported.push({ name: file, sha256: input.sha256, bytes: input.bytes, format: formats[i]! });
  }
  return { builder, imported, skipped: counts.skipped };
}

/** Imports `files` as one snapshot of a source and makes it active (docs/SCREENING.md). */
export async function importLists(data: string, files: string[], opts: ImportOptions = {}): Promise<ImportResult> {
  const { builder, imported, skipped } = await readFiles(files, opts);
  return withListsLock(data, () => replaceActive(data, builder, imported, skipped, opts));
}

/** Reads `files` as one source in memory, as an import would snapshot them, writing nothing (`screen --list`). */
export async function readListFiles(
  files: string[],
  opts: Omit<ImportOptions, 'maxAgeDays' | 'now'> = {},
): Promise<LoadedSnapshot & { skipped: number; files: ImportedFile[] }> {
  const { builder, imported, skipped } = await readFiles(files, opts);
  return { ...builder.inMemory(), skipped, files: imported };
}

/** Imports entities held in memory (a migrated list) as a source's snapshot. */
export async function importEntities(
  data: string,
  source: string,
  entities: ListEntity[],
  files: ImportedFile[],
  opts: ImportOptions = {},
): Promise<ImportResult> {
  const builder = new SnapshotBuilder(source);
  entities.forEach((e, index) => builder.add(e, { file: files[0]?.name ?? source, index }));
  return withListsLock(data, () => replaceActive(data, builder, files, 0, opts));
}

/** Writes the snapshot and makes it the source's active one (under the lists lock). */
async function replaceActive(
  data: string,
  builder: SnapshotBuilder,
  files: ImportedFile[],
  skipped: number,
  opts: ImportOptions,
): Promise<ImportResult> {
  // A directory of an earlier version first keeps the records of the snapshots in force (active.json's).
  await keepActiveSnapshotRecords(data);
  const previous = await readActive(data);
  const digest = await builder.write(data);
  const now = (opts.now?.() ?? new Date()).toISOString();
  const before = previous.sources[builder.source];
  const unchanged = before?.digest === digest;
  const active: ActiveState = {
    v: 1,
    sources: {
      ...previous.sources,
      [builder.source]: {
        digest,
        entries: builder.entries,
        names: builder.names,
        imported: unchanged ? before.imported : now,
        refreshed: now,
        maxAgeDays: opts.maxAgeDays ?? before?.maxAgeDays ?? DEFAULT_MAX_AGE_DAYS,
        files,
        skipped,
      },
    },
  };
  // The snapshot's record first: a logged screening may name it as soon as active.json does.
  await keepSnapshotRecord(data, snapshotRecordOf(builder.source, active.sources[builder.source]!));
  await writeActive(data, active);
  return {
    source: builder.source,
    digest,
    entries: builder.entries,
    names: builder.names,
    skipped,
    unchanged,
    files,
    previous,
    active,
  };
}
