// Quality half of bench/screening.mjs: the name-pairs benchmark and the cross-script cases (bench/README.md).
import { readFileSync } from 'node:fs';

/** Parses RFC 4180 CSV into objects keyed by the header row. */
export function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      field = '';
      if (row.some((f) => f !== '')) rows.push(row);
      row = [];
    } else field += c;
  }
  if (field !== '' || row.length) {
    row.push(field);
    rows.push(row);
  }
  const [header, ...body] = rows;
  return body.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i] ?? ''])));
}

const TYPE = {
  Person: 'person',
  Company: 'company',
  Organization: 'organization',
  LegalEntity: 'any',
  Vessel: 'vessel',
};

/** A list entity with one name and nothing else. */
export const entity = (id, schema, name) => ({
  id,
  schema,
  names: [name],
  aliases: [],
  weakAliases: [],
  countries: [],
  dob: [],
  ids: [],
  list: 'bench',
  programs: [],
});

/** Flags per pair: one list of every pair's name2, every name1 queried; flagged when its own candidate matches. */
export function runPairs(match, pairs, limit = 10) {
  const screener = match.buildScreener([
    { source: 'bench', entities: pairs.map((p, i) => entity(`p${i}`, p.schema, p.name2)) },
  ]);
  return pairs.map((p, i) => {
    const result = screener.screen({ name: p.name1, type: TYPE[p.schema] ?? 'any' }, { limit });
    const own = result.matches.find((m) => m.entity.id === `p${i}`);
    return { ...p, truth: p.is_match === 'true', score: own ? own.score : 0, flagged: !!own };
  });
}

/** Precision, recall and F1 of flagged results. */
export function quality(results, flag = (r) => r.flagged) {
  let tp = 0,
    fp = 0,
    fn = 0;
  for (const r of results) {
    const f = flag(r);
    if (f && r.truth) tp++;
    else if (f) fp++;
    else if (r.truth) fn++;
  }
  const precision = tp + fp ? tp / (tp + fp) : 1;
  const recall = tp + fn ? tp / (tp + fn) : 1;
  const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
  return { n: results.length, tp, fp, fn, precision, recall, f1 };
}

export function readPairs(path) {
  return parseCsv(readFileSync(path, 'utf8'));
}
