/**
 * The gateway's entries in evidence packs, over a real FileStore log: an inference admit rests on the
 * policy set, the recipient, the snapshots and the served model's classification like a release; a
 * settle rests on its admit; verify-export re-derives both, and refuses a pack whose records or
 * decisions do not match what the admit entries log.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordsRestedOn, type PolicySetRecord, type RecipientEvidence } from '../../src/compliance/records.js';
import { exportEvidence, verifyEvidence, type ExportEvidenceOptions } from '../../src/console/evidence/index.js';
import { checkRecord, needsOf } from '../../src/console/evidence/records.js';
import { integersOnly, type LogEvent } from '../../src/log/events.js';
import type { FileStore } from '../../src/log/filestore.js';
import { NoteSigner, parseVerifierKey } from '../../src/log/note.js';
import { classificationDigest } from '../../src/package/classification.js';
import { policySetHash } from '../../src/policy/engine.js';
import { classificationRecord } from '../support/classification.js';
import { packFiles } from '../support/evidence.js';
import { tempDir } from '../support/fixtures.js';
import { admit, callId, denied, settle } from '../support/inference.js';
import { policySetRecord, testLicense } from '../support/policy.js';
import { fileLogOf } from '../support/tlog.js';

const dir = tempDir('modelseal-evidence-inference-');
const signer = NoteSigner.generate('evidence-inference.test/log');
const verifier = parseVerifierKey(signer.verifierKey);
const record = classificationRecord();
const MODEL = `sha256:${'ab'.repeat(32)}`;
const SNAP = `SDN@sha256:${'d'.repeat(64)}`;
let policy: PolicySetRecord;
let store: FileStore;

const recipient: RecipientEvidence = {
  name: 'acme-labs',
  org: 'Acme Labs GmbH',
  country: 'DE',
  nationalities: ['DE'],
  citizenships: [],
  fingerprint: '34'.repeat(32),
  publicKey: 'MCowBQYDK2VwAyEA' + 'A'.repeat(43) + '=',
  certificate: null,
  created: '2026-11-01T00:00:00.000Z',
  revoked: null,
};

const classified = {
  record: classificationDigest(record),
  usEar: '4E091',
  tier: 'frontier',
  parameters: '1000000',
  rulePacks: record.rulePacks,
  licenseRequired: true,
  licenseRequiredObserved: true,
};
let events: LogEvent[] = [];

beforeAll(async () => {
  policy = await policySetRecord(join(dir, 'policy'), [testLicense({ id: 'L-1' })], '2026-11-01T00:00:00.000Z');
  const on = { artifact: MODEL, policySet: policy.hash, classification: classified };
  const allowed = admit(callId('a'), on);
  events = [
    {
      v: 1,
      type: 'export',
      time: '2026-11-01T09:00:00.000Z',
      package: 'aa'.repeat(16),
      artifact: MODEL,
      model: 'tiny-llama',
      recipient: 'gateway',
      provider: 'release',
      license: 'L-1',
      policy: 'default',
      publisher: `sha256:${'ee'.repeat(32)}`,
      fingerprint: null,
      classification: integersOnly(record),
    },
    allowed, // 1
    settle(allowed, 1), // 2
    denied(callId('b'), 'tier-not-licensed', on), // 3
    denied(callId('c'), 'screening-hit', on), // 4
    denied(callId('d'), 'unauthenticated', { ...on, recipient: null, org: null, country: null, screening: undefined }),
  ];
  store = await fileLogOf(join(dir, 'log'), signer, events);
});

afterAll(async () => {
  await store.close();
});

function options(output: string, over: Partial<ExportEvidenceOptions> = {}): ExportEvidenceOptions {
  return {
    source: { store, name: join(dir, 'log'), remote: false },
    records: {
      policySet: (h) => Promise.resolve(h === policy.hash ? policy : null),
      snapshot: (ref) =>
        Promise.resolve(ref === SNAP ? { ref, source: 'SDN', digest: ref.slice(4), ...SNAPSHOT } : null),
      recipient: (n) => Promise.resolve(n === 'acme-labs' ? recipient : null),
      close: () => Promise.resolve(),
    },
    signer,
    verifier,
    selection: {},
    output,
    ...over,
  };
}
const SNAPSHOT = { entries: 3, names: 5, imported: '2026-11-01T00:00:00.000Z', maxAgeDays: 7, files: [], skipped: 0 };

describe('evidence packs: inference entries', () => {
  it('an admit rests on what a release does; a settle on its admit alone', () => {
    const [, allowed, settled, tier, screened, anonymous] = events;
    const cls = { kind: 'classification', ref: classified.record };
    const base = [
      { kind: 'policy-set', ref: policy.hash },
      { kind: 'recipient', ref: 'acme-labs' },
      { kind: 'snapshot', ref: SNAP },
    ];
    expect(recordsRestedOn(allowed!)).toEqual([...base, cls]);
    expect(recordsRestedOn(tier!)).toEqual([...base, cls]);
    // A screening hit was not decided on the model's classification; an unauthenticated call names nobody.
    expect(recordsRestedOn(screened!)).toEqual(base);
    expect(recordsRestedOn(anonymous!)).toEqual([base[0]]);
    expect(recordsRestedOn(settled!)).toEqual([]);
  });

  it('round-trips a model with its calls: decisions name each admit decision, verify-export re-derives them', async () => {
    const out = join(dir, 'calls.tar');
    const s = await exportEvidence(options(out, { selection: { model: MODEL } }));
    expect(s).toMatchObject({ entries: 6, gaps: [] });
    await expect(verifyEvidence(out, [verifier])).resolves.toMatchObject({ ok: true, entries: 6 });
    const files = packFiles(readFileSync(out));
    const decisions = JSON.parse(files.get('decisions.json')!.toString('utf8')) as {
      entries: { index: number; type: string; decision: string | null; records: string[] }[];
    };
    expect(decisions.entries.map((d) => [d.index, d.type, d.decision, d.records.length])).toEqual([
      [0, 'export', null, 2],
      [1, 'infer-admit', 'allow', 5],
      [2, 'infer-settle', null, 0],
      [3, 'infer-admit', 'deny', 5],
      [4, 'infer-admit', 'deny', 3],
      [5, 'infer-admit', 'deny', 1],
    ]);
    for (const f of [`records/policy/${policy.hash}.json`, `records/snapshots/${'d'.repeat(64)}.json`])
      expect(files.has(f)).toBe(true);
  });

  it('a missing recipient record is a gap of the admit entries that name it', async () => {
    const out = join(dir, 'gaps.tar');
    const o = options(out, { allowMissing: true });
    o.records = { ...o.records, recipient: () => Promise.resolve(null) };
    const s = await exportEvidence(o);
    expect(s.gaps.filter((g) => g.kind === 'recipient').map((g) => g.entry)).toEqual([1, 3, 4]);
    await expect(verifyEvidence(out, [verifier])).rejects.toMatchObject({ code: 'EVIDENCE_INCOMPLETE' });
  });

  it('a policy set under which a call was allowed must hold its license; a certificate must be the recipient', () => {
    const files = { ...policy.files, licenses: JSON.stringify({ licenses: [] }) + '\n' };
    const set: PolicySetRecord = { ...policy, hash: policySetHash(files), files };
    const event = admit(callId('e'), { policySet: set.hash, certificate: '00'.repeat(32) });
    const [p, r] = needsOf(event);
    const pack = new Map([
      [p!.files[0]!, Buffer.from(JSON.stringify(set))],
      [r!.files[0]!, Buffer.from(JSON.stringify(recipient))],
    ]);
    expect(() => checkRecord(p!, pack, event)).toThrow(
      /has no license L-1, under which the inference call was allowed/,
    );
    expect(() => checkRecord(p!, pack, { ...event, decision: 'deny' })).not.toThrow();
    expect(() => checkRecord(r!, pack, event)).toThrow(/its fingerprint is not the certificate 0{64}/);
    expect(() => checkRecord(r!, pack, { ...event, certificate: null })).not.toThrow();
  });
});
