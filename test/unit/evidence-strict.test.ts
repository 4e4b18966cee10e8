/**
 * A pack re-signed by whoever holds the log key is still read strictly: names, duplicates, files
 * no decision rests on, records left out without being declared, proofs against another checkpoint.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EvidenceRecords, PolicySetRecord } from '../../src/compliance/records.js';
import { exportEvidence, verifyEvidence } from '../../src/console/evidence/index.js';
import { signManifest } from '../../src/console/evidence/manifest.js';
import { sha256Hex, writePack } from '../../src/console/evidence/pack.js';
import { ModelsealError } from '../../src/errors.js';
import { encodeEvent } from '../../src/log/events.js';
import { FileStore } from '../../src/log/filestore.js';
import { TransparencyLog } from '../../src/log/log.js';
import { NoteSigner, parseVerifierKey, signNote } from '../../src/log/note.js';
import { policySetHash } from '../../src/policy/engine.js';
import { packFiles } from '../support/evidence.js';
import { tempDir } from '../support/fixtures.js';

const dir = tempDir('modelseal-evidence-strict-');
const signer = NoteSigner.generate('strict.test/log');
const verifier = parseVerifierKey(signer.verifierKey);
const files = { schema: 's\n', policies: 'p\n', licenses: '{"licenses":[]}\n', embargoes: '{"embargoes":[]}\n' };
const policy: PolicySetRecord = { hash: policySetHash(files), files, inForce: '2026-01-01T00:00:00Z' };
const records: EvidenceRecords = {
  policySet: (h) => Promise.resolve(h === policy.hash ? policy : null),
  snapshot: () => Promise.resolve(null),
  recipient: () => Promise.resolve(null),
  close: () => Promise.resolve(),
};
let store: FileStore;
let good: Map<string, Buffer>;

const denials = (i: number) =>
  encodeEvent({
    v: 1,
    type: 'denials',
    time: `2026-01-0${i + 1}T00:00:00.000Z`,
    since: `2026-01-0${i + 1}T00:00:00.000Z`,
    until: `2026-01-0${i + 1}T00:00:00.000Z`,
    ip: '*',
    count: 1,
    reasons: { 'bad-signature': 1 },
    policySet: policy.hash,
  });

beforeAll(async () => {
  const log = new TransparencyLog(FileStore.open(join(dir, 'log')), signer, { commitIntervalMs: 0 });
  for (let i = 0; i < 4; i++) await log.append(denials(i));
  await log.close();
  store = FileStore.openReadOnly(join(dir, 'log'));
  const out = join(dir, 'good.tar');
  await exportEvidence({
    source: { store, name: 'log', remote: false },
    records,
    signer,
    verifier,
    selection: { until: Date.parse('2026-01-02T12:00:00Z') },
    output: out,
  });
  good = packFiles(readFileSync(out));
  good.delete('manifest');
});
afterAll(async () => store.close());

async function refusal(pack: Buffer): Promise<string> {
  const file = join(dir, 'variant.tar');
  writeFileSync(file, pack);
  const e = await verifyEvidence(file, [verifier]).then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(ModelsealError);
  expect((e as ModelsealError).code).toBe('EVIDENCE_INVALID');
  return (e as ModelsealError).message;
}

const signed = async (f: Map<string, Buffer>) => writePack(await signManifest('strict.test/log', f, signer), f);

describe('a re-signed pack, read strictly', () => {
  it('verifies as made', async () => {
    const file = join(dir, 'again.tar');
    writeFileSync(file, await signed(good));
    await expect(verifyEvidence(file, [verifier])).resolves.toMatchObject({ ok: true, entries: 2 });
  });

  it('refuses a file no decision rests on', async () => {
    const f = new Map(good).set('records/extra.json', Buffer.from('{}\n'));
    expect(await refusal(await signed(f))).toMatch(/^records\/extra\.json: no selected decision rests on/);
  });

  it('refuses names that climb out, and a name given twice', async () => {
    const lines = ['modelseal evidence v1', 'origin strict.test/log'];
    for (const [n, d] of good) lines.push(`${sha256Hex(d)} ${d.length} ${n}`);
    for (const extra of ['../x', 'a//b', '/abs', 'README.txt']) {
      const text = [...lines, `${sha256Hex(Buffer.alloc(0))} 0 ${extra}`].join('\n') + '\n';
      const pack = writePack(await signNote(text, [signer]), good);
      expect(await refusal(pack)).toMatch(/^manifest: line \d+ names/);
    }
  });

  it('refuses a record left out without being declared as a gap', async () => {
    const f = new Map(good);
    f.delete(`records/policy/${policy.hash}.json`);
    expect(await refusal(await signed(f))).toMatch(/^decisions\.json: its entry 0 does not list/);
  });

  it('refuses a proof against another checkpoint than the pack holds', async () => {
    const latest = good.get('latest')!.toString();
    const proof = good.get('entries/0.proof')!.toString();
    const other = proof.slice(0, proof.indexOf('\n\n') + 2) + latest;
    const f = new Map(good).set('entries/0.proof', Buffer.from(other));
    expect(await refusal(await signed(f))).toMatch(/^entries\/0\.proof: /);
  });
});
