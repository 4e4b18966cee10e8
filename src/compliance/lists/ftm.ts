/**
 * OpenSanctions / FollowTheMoney entities, one JSON object a line (`id`, `schema`, `properties`
 * of string arrays, `datasets`). Parties become list entities; other schemata (Address,
 * Sanction, Ownership…) are skipped and counted. docs/SCREENING.md.
 */
import type { EntitySchema, ListEntity } from '../types.js';
import { listInvalid, makeEntity, type RecordPlace } from './entity.js';

/** The FtM schemata that are parties, and the schema each is screened as. */
const PARTIES: Record<string, EntitySchema> = {
  Person: 'Person',
  Company: 'Company',
  Organization: 'Organization',
  PublicBody: 'Organization',
  LegalEntity: 'LegalEntity',
  Vessel: 'Vessel',
  Airplane: 'Airplane',
};

const COUNTRY_PROPS = ['country', 'nationality', 'citizenship', 'jurisdiction', 'mainCountry', 'flag'];
const ID_PROPS = [
  'registrationNumber',
  'taxNumber',
  'idNumber',
  'passportNumber',
  'imoNumber',
  'innCode',
  'ogrnCode',
  'leiCode',
  'swiftBic',
  'vatCode',
  'mmsi',
];
/** FtM codes that are not ISO 3166 countries (historic states, "global", the EU): not qualifiers. */
const NOT_COUNTRIES = new Set(['zz', 'eu', 'an', 'su', 'cs', 'yu', 'dd', 'zr', 'tp', 'bu']);

/** FtM country values as ISO codes: a region "ge-ab" as its country, FtM's own historic codes left out. */
function countries(values: string[]): string[] {
  return values.flatMap((v) => {
    const c = v.trim().toLowerCase();
    if (NOT_COUNTRIES.has(c)) return [];
    if (c.length <= 2) return [c];
    return /^[a-z]{2}-/.test(c) ? [c.slice(0, 2)] : [];
  });
}

/**
 * The names of an entity: `name`, or where an exporter left it out, the person's name parts
 * (firstName, middleName, lastName) or the entity's `caption`. None at all is a record without a name.
 */
function namesOf(get: (p: string) => string[], r: { caption?: unknown }): string[] {
  const names = get('name');
  if (names.length) return names;
  const parts = ['firstName', 'middleName', 'lastName'].map((p) => get(p)[0] ?? '').filter(Boolean);
  if (parts.length) return [parts.join(' ')];
  return typeof r.caption === 'string' ? [r.caption] : [];
}

/** One line's entity, or null when its schema is not a party; LIST_INVALID for a line that is not an FtM entity. */
export function ftmEntity(line: string, at: RecordPlace): ListEntity | null {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (e) {
    throw listInvalid(at, `not a JSON object (truncated line?): ${(e as Error).message}`, e);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw listInvalid(at, 'not a JSON object');
  const r = v as { id?: unknown; schema?: unknown; properties?: unknown; datasets?: unknown; caption?: unknown };
  if (typeof r.id === 'string') at = { ...at, id: r.id };
  if (typeof r.id !== 'string' || typeof r.schema !== 'string')
    throw listInvalid(at, 'not a FollowTheMoney entity: "id" and "schema" must be strings');
  const schema = PARTIES[r.schema];
  if (!schema) return null;
  const props = (typeof r.properties === 'object' && r.properties !== null ? r.properties : {}) as Record<
    string,
    unknown
  >;
  const get = (name: string): string[] => {
    const p = props[name];
    return Array.isArray(p) ? p.filter((x): x is string => typeof x === 'string') : [];
  };
  const datasets = Array.isArray(r.datasets) ? r.datasets.filter((d): d is string => typeof d === 'string') : [];
  return makeEntity(
    {
      id: r.id,
      schema,
      names: namesOf(get, r),
      aliases: [...get('alias'), ...get('previousName')],
      weakAliases: get('weakAlias'),
      countries: countries(COUNTRY_PROPS.flatMap(get)),
      dob: [...get('birthDate'), ...get('incorporationDate')],
      ids: ID_PROPS.flatMap(get),
      list: [...new Set(datasets)].sort().join(','),
      programs: get('program'),
    },
    at,
  );
}
