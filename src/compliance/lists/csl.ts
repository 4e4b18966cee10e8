/**
 * The US Consolidated Screening List as trade.gov publishes it (consolidated.json, .csv, .tsv):
 * one record per listed party, in JSON with arrays and objects, in CSV/TSV with `;`-separated
 * values and addresses as "street, city, state, postal code, country". docs/SCREENING.md.
 */
import type { EntitySchema, ListEntity } from '../types.js';
import { listInvalid, makeEntity, type RecordPlace } from './entity.js';

/** The short codes of the CSL's lists, by the abbreviation in its `source` strings. */
const SOURCES: Record<string, string> = {
  SDN: 'SDN',
  SSI: 'SSI',
  EL: 'EL',
  UVL: 'UVL',
  DPL: 'DPL',
  MEU: 'MEU',
  ISN: 'ISN',
  FSE: 'FSE',
  PLC: 'PLC',
  CAP: 'CAP',
  CAPTA: 'CAP',
  CMIC: 'CMIC',
  MBS: 'MBS',
  'NS-MBS': 'MBS',
  'NS-MBS LIST': 'MBS',
  DTC: 'DTC',
};

/**
 * The short code of a CSL `source` ("Specially Designated Nationals (SDN) - Treasury Department"
 * → "SDN"), the code itself when given one, or the abbreviation in parentheses of a list not known here.
 */
export function cslListCode(source: string): string {
  const s = source.trim();
  const known = SOURCES[s.toUpperCase()];
  if (known) return known;
  for (const [, abbr] of s.matchAll(/\(([^()]+)\)/g)) {
    const code = SOURCES[abbr!.trim().toUpperCase()];
    if (code) return code;
  }
  const named = NAMES.find(([prefix]) => s.toLowerCase().startsWith(prefix));
  if (named) return named[1];
  return /\(([^()]+)\)/.exec(s)?.[1]?.trim() ?? (s || 'CSL');
}

/** Sources given by name without their abbreviation ("Entity List"). */
const NAMES: [string, string][] = [
  ['specially designated nationals', 'SDN'],
  ['sectoral sanctions', 'SSI'],
  ['entity list', 'EL'],
  ['unverified list', 'UVL'],
  ['denied persons', 'DPL'],
  ['military end user', 'MEU'],
  ['nonproliferation sanctions', 'ISN'],
  ['foreign sanctions evaders', 'FSE'],
  ['palestinian legislative council', 'PLC'],
  ['non-sdn palestinian legislative council', 'PLC'],
  ['correspondent account', 'CAP'],
  ['non-sdn chinese military', 'CMIC'],
  ['non-sdn menu-based', 'MBS'],
  ['itar debarred', 'DTC'],
];

const TYPES: Record<string, EntitySchema> = {
  individual: 'Person',
  entity: 'LegalEntity',
  vessel: 'Vessel',
  aircraft: 'Airplane',
  '': 'LegalEntity',
};

function schemaOf(type: string, at: RecordPlace): EntitySchema {
  const schema = TYPES[type.trim().toLowerCase()];
  if (!schema) throw listInvalid(at, `type ${JSON.stringify(type)}: expected Individual, Entity, Vessel or Aircraft`);
  return schema;
}

/** A JSON value as a list of strings: an array's strings, a `;`-separated string, or nothing. */
function strings(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  if (typeof value === 'string') return value.split(';');
  if (typeof value === 'number') return [String(value)];
  return [];
}

const text = (value: unknown): string =>
  typeof value === 'string' ? value : typeof value === 'number' ? String(value) : '';

/** An entity from one element of consolidated.json's `results`. */
export function cslJsonEntity(value: unknown, at: RecordPlace): ListEntity {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw listInvalid(at, 'a record that is not a JSON object');
  const r = value as Record<string, unknown>;
  at = { ...at, id: text(r.id ?? r._id) };
  const addresses = Array.isArray(r.addresses) ? (r.addresses as unknown[]) : [];
  const ids = Array.isArray(r.ids) ? (r.ids as unknown[]) : [];
  return makeEntity(
    {
      id: text(r.id ?? r._id),
      schema: schemaOf(text(r.type), at),
      names: [text(r.name)],
      aliases: strings(r.alt_names),
      countries: [
        ...addresses.map((a) => text((a as { country?: unknown } | null)?.country)),
        ...strings(r.nationalities),
        ...strings(r.citizenships),
      ],
      dob: strings(r.dates_of_birth),
      ids: ids.flatMap((i) => {
        const { type, number } = (i ?? {}) as { type?: unknown; number?: unknown };
        return isIdentifier(text(type), text(number)) ? [text(number)] : [];
      }),
      list: cslListCode(text(r.source)),
      programs: strings(r.programs),
    },
    at,
  );
}

/** The CSV/TSV columns a CSL record needs; either `_id` or `id` names the id. */
export const CSL_COLUMNS = ['source', 'name'] as const;

/** The country code closing an address "street, city, state, postal code, CC", if it has one. */
function addressCountry(address: string): string {
  const last = address.split(',').pop()!.trim();
  return /^[A-Za-z]{2}$/.test(last) ? last : '';
}

/**
 * The `ids` of the CSL that identify (passport, registration, tax, IMO numbers), not those that
 * describe (gender, website, e-mail, sanctions notes, dates of establishment): those have no digit or a type below.
 */
const NOT_IDENTIFIERS = [
  'gender',
  'website',
  'email',
  'phone',
  'organization established date',
  'organization type',
  'target type',
  'secondary sanctions risk',
  'additional sanctions information',
  'transactions prohibited',
  'subject to directive',
];

function isIdentifier(type: string, number: string): boolean {
  const t = type.trim().toLowerCase();
  return /\d/.test(number) && !NOT_IDENTIFIERS.some((n) => t.startsWith(n));
}

/** The number of an identifier "number, type[, country]" (the CSV form), or nothing for a descriptive one. */
function idNumber(id: string): string[] {
  const parts = id.split(',').map((p) => p.trim());
  const number = parts.find((p) => /\d/.test(p));
  const type = parts.find((p) => p !== number) ?? '';
  return number !== undefined && isIdentifier(type, number) ? [number] : [];
}

/** An entity from one CSV/TSV row of the CSL, its fields by column name. */
export function cslRowEntity(row: (column: string) => string, at: RecordPlace): ListEntity {
  const id = row('_id') || row('id');
  at = { ...at, id };
  const list = (column: string) => row(column).split(';');
  return makeEntity(
    {
      id,
      schema: schemaOf(row('type'), at),
      names: [row('name')],
      aliases: list('alt_names'),
      countries: [...list('addresses').map(addressCountry), ...list('nationalities'), ...list('citizenships')],
      dob: list('dates_of_birth'),
      ids: list('ids').flatMap(idNumber),
      list: cslListCode(row('source')),
      programs: list('programs'),
    },
    at,
  );
}
