/**
 * Capability tiers (docs/GATE.md, "Tiers"): one name per served model, derived from its signed
 * classification, that quotas and licenses refer to (`tiers` in quotas.json, a license's `tiers`)
 * and policies read (`context.tier`). The first rule that applies gives the tier:
 *
 *   frontier      US EAR ECCN 4E091 (closed weights trained with more than 10^26 operations)
 *   systemic      EU AI Act general-purpose model with systemic risk (more than 10^25 FLOPs, Art. 51(2))
 *   general       1,000,000,000 parameters or more
 *   limited       fewer parameters
 *   unclassified  no classification record (a gateway without --package, or an unclassified package)
 */
import type { ClassificationRecord } from '../format/classification.js';

export const CAPABILITY_TIERS = ['frontier', 'systemic', 'general', 'limited', 'unclassified'] as const;
export type CapabilityTier = (typeof CAPABILITY_TIERS)[number];

/** Parameters from which a classified model is `general` rather than `limited`. */
export const GENERAL_TIER_PARAMETERS = 1_000_000_000n;

/** What a tier is derived from: the US EAR and EU AI Act classes ("" when none) and the exact parameter count. */
export interface TierInput {
  usEar: string;
  aiAct: string;
  parameters: bigint | number;
}

/** The capability tier of a model with classification `c`; `unclassified` for null. */
export function capabilityTier(c: TierInput | null): CapabilityTier {
  if (!c) return 'unclassified';
  if (c.usEar === '4E091') return 'frontier';
  if (c.aiAct === 'gpai-systemic-risk') return 'systemic';
  return BigInt(c.parameters) >= GENERAL_TIER_PARAMETERS ? 'general' : 'limited';
}

/**
 * The tier input of a classification record: per regime the most restrictive determination of its
 * packs (4E091 over any other US EAR class, systemic risk over gpai), and the counted parameters.
 */
export function tierInputOf(record: ClassificationRecord): TierInput {
  const of = (regime: string) => record.determinations.filter((d) => d.regime === regime).map((d) => d.classification);
  const ear = of('US-EAR');
  const ai = of('EU-AI-Act');
  return {
    usEar: ear.includes('4E091') ? '4E091' : (ear[0] ?? ''),
    aiAct: ai.includes('gpai-systemic-risk') ? 'gpai-systemic-risk' : (ai[0] ?? ''),
    parameters: BigInt(record.facts.parameters),
  };
}

/** The capability tier of a package's classification record; `unclassified` without one. */
export function tierOfClassification(record: ClassificationRecord | null | undefined): CapabilityTier {
  return capabilityTier(record ? tierInputOf(record) : null);
}
