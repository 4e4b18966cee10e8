/**
 * What the release service makes of a package's classification (docs/POLICY.md, "Classification"):
 * the summary its release stanza binds (unwrapping proved the publisher wrote it), and whether the
 * declared and the observed destination need a license for it.
 */
import { licenseRequiredFor } from '../compliance/rules/index.js';
import type { ClassificationSummary } from '../format/classification-json.js';
import type { ClassificationAnswer } from '../policy/engine.js';

/** Whether exporting an item of a US-EAR classification to a country needs a license. */
export type LicenseRequiredFor = (classification: string, destination: string, rulePacks: readonly string[]) => boolean;

/** The default: the rule packs' country groups (src/compliance/rules). */
export const rulePackLicenses: LicenseRequiredFor = licenseRequiredFor;

/**
 * The Cedar view of `summary` for a request to `destination` observed from `observedCountry` ("" unknown);
 * an unclassified package (no summary, or no US-EAR classification) needs no license, as before.
 */
export function classificationAnswer(
  summary: ClassificationSummary | undefined,
  destination: string,
  observedCountry: string,
  required: LicenseRequiredFor = rulePackLicenses,
): ClassificationAnswer {
  const usEar = summary?.usEar ?? '';
  const packs = summary?.rulePacks ?? [];
  const needs = (country: string) => usEar !== '' && country !== '' && required(usEar, country, packs);
  return {
    usEar,
    rulePacks: [...(summary?.rulePacks ?? [])],
    licenseRequired: needs(destination),
    licenseRequiredObserved: needs(observedCountry),
  };
}
