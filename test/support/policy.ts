/** Small policy and header fixtures shared by the tests of the release decision and the release stanza. */
import type { Header, Stanza } from '../../src/format/header.js';
import type { License } from '../../src/policy/engine.js';

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
