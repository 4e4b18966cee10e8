/**
 * Qualifiers on a query that move a name score: the entity type, the date of birth, countries and
 * identifiers. docs/SCREENING.md, "Qualifiers".
 */
import type { EntitySchema, ScreeningQuery, ScreeningType } from '../types.js';
import { round } from './align.js';
import type { EntityQualifiers } from './store.js';

/** How much each qualifier moves a score; fixed, documented in docs/SCREENING.md. */
export const QUALIFIER = Object.freeze({
  typeMismatch: -0.2,
  dobDiffers: -0.2,
  dobMatches: 0.05,
  countryDiffers: -0.1,
  countryMatches: 0.02,
  idMatches: 0.25,
});

const COMPATIBLE: Record<Exclude<ScreeningType, 'any'>, EntitySchema[]> = {
  person: ['Person', 'LegalEntity'],
  company: ['Company', 'Organization', 'LegalEntity'],
  organization: ['Company', 'Organization', 'LegalEntity'],
  vessel: ['Vessel'],
};

type Feature = { feature: string; value: number; detail?: string };

const datesAgree = (a: string, b: string) => a.startsWith(b) || b.startsWith(a);
// "IMO 9187629", "imo9187629" and "9187629" are one identifier.
const idKey = (id: string) => id.toUpperCase().replace(/[^A-Z0-9]/g, '');
const idDigits = (id: string) => id.replace(/[^0-9]/g, '');
function idsAgree(a: string, b: string): boolean {
  if (idKey(a) === idKey(b) && idKey(a) !== '') return true;
  const da = idDigits(a);
  return da.length >= 6 && da === idDigits(b) && idKey(a).replace(/^[A-Z]+/, '') === idKey(b).replace(/^[A-Z]+/, '');
}

/** The qualifier features of a query against an entity, each with the amount it moves the score. */
export function qualifierFeatures(
  query: ScreeningQuery,
  schema: EntitySchema,
  q: EntityQualifiers | undefined,
): Feature[] {
  const out: Feature[] = [];
  if (query.type && query.type !== 'any' && !COMPATIBLE[query.type].includes(schema))
    out.push({ feature: 'type', value: QUALIFIER.typeMismatch, detail: `${query.type} query, ${schema} listed` });
  if (!q) return out;
  if (query.dob && q.dob.length) {
    const agree = q.dob.some((d) => datesAgree(d, query.dob!));
    out.push({
      feature: 'dob',
      value: agree ? QUALIFIER.dobMatches : QUALIFIER.dobDiffers,
      detail: `${query.dob} against ${q.dob.join(', ')}`,
    });
  }
  const countries = (query.countries ?? []).map((c) => c.toUpperCase());
  if (countries.length && q.countries.length) {
    const agree = countries.some((c) => q.countries.includes(c));
    out.push({
      feature: 'country',
      value: agree ? QUALIFIER.countryMatches : QUALIFIER.countryDiffers,
      detail: `${countries.join(', ')} against ${q.countries.join(', ')}`,
    });
  }
  const ids = query.ids ?? [];
  const shared = ids.find((a) => q.ids.some((b) => idsAgree(a, b)));
  if (shared !== undefined) out.push({ feature: 'id', value: QUALIFIER.idMatches, detail: shared });
  return out;
}

/** A name score moved by qualifier features, kept within 0–1. */
export function applyFeatures(score: number, features: Feature[]): number {
  const moved = features.reduce((s, f) => s + f.value, score);
  return round(Math.min(1, Math.max(0, moved)));
}
