/**
 * The classification record: what a checkpoint is under export rules, as `modelseal classify`
 * determines it and as `seal` binds it into the package header (signed with it) and the export
 * event. Plain data here; src/compliance computes it (docs/CLASSIFICATION.md). Numbers too large or
 * too fine for the log's integers (FLOPs) are decimal strings.
 */

/** The regimes a determination is made under. */
export type Regime = 'US-EAR' | 'EU-dual-use' | 'EU-AI-Act';

/** Training compute: declared (`--training-flops`) or estimated as 6·N·D (`--tokens`). */
export interface TrainingCompute {
  /** Operations, as a decimal string ("2e+26" or "210000000000000000000000000"). */
  flops: string;
  method: 'declared' | '6ND';
  /** Training tokens D, as a decimal string, for the 6ND estimate; null when declared. */
  tokens: string | null;
}

/** The facts read from the weights (headers only) and declared by the caller. */
export interface ModelFacts {
  /** Exact element count over every tensor, each once across shards. */
  parameters: number;
  tensors: number;
  /** Parameters per dtype ("BF16", "F32", "Q4_K", …). */
  dtypes: Record<string, number>;
  format: 'safetensors' | 'gguf';
  /** From config.json when present (model_type, architectures, hidden_size, …), else null. */
  architecture: Record<string, unknown> | null;
  /** The count config.json implies, when it can be computed; null otherwise. */
  configParameters: number | null;
  trainingCompute: TrainingCompute | null;
  /** Whether the weights are published: declared (`--open-weights|--closed-weights`), else "unknown". */
  weights: 'open' | 'closed' | 'unknown';
}

/** One regime's answer under one rule pack. */
export interface Determination {
  regime: Regime;
  /** "<pack id>@<pack date>", e.g. "us-ear-ai-diffusion@2025-01-15". */
  rulePack: string;
  /** E.g. "4E091", "not-listed", "gpai-systemic-risk", "gpai", or "undetermined". */
  classification: string;
  /**
   * The rule's enforcement status or why no classification could be made: "in-force",
   * "not-enforced" (announced, not rescinded), "needs-training-compute", "needs-weights-status", …
   */
  status: string;
  citations: string[];
  reasons: string[];
  /** For the destination asked about; null when none was given or the regime says nothing of it. */
  licenseRequired: boolean | null;
  /** License exceptions that may apply to that destination (e.g. "AIA"); empty when none. */
  licenseExceptions: string[];
}

/** The record `classify` prints and `seal` binds: facts, inputs, the packs used and their determinations. */
export interface ClassificationRecord {
  /**
   * 2 since records are named by the digest of the form the log holds (docs/FORMAT.md §3.1); 1 for
   * records sealed before, still read, named by the digest of the header's JSON.
   */
  v: 1 | 2;
  /** RFC 3339 UTC, when it was determined. */
  time: string;
  facts: ModelFacts;
  /** The destination the license questions were asked for, or null. */
  destination: string | null;
  /** Every rule pack consulted, "<id>@<date>". */
  rulePacks: string[];
  determinations: Determination[];
}
