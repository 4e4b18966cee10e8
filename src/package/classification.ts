/**
 * The classification record a package binds (docs/FORMAT.md §Classification): its digest and the
 * summary its release stanzas carry.
 */
import { createHash } from 'node:crypto';
import { ModelsealError } from '../errors.js';
import type { ClassificationRecord } from '../format/classification.js';
import type { Header } from '../format/header.js';
import { RELEASE } from '../release/stanza.js';
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

/**
 * Checks that every release stanza of `h` carries the summary of the header's classification record
 * and no other stanza one: the release service decides on the summary, `inspect` shows the record,
 * and a package where the two disagree is refused (MALFORMED_PACKAGE) before anything else reads it.
 */
export function checkClassificationBinding(h: Pick<Header, 'classification' | 'stanzas'>): void {
  const want = h.classification ? JSON.stringify(classificationSummary(h.classification)) : undefined;
  for (const [i, s] of h.stanzas.entries()) {
    const got = s.classification ? JSON.stringify(s.classification) : undefined;
    if (got === (s.type === RELEASE ? want : undefined)) continue;
    throw new ModelsealError(
      'MALFORMED_PACKAGE',
      `header: stanzas[${i}].classification does not summarise the header's classification record ` +
        '(every release stanza of a classified package carries its summary, no other stanza does)',
    );
  }
}
