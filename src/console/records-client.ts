/**
 * The records of a running release service, asked for with requests its publisher signs
 * (POST /v1/records, docs/API.md): what `audit export --server <url>` puts in the pack.
 *
 * CONTRACT PLACEHOLDER: brief R replaces the body; the signature is what `audit export` uses.
 */
import { ModelsealError } from '../errors.js';
import type { EvidenceRecords } from '../compliance/records.js';
import type { Publisher } from '../keystore/keystore.js';

/** The records the service at `url` keeps, asked for as `publisher`. */
export function remoteRecords(_url: string, _publisher: Publisher): EvidenceRecords {
  throw new ModelsealError('INTERNAL', 'remoteRecords: not built yet');
}
