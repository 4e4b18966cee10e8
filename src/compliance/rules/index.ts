/**
 * Rule packs and determinations. PLACEHOLDER until the rule packs land: no packs, no
 * determinations. docs/CLASSIFICATION.md.
 */
import type { Determination, ModelFacts } from '../../format/classification.js';

/** What a determination is asked for: the destination, the date whose rules apply, and which packs. */
export interface DetermineOptions {
  /** ISO 3166 alpha-2 destination: license questions are answered for it. */
  destination?: string;
  /** The date whose rules apply (default: now): a pack applies from its effective date to its end. */
  at?: Date;
  /** Pack files or ids to use instead of the shipped packs in force at `at`. */
  rules?: string[];
}

/** The determinations for `facts` under the rule packs in force, and the packs consulted ("<id>@<date>"). */
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- placeholder: the rule-packs helper replaces it
export async function determine(facts: ModelFacts, options: DetermineOptions = {}) {
  return { rulePacks: [] as string[], determinations: [] as Determination[] };
}

/**
 * Whether exporting an item of US-EAR `classification` ("4E091", …; "" for none) to `destination`
 * (ISO 3166 alpha-2) needs a license, by the country groups of the rule packs. PLACEHOLDER: false
 * until the rule packs land; the release service decides through it (docs/POLICY.md, "Classification").
 */
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- placeholder: the rule-packs helper replaces it
export function licenseRequiredFor(classification: string, destination: string): boolean {
  return false;
}
