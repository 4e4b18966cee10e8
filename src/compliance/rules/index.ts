/**
 * Rule packs and determinations: which dated, cited pack applies on a date, and what it says of a
 * model's facts for a destination. docs/CLASSIFICATION.md, "Rule packs".
 */
import { readFile } from 'node:fs/promises';
import { ModelsealError } from '../../errors.js';
import type { Determination, ModelFacts, Regime } from '../../format/classification.js';
import { evaluatePack, licenseAnswer } from './evaluate.js';
import {
  COUNTRY_GROUPS_SCHEMA,
  validateCountryGroups,
  validateRulePack,
  type CountryGroups,
  type RulePack,
} from './pack.js';
import { readShippedFiles } from './shipped.js';

export { statusAt } from './evaluate.js';
export type { RulePack, CountryGroups, Rule, Condition, LicenseAnswer, StatusChange } from './pack.js';

/** What a determination is asked for: the destination, the date whose rules apply, and which packs. */
export interface DetermineOptions {
  /** ISO 3166 alpha-2 destination: license questions are answered for it. */
  destination?: string;
  /** The date whose rules apply (default: now): a pack applies from its effective date to its end. */
  at?: Date;
  /** Pack files or ids ("<id>" or "<id>@<date>") to use instead of the shipped packs in force at `at`. */
  rules?: string[];
}

/** One pack as `rules list` shows it. */
export interface RulePackSummary {
  /** "<id>@<date>". */
  name: string;
  id: string;
  date: string;
  effective: string;
  end: string | null;
  status: string;
  regime: Regime;
  title: string;
}

let shipped: { packs: RulePack[]; groups: Map<string, CountryGroups> } | null = null;

/** The shipped packs and country groups, validated once. */
function shippedData(): { packs: RulePack[]; groups: Map<string, CountryGroups> } {
  if (shipped) return shipped;
  const files = readShippedFiles();
  const isGroups = (raw: unknown) => (raw as { schema?: unknown } | null)?.schema === COUNTRY_GROUPS_SCHEMA;
  const groups = new Map<string, CountryGroups>();
  for (const { file, raw } of files.filter((f) => isGroups(f.raw))) {
    const g = validateCountryGroups(raw, file);
    groups.set(`${g.id}@${g.date}`, g);
  }
  const packs = files.filter((f) => !isGroups(f.raw)).map((f) => validateRulePack(f.raw, f.file, (n) => groups.get(n)));
  shipped = { packs, groups };
  return shipped;
}

/** The shipped rule packs, oldest first within each regime. */
export function shippedRulePacks(): RulePack[] {
  return [...shippedData().packs].sort(
    (a, b) => a.regime.localeCompare(b.regime) || a.effective.localeCompare(b.effective),
  );
}

/** A summary of each pack, for `rules list`. */
export function summarizeRulePack(p: RulePack): RulePackSummary {
  const { id, date, effective, end, status, regime, title } = p;
  return { name: `${id}@${date}`, id, date, effective, end, status, regime, title };
}

/** Reads and validates a rule pack file. Throws IO when unreadable, RULES_INVALID when it does not validate. */
export async function loadRulePackFile(path: string): Promise<RulePack> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ModelsealError('IO', `cannot read the rule pack ${path}: check the path`, { cause: e });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ModelsealError('RULES_INVALID', `${path}: not JSON (${(e as Error).message}); fix the file`, {
      cause: e,
      details: { file: path, field: null },
    });
  }
  return validateRulePack(raw, path, (n) => shippedData().groups.get(n));
}

/** Resolves one --rules argument: a shipped "<id>@<date>" or "<id>" (its newest), else a file path. */
async function resolvePack(ref: string): Promise<RulePack> {
  const packs = shippedRulePacks();
  const exact = packs.find((p) => `${p.id}@${p.date}` === ref);
  if (exact) return exact;
  const byId = packs.filter((p) => p.id === ref);
  if (byId.length > 0) return byId.reduce((a, b) => (b.date > a.date ? b : a));
  if (/^[a-z0-9][a-z0-9.-]*@\d{4}-\d{2}-\d{2}$/.test(ref))
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `--rules ${ref}: no shipped rule pack has that id and date; \`modelseal rules list\` shows them, ` +
        'or give a pack file',
    );
  return loadRulePackFile(ref);
}

/** The day (YYYY-MM-DD, UTC) a date falls on. */
function dayOf(at: Date): string {
  if (Number.isNaN(at.getTime())) throw new ModelsealError('INVALID_ARGUMENT', 'at: not a valid date');
  return at.toISOString().slice(0, 10);
}

/** The packs in force on `day`: per regime, the newest effective on or before it and not ended by it. */
function inForce(packs: RulePack[], day: string): RulePack[] {
  const chosen = new Map<Regime, RulePack>();
  for (const p of packs) {
    if (p.effective > day || (p.end !== null && p.end <= day)) continue;
    const other = chosen.get(p.regime);
    if (!other || p.effective > other.effective || (p.effective === other.effective && p.date > other.date))
      chosen.set(p.regime, p);
  }
  return [...chosen.values()];
}

/**
 * The determinations for `facts` under the rule packs in force at `options.at` (or exactly the
 * packs named in `options.rules`, whatever their dates), and the packs consulted ("<id>@<date>").
 */
export async function determine(
  facts: ModelFacts,
  options: DetermineOptions = {},
): Promise<{ rulePacks: string[]; determinations: Determination[] }> {
  const day = dayOf(options.at ?? new Date());
  const destination = options.destination === undefined ? null : options.destination.toUpperCase();
  if (destination !== null && !/^[A-Z]{2}$/.test(destination))
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `destination ${JSON.stringify(options.destination)}: expected an ISO 3166 alpha-2 code such as CN`,
    );
  const named = options.rules && options.rules.length > 0;
  const packs = named ? await Promise.all(options.rules!.map(resolvePack)) : inForce(shippedRulePacks(), day);
  const groups = shippedData().groups;
  const determinations = packs.map((p) =>
    evaluatePack(p, facts, destination, day, p.countryGroups === null ? null : (groups.get(p.countryGroups) ?? null)),
  );
  return { rulePacks: packs.map((p) => `${p.id}@${p.date}`), determinations };
}

/**
 * Whether exporting an item of US-EAR `classification` ("4E091", …; "" for none) to `destination`
 * (ISO 3166 alpha-2) needs a license: the answer of the US-EAR pack the record names in `rulePacks`
 * ("<id>@<date>"; else the shipped pack in force today) for the rule of that classification, by its
 * country groups. "undetermined" (the compute or the weights' status was not declared) says nothing
 * either way: no license is required on its account, and Cedar sees the classification to decide on
 * (docs/POLICY.md, "Classification"). Fails closed: a classification or pack this build does not
 * know needs a license.
 */
export function licenseRequiredFor(
  classification: string,
  destination: string,
  rulePacks: readonly string[] = [],
): boolean {
  if (!classification || classification === 'undetermined') return false;
  const ear = shippedData().packs.filter((p) => p.regime === 'US-EAR');
  const named = rulePacks.filter((id) => ear.some((p) => id.startsWith(`${p.id}@`)));
  const pack = named.length ? ear.find((p) => named.includes(`${p.id}@${p.date}`)) : inForce(ear, dayOf(new Date()))[0];
  const rule = pack?.rules.find((r) => r.classification === classification);
  if (!pack || !rule) return true;
  if (!rule.license) return false;
  const shared = pack.countryGroups === null ? undefined : shippedData().groups.get(pack.countryGroups)?.groups;
  return licenseAnswer(rule, destination.toUpperCase(), { ...shared, ...pack.groups }).required;
}
