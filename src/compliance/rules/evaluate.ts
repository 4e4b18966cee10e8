/**
 * One rule pack applied to one model's facts: the first rule whose conditions all hold gives the
 * classification; a condition on a fact the caller did not give makes the answer undetermined
 * (never a guess). docs/CLASSIFICATION.md, "Rule packs".
 */
import type { Determination, ModelFacts } from '../../format/classification.js';
import { compareDecimal, parseDecimal } from './decimal.js';
import type { Condition, CountryGroups, LicenseAnswer, Rule, RulePack } from './pack.js';

/** A condition's outcome: holds, fails, or cannot be told (with the status that says what is missing). */
type Outcome = { holds: boolean; reason: string | null } | { missing: string };

/** The statuses of a determination that lacks a fact a condition needs. */
const MISSING = { trainingFlops: 'needs-training-compute', weights: 'needs-weights-status' } as const;

/** The value of a condition's fact, or null when the caller did not give it. */
function factValue(facts: ModelFacts, fact: Condition['fact']): string | null {
  switch (fact) {
    case 'trainingFlops':
      return facts.trainingCompute?.flops ?? null;
    case 'parameters':
      return String(facts.parameters);
    case 'weights':
      return facts.weights === 'unknown' ? null : facts.weights;
    case 'format':
      return facts.format;
  }
}

/** Fills {value} and {threshold} in a reason sentence. */
function fill(template: string | undefined, value: string, threshold: string): string | null {
  return template === undefined ? null : template.replaceAll('{value}', value).replaceAll('{threshold}', threshold);
}

/** Tests one condition against the facts. */
function test(c: Condition, facts: ModelFacts): Outcome {
  const value = factValue(facts, c.fact);
  if (value === null) return { missing: c.fact === 'trainingFlops' ? MISSING.trainingFlops : MISSING.weights };
  let holds: boolean;
  if (c.op === '==' || c.op === '!=') holds = (value === c.value) === (c.op === '==');
  else {
    const [a, b] = [parseDecimal(value), parseDecimal(c.value)];
    if (!a || !b) return { missing: MISSING.trainingFlops };
    const k = compareDecimal(a, b);
    holds = c.op === '>' ? k > 0 : c.op === '>=' ? k >= 0 : c.op === '<' ? k < 0 : k <= 0;
  }
  return { holds, reason: fill(holds ? c.ifTrue : c.ifFalse, value, c.value) };
}

/**
 * Whether every condition of a rule holds, in three values: any failing condition decides "no"
 * even when another cannot be told (open weights are excluded whatever the compute).
 */
function matchRule(rule: Rule, facts: ModelFacts): { holds: boolean; reasons: string[] } | { missing: string } {
  const outcomes = rule.when.map((c) => test(c, facts));
  const failed = outcomes.filter((o): o is { holds: boolean; reason: string | null } => 'holds' in o && !o.holds);
  if (failed.length > 0) return { holds: false, reasons: failed.flatMap((o) => (o.reason ? [o.reason] : [])) };
  const missing = outcomes.find((o): o is { missing: string } => 'missing' in o);
  if (missing) return missing;
  return { holds: true, reasons: outcomes.flatMap((o) => ('reason' in o && o.reason ? [o.reason] : [])) };
}

/** The pack's enforcement status on a date (the last statusHistory entry on or before it). */
export function statusAt(pack: RulePack, day: string): string {
  let status = pack.statusHistory[0]!.status;
  for (const h of pack.statusHistory) if (h.date <= day) status = h.status;
  return status;
}

/** The license answer of a rule for a destination: the first destination rule naming it, else the default. */
export function licenseAnswer(rule: Rule, destination: string, groups: Record<string, string[]>): LicenseAnswer {
  const license = rule.license!;
  const named = license.destinations.find(
    (d) =>
      (d.countries?.includes(destination) ?? false) ||
      (d.groups?.some((g) => groups[g]?.includes(destination)) ?? false),
  );
  return named ?? license.default;
}

/** The determination of `facts` under one pack, for a destination (or none) on a day (YYYY-MM-DD). */
export function evaluatePack(
  pack: RulePack,
  facts: ModelFacts,
  destination: string | null,
  day: string,
  countryGroups: CountryGroups | null,
): Determination {
  const base = { regime: pack.regime, rulePack: `${pack.id}@${pack.date}`, citations: [...pack.citations] };
  const reasons: string[] = [];
  for (const rule of pack.rules) {
    const m = matchRule(rule, facts);
    if ('missing' in m) {
      const what =
        m.missing === MISSING.trainingFlops
          ? 'the training compute, which was not given (--training-flops or --tokens)'
          : 'whether the weights are published, which was not given (--open-weights or --closed-weights)';
      reasons.push(`the classification depends on ${what}`);
      return {
        ...base,
        classification: 'undetermined',
        status: m.missing,
        reasons,
        licenseRequired: null,
        licenseExceptions: [],
      };
    }
    if (!m.holds) {
      reasons.push(...m.reasons);
      continue;
    }
    reasons.push(...m.reasons, ...rule.reasons);
    const status = statusAt(pack, day);
    if (!rule.license || destination === null)
      return {
        ...base,
        classification: rule.classification,
        status,
        reasons,
        licenseRequired: null,
        licenseExceptions: [],
      };
    const answer = licenseAnswer(rule, destination, { ...countryGroups?.groups, ...pack.groups });
    reasons.push(answer.reason.replaceAll('{destination}', destination));
    return {
      ...base,
      classification: rule.classification,
      status,
      reasons,
      licenseRequired: answer.required,
      licenseExceptions: [...answer.exceptions],
    };
  }
  reasons.push('no rule of the pack applies to this model');
  return {
    ...base,
    classification: 'not-covered',
    status: statusAt(pack, day),
    reasons,
    licenseRequired: null,
    licenseExceptions: [],
  };
}
