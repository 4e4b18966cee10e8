/**
 * The classification record a package binds (docs/FORMAT.md §Classification): its digest and the
 * summary its release stanzas carry.
 */
import { createHash } from 'node:crypto';
import { ModelsealError } from '../errors.js';
import type { ClassificationRecord } from '../format/classification.js';
import type { Header } from '../format/header.js';
import { canonicalJson, integersOnly } from '../log/events.js';
import { RELEASE } from '../release/stanza.js';
import { classificationJson, type ClassificationSummary } from '../format/classification-json.js';

/**
 * What a release stanza names a record by, "sha256:<hex>": for a version 2 record, the SHA-256 of
 * the form an export event logs it in (canonical JSON, keys sorted, every number that is not an
 * integer as its decimal string: src/log/events.ts), so the record in the log rehashes to the digest
 * every release of the package logs; for a version 1 record (sealed before), of the header's JSON.
 */
export function classificationDigest(c: ClassificationRecord): string {
  const json = classificationJson(c);
  const text = c.v === 1 ? JSON.stringify(json) : canonicalJson(integersOnly(json));
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
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
