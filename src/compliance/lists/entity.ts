/**
 * Building a ListEntity from what a parser read: names cleaned (NFC, trimmed, spaces collapsed,
 * controls and bidi overrides removed), countries checked, dates cut to "YYYY[-MM[-DD]]", values
 * de-duplicated, so the same list always normalises to the same entries (docs/SCREENING.md).
 */
import { ModelsealError } from '../../errors.js';
import type { EntitySchema, ListEntity } from '../types.js';
import { isCountryCode } from './countries.js';
import { LIST_LIMITS } from './limits.js';

/** Where a record is: the file, and the line (text formats) or index (a JSON array) and id when known. */
export interface RecordPlace {
  file: string;
  line?: number;
  index?: number;
  id?: string;
}

/** The LIST_INVALID error of a record: names the file, the line or index and the id. */
export function listInvalid(at: RecordPlace, message: string, cause?: unknown): ModelsealError {
  const where = [
    at.line !== undefined ? `line ${at.line}` : '',
    at.index !== undefined ? `record ${at.index}` : '',
    at.id !== undefined ? `id ${JSON.stringify(at.id)}` : '',
  ].filter(Boolean);
  return new ModelsealError('LIST_INVALID', `${at.file}${where.length ? ` (${where.join(', ')})` : ''}: ${message}`, {
    ...(cause === undefined ? {} : { cause }),
    details: { ...at },
  });
}

// C0/C1 controls, line and paragraph separators, bidi embeddings, overrides and isolates, lone surrogates.
const UNSAFE = /[\p{Cc}\p{Cs}\u2028\u2029\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C]/gu;

/** A listed name as stored: NFC, without controls or bidi overrides (each becomes a space), spaces collapsed. */
export function cleanName(value: string): string {
  return value.normalize('NFC').replace(UNSAFE, ' ').replace(/\s+/gu, ' ').trim();
}

const DATE = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?/;

/** "YYYY", "YYYY-MM" or "YYYY-MM-DD" from an ISO-like date (a time part dropped); undefined when it is none. */
export function cleanDate(value: string): string | undefined {
  const m = DATE.exec(value.trim());
  if (!m) return undefined;
  const [, y, mo, d] = m;
  if (mo && (Number(mo) < 1 || Number(mo) > 12)) return y;
  if (d && (Number(d) < 1 || Number(d) > 31)) return `${y}-${mo}`;
  return [y, mo, d].filter(Boolean).join('-');
}

/** The fields of an entity as a parser read them, before cleaning. */
export interface RawEntity {
  id: string;
  schema: EntitySchema;
  names: string[];
  aliases?: string[];
  weakAliases?: string[];
  countries?: string[];
  dob?: string[];
  ids?: string[];
  list: string;
  programs?: string[];
}

const unique = (values: Iterable<string>) => [...new Set(values)];
const sortedUnique = (values: Iterable<string>) => unique(values).sort();
const present = (values: string[] | undefined) => (values ?? []).map((v) => v.trim()).filter(Boolean);

function cleanNames(values: string[] | undefined, at: RecordPlace): string[] {
  const out: string[] = [];
  for (const v of values ?? []) {
    const name = cleanName(v);
    if (!name) continue;
    // eslint-disable-next-line @typescript-eslint/no-misused-spread -- code points on purpose
    const chars = [...name].length;
    if (chars > LIST_LIMITS.nameChars)
      throw listInvalid(at, `a name of ${chars} characters, over the limit of ${LIST_LIMITS.nameChars}`);
    out.push(name);
  }
  return unique(out);
}

/** Upper-cased ISO 3166 alpha-2 codes; LIST_INVALID naming a code that is none. */
export function cleanCountries(values: string[] | undefined, at: RecordPlace): string[] {
  const out = present(values).map((c) => c.toUpperCase());
  const bad = out.find((c) => !isCountryCode(c));
  if (bad !== undefined) throw listInvalid(at, `${JSON.stringify(bad)} is not an ISO 3166 alpha-2 country code`);
  return sortedUnique(out);
}

/** The normalised entity, or LIST_INVALID (no name, too many names, a bad country) naming the record. */
export function makeEntity(raw: RawEntity, at: RecordPlace): ListEntity {
  const id = raw.id.trim();
  at = { ...at, id };
  if (!id) throw listInvalid(at, 'a record without an id');
  const names = cleanNames(raw.names, at);
  if (!names.length) throw listInvalid(at, 'a record without a name');
  const strong = new Set(names);
  const aliases = cleanNames(raw.aliases, at).filter((a) => !strong.has(a));
  aliases.forEach((a) => strong.add(a));
  const weakAliases = cleanNames(raw.weakAliases, at).filter((a) => !strong.has(a));
  const count = names.length + aliases.length + weakAliases.length;
  if (count > LIST_LIMITS.namesPerEntity)
    throw listInvalid(at, `${count} names and aliases, over the limit of ${LIST_LIMITS.namesPerEntity}`);
  return {
    id,
    schema: raw.schema,
    names,
    aliases: aliases.sort(),
    weakAliases: weakAliases.sort(),
    countries: cleanCountries(raw.countries, at),
    dob: sortedUnique(present(raw.dob).flatMap((d) => cleanDate(d) ?? [])),
    ids: sortedUnique(present(raw.ids).map(cleanName)),
    list: cleanName(raw.list),
    programs: sortedUnique(present(raw.programs).map(cleanName)),
  };
}

/** Names, aliases and weak aliases of an entity together. */
export function nameCount(e: ListEntity): number {
  return e.names.length + e.aliases.length + e.weakAliases.length;
}
