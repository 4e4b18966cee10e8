/**
 * The records of a release service's data directory as an evidence pack reads them (docs/AUDIT.md):
 * archived policy sets (<data>/records/policy-sets), list snapshot records (<data>/lists/snapshots)
 * and recipient records (<data>/recipients, revoked ones too), by name or by logged pseudonym.
 * Read-only, and safe beside a running service: every file it reads is replaced atomically.
 */
import type { EvidenceRecords, RecipientEvidence } from '../compliance/records.js';
import { readSnapshotRecord } from '../compliance/lists/index.js';
import { PSEUDONYM_PREFIX, type Pseudonymizer } from '../log/pseudonym.js';
import { readPolicySet } from '../policy/archive.js';
import { dataPaths } from './paths.js';
import { RecipientRegistry, type RecipientRecord } from './recipients.js';

/** What an auditor sees of a recipient record; under a pseudonym, no name and no certificate (it names them). */
function evidenceOf(r: RecipientRecord, pseudonym?: string): RecipientEvidence {
  return {
    name: pseudonym ?? r.name,
    org: r.org,
    country: r.country,
    nationalities: [...r.nationalities],
    citizenships: [...r.citizenships],
    fingerprint: r.fingerprint,
    publicKey: r.publicKey,
    certificate: pseudonym ? null : r.certificate,
    created: r.created,
    revoked: r.revoked,
    ...(r.screeningOverride && { screeningOverride: r.screeningOverride }),
  };
}

/** The records of data directory `data`; with `pseudonyms`, recipients are looked up by their logged pseudonym too. */
export function openDataRecords(data: string, o: { pseudonyms?: Pseudonymizer } = {}): Promise<EvidenceRecords> {
  const paths = dataPaths(data);
  const registry = new RecipientRegistry(paths.recipients);
  const policySets = paths.policySets;
  /** Pseudonym → name, built from the registry when a pseudonym is not found in it (new recipients appear). */
  let byPseudonym = new Map<string, string>();
  const named = async (pseudonym: string): Promise<string | undefined> => {
    if (!byPseudonym.has(pseudonym) && o.pseudonyms) {
      const p = o.pseudonyms;
      byPseudonym = new Map((await registry.list()).map((r) => [p.of(r.name), r.name]));
    }
    return byPseudonym.get(pseudonym);
  };
  return Promise.resolve({
    policySet: (hash) => readPolicySet(policySets, hash),
    snapshot: (ref) => readSnapshotRecord(data, ref),
    async recipient(logged) {
      if (logged.startsWith(PSEUDONYM_PREFIX)) {
        const name = await named(logged);
        const r = name === undefined ? undefined : await registry.get(name);
        return r ? evidenceOf(r, logged) : null;
      }
      const r = await registry.get(logged);
      return r ? evidenceOf(r) : null;
    },
    close: () => Promise.resolve(),
  });
}
