/**
 * The operator's own list: a CSV with the header `id,name,type,aliases,countries,dob,source`
 * (`aliases`, `countries` and `dob` separated by `;`). docs/SCREENING.md.
 */
import type { EntitySchema, ListEntity } from '../types.js';
import { listInvalid, makeEntity, type RecordPlace } from './entity.js';

export const OWN_COLUMNS = ['id', 'name', 'type', 'aliases', 'countries', 'dob', 'source'] as const;

const TYPES: Record<string, EntitySchema> = {
  '': 'LegalEntity',
  any: 'LegalEntity',
  legalentity: 'LegalEntity',
  person: 'Person',
  individual: 'Person',
  company: 'Company',
  organization: 'Organization',
  organisation: 'Organization',
  vessel: 'Vessel',
  airplane: 'Airplane',
  aircraft: 'Airplane',
};

/** An entity from one row of an own CSV, its fields by column name; `list` is used when `source` is empty. */
export function ownRowEntity(row: (column: string) => string, at: RecordPlace, list: string): ListEntity {
  at = { ...at, id: row('id') };
  const type = row('type').trim().toLowerCase();
  const schema = TYPES[type];
  if (!schema)
    throw listInvalid(
      at,
      `type ${JSON.stringify(row('type'))}: expected person, company, organization, vessel, airplane or empty`,
    );
  const split = (column: string) => row(column).split(';');
  return makeEntity(
    {
      id: row('id'),
      schema,
      names: [row('name')],
      aliases: split('aliases'),
      countries: split('countries'),
      dob: split('dob'),
      list: row('source') || list,
    },
    at,
  );
}
