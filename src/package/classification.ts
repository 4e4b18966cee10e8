/**
 * The classification record a package binds (docs/FORMAT.md §Classification): its digest and the
 * summary its release stanzas carry.
 */
import { createHash } from 'node:crypto';
import type { ClassificationRecord } from '../format/classification.js';
import { classificationJson, type ClassificationSummary } from '../format/classification-json.js';

/** SHA-256 of the record's canonical JSON, "sha256:<hex>": what a release stanza names it by. */
export function classificationDigest(c: ClassificationRecord): string {
  return `sha256:${createHash('sha256')
    .update(JSON.stringify(classificationJson(c)))
    .digest('hex')}`;
}

/** The summary a release stanza binds: digest, US-EAR classification ("" when none), rule packs. */
export function classificationSummary(c: ClassificationRecord): ClassificationSummary {
  const ear = c.determinations.find((d) => d.regime === 'US-EAR');
  return { record: classificationDigest(c), usEar: ear?.classification ?? '', rulePacks: [...c.rulePacks] };
}
