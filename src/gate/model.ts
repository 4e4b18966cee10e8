/**
 * The model the gateway serves (docs/GATE.md, "Running it"): its name (`--model`), and, from the
 * sealed package it was opened from (`--package`), its root digest, classification record and exact
 * parameter count, read from the signed header through the library (no key needed). Without a
 * package: unclassified, parameters as declared (`--parameters`) or 0.
 */
import { ModelsealError } from '../errors.js';
import type { ClassificationSummary } from '../format/classification-json.js';
import { classificationSummary } from '../package/classification.js';
import { inspect } from '../package/inspect.js';
import { tierOfClassification } from './tiers.js';

/** What the gateway knows of the model it serves. */
export interface ServedModel {
  /** The name clients call (`gate --model`), forwarded to the model server. */
  name: string;
  /** The package's model root digest ("sha256:…"); null without a package. */
  digest: string | null;
  /** The package's id (64 hex), the policy's `package`; absent without a package. */
  packageId?: string;
  /** Exact parameter count (the FLOPs of a call are 2 × parameters × tokens). */
  parameters: bigint;
  /** Where `parameters` comes from: the package's classification record, the flag, or nowhere (0). */
  parametersFrom: 'package' | 'flag' | 'none';
  /** The capability tier (docs/GATE.md, "Tiers"): quotas and licenses name it, the policy reads it. */
  tier: string;
  /** The classification the package's header binds, as a release stanza summarises it; absent: unclassified. */
  classification?: ClassificationSummary;
}

/** The served model `name`, described by the package at `pkg` when given, else by `parameters`. */
export async function servedModel(name: string, pkg?: string, parameters?: bigint): Promise<ServedModel> {
  if (!/^[\x21-\x7e]{1,256}$/.test(name))
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `--model ${JSON.stringify(name)}: expected 1-256 printable characters`,
    );
  if (pkg === undefined)
    return {
      name,
      digest: null,
      parameters: parameters ?? 0n,
      parametersFrom: parameters === undefined ? 'none' : 'flag',
      tier: tierOfClassification(null),
    };
  const info = await inspect(pkg);
  const c = info.classification;
  if (parameters !== undefined && c && BigInt(c.facts.parameters) !== parameters)
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `--parameters ${parameters} contradicts the package's classification record (${c.facts.parameters}): ` +
        'drop --parameters',
    );
  return {
    name,
    digest: info.model.rootDigest,
    parameters: c ? BigInt(c.facts.parameters) : (parameters ?? 0n),
    parametersFrom: c ? 'package' : parameters === undefined ? 'none' : 'flag',
    tier: tierOfClassification(c),
    packageId: info.packageId,
    ...(c && { classification: classificationSummary(c) }),
  };
}
