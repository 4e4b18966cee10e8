/**
 * The records of a release service's data directory as an evidence pack reads them (docs/AUDIT.md):
 * archived policy sets, list snapshot metadata, recipient records (by name or by pseudonym).
 *
 * CONTRACT PLACEHOLDER: brief R replaces the body; the signature is what `audit export` uses.
 */
import { ModelsealError } from '../errors.js';
import type { EvidenceRecords } from '../compliance/records.js';
import type { Pseudonymizer } from '../log/pseudonym.js';

/** The records of data directory `data`; with `pseudonyms`, recipients are looked up by their logged pseudonym too. */
export function openDataRecords(_data: string, _o: { pseudonyms?: Pseudonymizer } = {}): Promise<EvidenceRecords> {
  return Promise.reject(new ModelsealError('INTERNAL', 'openDataRecords: not built yet'));
}
