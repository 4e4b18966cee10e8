/** Small policy and header fixtures shared by the tests of the release decision and the release stanza. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Header, Stanza } from '../../src/format/header.js';
import type { PolicySetRecord } from '../../src/compliance/records.js';
import { initPolicyDir, POLICY_FILES, PolicyEngine, type License } from '../../src/policy/engine.js';

/** A model root digest the fixtures' licenses name. */
export const ARTIFACT = `sha256:${'ab'.repeat(32)}`;

/** A license of acme-labs for ARTIFACT to DE and FR, in force through 2026, three releases. */
export function testLicense(over: Partial<License> = {}): License {
  return {
    id: 'L',
    holder: 'acme-labs',
    artifacts: [ARTIFACT],
    destinations: ['DE', 'FR'],
    notBefore: '2026-01-01T00:00:00Z',
    notAfter: '2027-01-01T00:00:00Z',
    maxReleases: 3,
    ...over,
  };
}

/** The header of a one-file package with one release stanza for acme-labs (license EAR-1). */
export function releaseHeader(stanza: Partial<Stanza> = {}, over: Partial<Header> = {}): Header {
  return {
    packageId: new Uint8Array(32).fill(1),
    created: '2026-12-05T00:00:00Z',
    chunkSize: 1 << 20,
    model: { name: 'm.safetensors', kind: 'file', rootDigest: new Uint8Array(32).fill(0xaa) },
    provenanceSize: 100,
    files: [{ path: 'm.safetensors', size: 10, mode: 0o644 }],
    stanzas: [
      {
        type: 'release',
        recipient: 'acme-labs',
        license: 'EAR-1',
        policy: 'none',
        args: ['http://127.0.0.1:7411', 'x25519', 'x25519:abc'],
        body: new Uint8Array(48),
        ...stanza,
      },
    ],
    commitment: new Uint8Array(32),
    ...over,
  };
}

/** A default policy directory at `dir` with `licenses`, and its set as an archived record in force at `inForce`. */
export async function policySetRecord(dir: string, licenses: License[], inForce: string): Promise<PolicySetRecord> {
  await initPolicyDir(dir);
  writeFileSync(join(dir, POLICY_FILES.licenses), JSON.stringify({ licenses }) + '\n');
  const files = Object.fromEntries(
    Object.entries(POLICY_FILES).map(([k, f]) => [k, readFileSync(join(dir, f), 'utf8')]),
  ) as PolicySetRecord['files'];
  return { hash: (await PolicyEngine.load(dir)).hash, files, inForce };
}
