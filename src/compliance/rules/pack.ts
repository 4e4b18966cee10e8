/**
 * Rule packs and country-group files: their shape and their validation. A pack is data (a dated,
 * cited JSON file under rules/); a new rule is a new file, not new code. docs/CLASSIFICATION.md,
 * "Rule packs".
 */
import { ModelsealError } from '../../errors.js';
import type { Regime } from '../../format/classification.js';

export const RULE_PACK_SCHEMA = 'modelseal.rule-pack/1';
export const COUNTRY_GROUPS_SCHEMA = 'modelseal.country-groups/1';

/** The facts a condition can test, and the operators each takes. */
export const CONDITION_FACTS = {
  trainingFlops: ['>', '>=', '<', '<='],
  parameters: ['>', '>=', '<', '<='],
  weights: ['==', '!='],
  format: ['==', '!='],
} as const;

export type ConditionFact = keyof typeof CONDITION_FACTS;

/** One test over the facts; `ifTrue`/`ifFalse` are the reason sentences ({value}, {threshold}). */
export interface Condition {
  fact: ConditionFact;
  op: string;
  value: string;
  ifTrue?: string;
  ifFalse?: string;
}

/** The license answer for a set of destinations ({destination} in the reason is the country code). */
export interface LicenseAnswer {
  required: boolean;
  exceptions: string[];
  reason: string;
}

/** Destinations named by country code or by group (the pack's own or its country-group file's). */
export interface DestinationRule extends LicenseAnswer {
  countries?: string[];
  groups?: string[];
}

/** A rule: when every condition holds, the classification, its reasons and its license answers. */
export interface Rule {
  when: Condition[];
  classification: string;
  reasons: string[];
  /** null: the regime is not an export regime (licenseRequired is always null). */
  license: { default: LicenseAnswer; destinations: DestinationRule[] } | null;
}

/** One dated change of a pack's enforcement status. */
export interface StatusChange {
  date: string;
  status: string;
  note: string;
  citations: string[];
}

/** A rule pack as its file holds it. */
export interface RulePack {
  schema: typeof RULE_PACK_SCHEMA;
  id: string;
  /** The date of the rule text (its publication), part of the pack's name "<id>@<date>". */
  date: string;
  effective: string;
  end: string | null;
  regime: Regime;
  title: string;
  citations: string[];
  /** The latest status: the last entry of statusHistory. */
  status: string;
  statusHistory: StatusChange[];
  notes: string[];
  /** "<id>@<date>" of the country-group file the rules' groups come from, or null. */
  countryGroups: string | null;
  groups: Record<string, string[]>;
  exceptions: Record<string, string>;
  rules: Rule[];
}

/** A country-group file: named groups of ISO 3166 alpha-2 codes, dated and cited. */
export interface CountryGroups {
  schema: typeof COUNTRY_GROUPS_SCHEMA;
  id: string;
  date: string;
  title: string;
  citations: string[];
  source: string;
  notes: string[];
  groups: Record<string, string[]>;
}

const REGIMES: readonly Regime[] = ['US-EAR', 'EU-dual-use', 'EU-AI-Act'];
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const ID = /^[a-z0-9][a-z0-9.-]{0,63}$/;
const COUNTRY = /^[A-Z]{2}$/;
/** A decimal number as conditions and facts write it: "1e26", "2.5E+25", "100000". */
export const DECIMAL = /^\d+(\.\d+)?([eE][+-]?\d+)?$/;

/** Throws RULES_INVALID naming the field of `where` that does not validate. */
function invalid(where: string, field: string, expected: string): never {
  throw new ModelsealError(
    'RULES_INVALID',
    `${where}: ${field} ${expected}; fix the file or drop it from --rules (docs/CLASSIFICATION.md, "Rule packs")`,
    { details: { file: where, field } },
  );
}

/** Field checks bound to one file and one object path. */
function checker(where: string, obj: unknown, path: string) {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj))
    invalid(where, path || 'the file', 'must be an object');
  const o = obj as Record<string, unknown>;
  const name = (k: string) => (path ? `${path}.${k}` : k);
  return {
    o,
    str(k: string, re?: RegExp, what = 'a non-empty string'): string {
      const v = o[k];
      if (typeof v !== 'string' || v === '' || (re && !re.test(v))) invalid(where, name(k), `must be ${what}`);
      return v;
    },
    strs(k: string, re?: RegExp, what = 'a list of non-empty strings'): string[] {
      const v = o[k];
      if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x === '' || (re && !re.test(x))))
        invalid(where, name(k), `must be ${what}`);
      return v as string[];
    },
    arr(k: string): unknown[] {
      const v = o[k];
      if (!Array.isArray(v)) invalid(where, name(k), 'must be a list');
      return v;
    },
    dict(k: string): Record<string, unknown> {
      const v = o[k];
      if (typeof v !== 'object' || v === null || Array.isArray(v)) invalid(where, name(k), 'must be an object');
      return v as Record<string, unknown>;
    },
    at: name,
  };
}

/** Validates a condition; the operator must suit the fact and the value its kind. */
function checkCondition(where: string, raw: unknown, path: string): Condition {
  const c = checker(where, raw, path);
  const fact = c.str('fact');
  if (!(fact in CONDITION_FACTS))
    invalid(where, c.at('fact'), `must be one of ${Object.keys(CONDITION_FACTS).join(', ')}`);
  const ops: readonly string[] = CONDITION_FACTS[fact as ConditionFact];
  const op = c.str('op');
  if (!ops.includes(op)) invalid(where, c.at('op'), `must be one of ${ops.join(' ')} for ${fact}`);
  const numeric = fact === 'trainingFlops' || fact === 'parameters';
  if (numeric) c.str('value', DECIMAL, 'a decimal number as a string ("1e26")');
  else c.str('value');
  for (const k of ['ifTrue', 'ifFalse'] as const) if (k in c.o) c.str(k);
  return raw as Condition;
}

/** The group and exception names a pack's rules may use. */
interface Known {
  groups: Set<string>;
  exceptions: Set<string>;
}

/** Validates a license answer; `groups` must be defined in `known`. */
function checkAnswer(where: string, raw: unknown, path: string, known: Known): void {
  const c = checker(where, raw, path);
  if (typeof c.o.required !== 'boolean') invalid(where, c.at('required'), 'must be true or false');
  for (const x of c.strs('exceptions'))
    if (!known.exceptions.has(x))
      invalid(where, c.at('exceptions'), `names ${JSON.stringify(x)}, which the pack's exceptions do not describe`);
  c.str('reason');
  if ('countries' in c.o) c.strs('countries', COUNTRY, 'a list of ISO 3166 alpha-2 codes');
  if ('groups' in c.o)
    for (const g of c.strs('groups'))
      if (!known.groups.has(g))
        invalid(where, c.at('groups'), `names ${JSON.stringify(g)}, which is not a known group`);
}

/** Validates one rule of a pack. */
function checkRule(where: string, raw: unknown, path: string, known: Known): void {
  const c = checker(where, raw, path);
  c.arr('when').forEach((x, i) => checkCondition(where, x, `${path}.when[${i}]`));
  c.str('classification');
  c.strs('reasons');
  if (c.o.license === null) return;
  const l = c.dict('license');
  checkAnswer(where, l.default, `${path}.license.default`, known);
  const d = l.destinations;
  if (!Array.isArray(d)) invalid(where, `${path}.license.destinations`, 'must be a list');
  d.forEach((x, i) => checkAnswer(where, x, `${path}.license.destinations[${i}]`, known));
}

/** Validates a country-group table: group name → ISO alpha-2 codes. */
function checkGroups(where: string, dict: Record<string, unknown>, path: string): Record<string, string[]> {
  const c = checker(where, dict, path);
  for (const k of Object.keys(dict)) {
    const codes = c.strs(k, COUNTRY, 'a list of ISO 3166 alpha-2 codes');
    const twice = codes.find((x, i) => codes.indexOf(x) !== i);
    if (twice) invalid(where, c.at(k), `lists ${twice} twice`);
  }
  return dict as Record<string, string[]>;
}

/**
 * Validates a parsed rule pack; `countryGroups` resolves its country-group file. Throws RULES_INVALID
 * naming the first field that does not validate.
 */
export function validateRulePack(
  raw: unknown,
  where: string,
  countryGroups: (name: string) => CountryGroups | undefined,
): RulePack {
  const c = checker(where, raw, '');
  if (c.o.schema !== RULE_PACK_SCHEMA) invalid(where, 'schema', `must be ${JSON.stringify(RULE_PACK_SCHEMA)}`);
  c.str('id', ID, 'lower-case letters, digits, "." and "-"');
  c.str('date', DATE, 'a date YYYY-MM-DD');
  const effective = c.str('effective', DATE, 'a date YYYY-MM-DD');
  if (c.o.end !== null && c.str('end', DATE, 'a date YYYY-MM-DD or null') <= effective)
    invalid(where, 'end', 'must be after effective');
  if (!REGIMES.includes(c.o.regime as Regime)) invalid(where, 'regime', `must be one of ${REGIMES.join(', ')}`);
  c.str('title');
  c.strs('citations');
  c.strs('notes');
  const history = c.arr('statusHistory');
  if (history.length === 0) invalid(where, 'statusHistory', 'must hold at least one status');
  let previous = '';
  history.forEach((x, i) => {
    const h = checker(where, x, `statusHistory[${i}]`);
    const d = h.str('date', DATE, 'a date YYYY-MM-DD');
    if (d <= previous) invalid(where, h.at('date'), 'must be later than the entry before it');
    previous = d;
    h.str('status');
    h.str('note');
    h.strs('citations');
  });
  if (c.o.status !== (history.at(-1) as StatusChange).status)
    invalid(where, 'status', 'must be the status of the last statusHistory entry');
  const known: Known = {
    groups: new Set(Object.keys(checkGroups(where, c.dict('groups'), 'groups'))),
    exceptions: new Set(),
  };
  if (c.o.countryGroups !== null) {
    const name = c.str('countryGroups', undefined, 'a country-group file "<id>@<date>" or null');
    const file = countryGroups(name);
    if (!file)
      invalid(where, 'countryGroups', `names ${JSON.stringify(name)}, which is not a shipped country-group file`);
    for (const g of Object.keys(file.groups)) known.groups.add(g);
  }
  for (const [k, v] of Object.entries(c.dict('exceptions'))) {
    if (typeof v !== 'string' || v === '') invalid(where, `exceptions.${k}`, 'must be a non-empty string');
    known.exceptions.add(k);
  }
  const rules = c.arr('rules');
  if (rules.length === 0) invalid(where, 'rules', 'must hold at least one rule');
  rules.forEach((x, i) => checkRule(where, x, `rules[${i}]`, known));
  return raw as RulePack;
}

/** Validates a parsed country-group file. Throws RULES_INVALID naming the field. */
export function validateCountryGroups(raw: unknown, where: string): CountryGroups {
  const c = checker(where, raw, '');
  if (c.o.schema !== COUNTRY_GROUPS_SCHEMA)
    invalid(where, 'schema', `must be ${JSON.stringify(COUNTRY_GROUPS_SCHEMA)}`);
  c.str('id', ID, 'lower-case letters, digits, "." and "-"');
  c.str('date', DATE, 'a date YYYY-MM-DD');
  c.str('title');
  c.strs('citations');
  c.str('source');
  c.strs('notes');
  checkGroups(where, c.dict('groups'), 'groups');
  return raw as CountryGroups;
}
