/**
 * An evidence pack read by an independent implementation: the Go program test/peers/tlogcheck
 * (golang.org/x/mod/sumdb/note and tlog) checks its checkpoint, every inclusion proof and the
 * consistency proof, and accepts the manifest's signature while refusing it as a checkpoint.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { EvidenceRecords } from '../../src/compliance/records.js';
import { exportEvidence, verifyEvidence } from '../../src/console/evidence/index.js';
import { parseProof, unverifiedCheckpoint } from '../../src/log/checkpoint.js';
import { encodeEvent, type TraceEvent } from '../../src/log/events.js';
import { FileStore } from '../../src/log/filestore.js';
import { TransparencyLog } from '../../src/log/log.js';
import { leafHash } from '../../src/log/merkle.js';
import { NoteSigner, parseVerifierKey } from '../../src/log/note.js';
import { packFiles } from '../support/evidence.js';
import { tempDir } from '../support/fixtures.js';
import { goCheck } from '../support/tlogcheck.js';

const dir = tempDir('modelseal-evidence-go-');
const signer = NoteSigner.generate('evidence-go.test/log');
const verifier = parseVerifierKey(signer.verifierKey);
const none: EvidenceRecords = {
  policySet: () => Promise.resolve(null),
  snapshot: () => Promise.resolve(null),
  recipient: () => Promise.resolve(null),
  close: () => Promise.resolve(),
};
let store: FileStore | undefined;
afterAll(async () => store?.close());

const trace = (i: number): TraceEvent => ({
  v: 1,
  type: 'trace',
  time: new Date(Date.UTC(2026, 0, 1 + i)).toISOString(),
  leak: `sha256:${i.toString(16).padStart(64, '0')}`,
  original: `sha256:${(i % 3).toString(16).padStart(64, '0')}`,
  derived: true,
  accused: [],
  epsilon: '0.000001',
  traces: 1,
  recipients: 2,
  publisher: `sha256:${'ee'.repeat(32)}`,
});

describe('an evidence pack checked by Go (golang.org/x/mod/sumdb)', () => {
  it('agrees on the checkpoint, every inclusion proof and the consistency proof', async () => {
    const log = new TransparencyLog(FileStore.open(join(dir, 'log')), signer, { commitIntervalMs: 0 });
    for (let i = 0; i < 23; i++) await log.append(encodeEvent(trace(i)));
    await log.close();
    store = FileStore.openReadOnly(join(dir, 'log'));
    const out = join(dir, 'pack.tar');
    const original = `sha256:${'1'.padStart(64, '0')}`;
    const s = await exportEvidence({
      source: { store, name: 'log', remote: false },
      records: none,
      signer,
      verifier,
      selection: { model: original, until: Date.UTC(2026, 0, 12) },
      output: out,
    });
    expect(s).toMatchObject({ entries: 4, checkpoint: { size: 11 }, latest: { size: 23 } });
    await expect(verifyEvidence(out, [verifier])).resolves.toMatchObject({ ok: true, entries: 4 });

    const files = packFiles(readFileSync(out));
    const text = (n: string) => files.get(n)!.toString('utf8');
    const c = unverifiedCheckpoint(text('checkpoint'));
    const latest = unverifiedCheckpoint(text('latest'));
    const proofs = [...files.keys()].filter((n) => n.startsWith('entries/')).map((n) => parseProof(text(n)));
    const consistency = text('consistency').trim().split('\n').slice(3);
    const vkey = signer.verifierKey;
    const go = goCheck([
      { kind: 'checkpoint', vkey, note: text('checkpoint') },
      { kind: 'checkpoint', vkey, note: text('latest') },
      { kind: 'checkpoint', vkey, note: text('manifest') },
      {
        kind: 'consistency',
        old: c.size,
        size: latest.size,
        proof: consistency,
        oldRoot: c.root.toString('base64'),
        root: latest.root.toString('base64'),
      },
      ...proofs.map((p) => ({
        kind: 'inclusion',
        leaf: leafHash(p.extra!).toString('base64'),
        index: p.index,
        size: c.size,
        proof: p.proof.map((h) => h.toString('base64')),
        root: c.root.toString('base64'),
      })),
    ]);
    expect(go.slice(0, 2).map((v) => v.values)).toEqual([
      [`${c.size} ${c.root.toString('base64')}`],
      [`${latest.size} ${latest.root.toString('base64')}`],
    ]);
    // Go opens the manifest's signature, then refuses its text as a checkpoint: they cannot be confused.
    expect(go[2]).toMatchObject({ ok: false, error: 'checkpoint origin does not match the key name' });
    expect(go.slice(3).map((v) => v.ok)).toEqual(Array(1 + proofs.length).fill(true));
    expect(proofs.map((p) => p.index)).toEqual([1, 4, 7, 10]);
  });
});
