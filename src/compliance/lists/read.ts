/**
 * Reading one list file in any import format, streamed, as normalised entities: the format named
 * or detected from the content (and the extension), the header checked, every record mapped.
 */
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { ioError } from '../../io/atomic.js';
import type { ListEntity } from '../types.js';
import { cslJsonEntity, cslRowEntity } from './csl.js';
import { listInvalid, type RecordPlace } from './entity.js';
import { ftmEntity } from './ftm.js';
import { cslResults } from './jsonstream.js';
import { OWN_COLUMNS, ownRowEntity } from './owncsv.js';
import { csvRecords, lines, type InputText } from './text.js';

export const LIST_FORMATS = ['csl-json', 'csl-csv', 'csl-tsv', 'ftm', 'csv'] as const;
export type ListFormat = (typeof LIST_FORMATS)[number];

/** The first 64 KiB of a file, as text (a byte order mark dropped). */
async function head(path: string): Promise<string> {
  const fh = await open(path).catch((e: unknown) => {
    throw ioError(`cannot read ${path}`, e);
  });
  try {
    const buf = Buffer.alloc(64 * 1024);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0).catch((e: unknown) => {
      throw ioError(`cannot read ${path}`, e);
    });
    return buf
      .subarray(0, bytesRead)
      .toString('utf8')
      .replace(/^\uFEFF/, '');
  } finally {
    await fh.close();
  }
}

const headerColumns = (line: string, delimiter: string) =>
  line.split(delimiter).map((c) => c.trim().replace(/^"(.*)"$/, '$1'));

function isFtmLine(line: string): boolean {
  try {
    const v = JSON.parse(line) as { id?: unknown; schema?: unknown };
    return typeof v.id === 'string' && typeof v.schema === 'string';
  } catch {
    return false;
  }
}

/** The format of a list file from its first bytes (and its extension); LIST_INVALID when it is none of them. */
export async function detectFormat(path: string): Promise<ListFormat> {
  const text = (await head(path)).trimStart();
  const nl = text.indexOf('\n');
  const first = (nl < 0 ? text : text.slice(0, nl)).replace(/\r$/, '');
  const name = basename(path).toLowerCase();
  if (text.startsWith('{')) {
    if (nl >= 0 && isFtmLine(first)) return 'ftm';
    if (/"results"\s*:/.test(text)) return 'csl-json';
    return /\.(jsonl|ndjson)$|\.ftm\.json$/.test(name) ? 'ftm' : 'csl-json';
  }
  const tabbed = first.includes('\t');
  const columns = headerColumns(first, tabbed ? '\t' : ',');
  if (columns.includes('source') && columns.includes('name') && (columns.includes('_id') || columns.includes('id'))) {
    if (OWN_COLUMNS.every((c) => columns.includes(c)) && !columns.includes('entity_number')) return 'csv';
    return tabbed || name.endsWith('.tsv') ? 'csl-tsv' : 'csl-csv';
  }
  throw listInvalid(
    { file: path },
    'not a list modelseal reads (CSL JSON, CSV or TSV; FollowTheMoney JSON lines; a CSV with the header ' +
      `${OWN_COLUMNS.join(',')}); name the format with --format if it is one`,
  );
}

/** What a read found besides entities. */
export interface ReadCounts {
  /** Records that are not parties (FtM Address, Sanction, Ownership…). */
  skipped: number;
}

/** CSV/TSV rows as lookups by column name, after checking the header has `required`. */
async function* rows(
  input: InputText,
  delimiter: string,
  required: readonly string[],
  what: string,
): AsyncGenerator<{ get: (column: string) => string; line: number }> {
  let index: Map<string, number> | undefined;
  for await (const { fields, line } of csvRecords(input.chunks(), input.path, delimiter)) {
    if (!index) {
      index = new Map(fields.map((f, i) => [f.trim(), i]));
      const missing = required.filter((c) => !index!.has(c));
      if (missing.length)
        throw listInvalid({ file: input.path, line }, `not ${what}: the header lacks ${missing.join(', ')}`);
      continue;
    }
    if (fields.length !== index.size)
      throw listInvalid({ file: input.path, line }, `${fields.length} fields where the header has ${index.size}`);
    yield { get: (c) => fields[index!.get(c) ?? -1] ?? '', line };
  }
  if (!index) throw listInvalid({ file: input.path }, `not ${what}: the file is empty`);
}

/** The entities of one file in `format`; `list` names the list of an own CSV's rows without a `source`. */
export async function* readList(
  input: InputText,
  format: ListFormat,
  list: string,
  counts: ReadCounts,
): AsyncGenerator<{ entity: ListEntity; at: RecordPlace }> {
  const file = input.path;
  if (format === 'csl-json') {
    for await (const { value, index } of cslResults(input.chunks(), file))
      yield { entity: cslJsonEntity(value, { file, index }), at: { file, index } };
  } else if (format === 'ftm') {
    for await (const { text, line } of lines(input.chunks(), file)) {
      if (!text.trim()) continue;
      const entity = ftmEntity(text, { file, line });
      if (entity) yield { entity, at: { file, line } };
      else counts.skipped++;
    }
  } else if (format === 'csv') {
    for await (const r of rows(input, ',', OWN_COLUMNS, 'an own list CSV'))
      yield { entity: ownRowEntity(r.get, { file, line: r.line }, list), at: { file, line: r.line } };
  } else {
    const delimiter = format === 'csl-tsv' ? '\t' : ',';
    for await (const r of rows(
      input,
      delimiter,
      ['source', 'name', 'type'],
      `a CSL ${format.slice(4).toUpperCase()}`,
    )) {
      if (!r.get('_id') && !r.get('id'))
        throw listInvalid({ file, line: r.line }, 'a record without an id (_id or id)');
      yield { entity: cslRowEntity(r.get, { file, line: r.line }), at: { file, line: r.line } };
    }
  }
}
