/**
 * Evidence packs over a real FileStore log: a pack round-trips through verifyEvidence, proves its
 * entries against the oldest checkpoint that covers them, binds every record to the log, declares
 * gaps only when asked to, and fails naming the file on a changed byte anywhere.
 */
import { readFileSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  EvidenceRecords,
  PolicySetRecord,
  RecipientEvidence,
  SnapshotRecord,
} from '../../src/compliance/records.js';
import { exportEvidence, verifyEvidence, type ExportEvidenceOptions } from '../../src/console/evidence/index.js';
import { ModelsealError } from '../../src/errors.js';
import { encodeEvent, integersOnly, type LogEvent } from '../../src/log/events.js';
import { FileStore } from '../../src/log/filestore.js';
import { TransparencyLog } from '../../src/log/log.js';
import { NoteSigner, parseVerifierKey } from '../../src/log/note.js';
import type { LogSource } from '../../src/log/open.js';
import { Pseudonymizer } from '../../src/log/pseudonym.js';
import { classificationDigest } from '../../src/package/classification.js';
import { initPolicyDir, POLICY_FILES, PolicyEngine, policySetHash } from '../../src/policy/engine.js';
import { checkRecord, needsOf } from '../../src/console/evidence/records.js';
import { classificationRecord } from '../support/classification.js';
import { packEntries } from '../support/evidence.js';
import { tempDir } from '../support/fixtures.js';
import { testLicense } from '../support/policy.js';
import { prng } from '../support/prng.js';

const dir = tempDir('modelseal-evidence-');
const signer = NoteSigner.generate('evidence.test/log');
const verifier = parseVerifierKey(signer.verifierKey);
const MODEL = `sha256:${'ab'.repeat(32)}`;
const OTHER = `sha256:${'cd'.repeat(32)}`;
const SNAP = `ofac-sdn@sha256:${'12'.repeat(32)}`;
const CERT = '34'.repeat(32);
const record = classificationRecord();

let policy: PolicySetRecord;
let store: FileStore;
const recipients = new Map<string, RecipientEvidence>();
const snapshots = new Map<string, SnapshotRecord>();
const policySets = new Map<string, PolicySetRecord>();

function memoryRecords(): EvidenceRecords {
  return {
    policySet: (h) => Promise.resolve(policySets.get(h) ?? null),
    snapshot: (r) => Promise.resolve(snapshots.get(r) ?? null),
    recipient: (n) => Promise.resolve(recipients.get(n) ?? null),
    close: () => Promise.resolve(),
  };
}

const t = (day: number) => `2026-0${day < 10 ? 1 : 2}-${String(day).padStart(2, '0')}T10:00:00.000Z`;

function release(day: number, over: Partial<Extract<LogEvent, { type: 'release' }>> = {}): LogEvent {
  return {
    v: 1,
    type: 'release',
    time: t(day),
    request: day.toString(16).padStart(32, '0'),
    recipient: 'acme-labs',
    org: 'ACME Labs',
    country: 'DE',
    certificate: CERT,
    artifact: MODEL,
    package: 'aa'.repeat(16),
    license: 'LIC-1',
    decision: 'allow',
    reason: 'allowed',
    policies: ['allow-licensed'],
    policySet: policy.hash,
    ip: '127.0.0.1',
    destination: 'DE',
    nonce: null,
    screening: { decision: 'clear', lists: [SNAP], stale: [], best: null },
    classification: {
      record: classificationDigest(record),
      usEar: '4E091',
      rulePacks: record.rulePacks,
      licenseRequired: true,
      licenseRequiredObserved: true,
    },
    ...over,
  };
}

beforeAll(async () => {
  const pdir = join(dir, 'policy');
  await initPolicyDir(pdir);
  writeFileSync(join(pdir, POLICY_FILES.licenses), JSON.stringify({ licenses: [testLicense({ id: 'LIC-1' })] }) + '\n');
  const files = Object.fromEntries(
    Object.entries(POLICY_FILES).map(([k, f]) => [k, readFileSync(join(pdir, f), 'utf8')]),
  ) as PolicySetRecord['files'];
  const engine = await PolicyEngine.load(pdir);
  policy = { hash: engine.hash, files, inForce: t(1) };
  policySets.set(policy.hash, policy);
  restoreRecords();
  const log = new TransparencyLog(FileStore.open(join(dir, 'log')), signer, { commitIntervalMs: 0 });
  const exportEvent: LogEvent = {
    v: 1,
    type: 'export',
    time: t(1),
    package: 'aa'.repeat(16),
    artifact: MODEL,
    model: 'tiny',
    recipient: 'acme-labs',
    provider: 'release',
    license: 'LIC-1',
    policy: 'default',
    publisher: `sha256:${'ee'.repeat(32)}`,
    fingerprint: null,
    classification: integersOnly(record),
  };
  const events: LogEvent[] = [
    exportEvent,
    release(2),
    release(3, { decision: 'deny', reason: 'destination-not-licensed', destination: 'CN' }),
    release(4, { artifact: OTHER, classification: undefined }),
    {
      v: 1,
      type: 'denials',
      time: t(5),
      since: t(5),
      until: t(5),
      ip: '10.0.0.1',
      count: 3,
      reasons: { 'bad-signature': 3 },
      policySet: policy.hash,
    },
    release(12),
  ];
  // One append at a time: one checkpoint per entry, so the pack's checkpoint is not the latest.
  for (const e of events) await log.append(encodeEvent(e));
  await log.close();
  store = FileStore.openReadOnly(join(dir, 'log'));
});

afterAll(async () => {
  await store.close();
});

function options(output: string, over: Partial<ExportEvidenceOptions> = {}): ExportEvidenceOptions {
  const source: LogSource = { store, name: join(dir, 'log'), remote: false };
  return { source, records: memoryRecords(), signer, verifier, selection: {}, output, ...over };
}

async function rejection(p: Promise<unknown>): Promise<ModelsealError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(ModelsealError);
  return e as ModelsealError;
}

/** The regions of a pack: each entry's header, data and padding, and the end blocks, with the file each names. */
function regions(pack: Buffer): { file: string; from: number; to: number }[] {
  const out: { file: string; from: number; to: number }[] = [];
  let end = 0;
  for (const { name, header, at, size } of packEntries(pack)) {
    end = at + Math.ceil(size / 512) * 512;
    out.push({ file: name, from: header, to: at });
    if (size > 0) out.push({ file: name, from: at, to: at + size });
    if (end > at + size) out.push({ file: name, from: at + size, to: end });
  }
  out.push({ file: '(end of archive)', from: end, to: pack.length });
  return out;
}

describe('evidence packs', () => {
  it('round-trips: model X until day 10, proven against the oldest covering checkpoint, with its records', async () => {
    const out = join(dir, 'model.tar');
    const s = await exportEvidence(
      options(out, { selection: { model: MODEL, until: Date.parse('2026-01-10T00:00:00Z') } }),
    );
    // Entries 0..2 concern MODEL before day 10 (entry 3 is another model, 4 names none, 5 is later).
    expect(s).toMatchObject({ entries: 3, size: 6, checkpoint: { size: 3 }, latest: { size: 6 }, gaps: [] });
    const v = await verifyEvidence(out, [verifier]);
    expect(v).toMatchObject({ ok: true, origin: 'evidence.test/log', entries: 3, checkpoint: { size: 3 } });
    const tar = readFileSync(out).toString('latin1');
    for (const f of [
      `records/policy/${policy.hash}.json`,
      `records/snapshots/${'12'.repeat(32)}.json`,
      `records/classification/${classificationDigest(record).slice(7)}.md`,
      'entries/2.proof',
      'report.html',
    ])
      expect(tar).toContain(f);
    expect(tar).not.toContain('entries/3.proof');
    expect(readdirSync(dir).filter((f) => f.includes('partial'))).toEqual([]);
  });

  it('a log read over HTTP has no stored hashes: the proofs come from the entries', async () => {
    const out = join(dir, 'remote.tar');
    const remoteStore = new Proxy(store, {
      get: (target, p) => {
        if (p === 'readHashes') return () => Promise.reject(new Error('no stored hashes over HTTP'));
        const v = Reflect.get(target, p, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const source: LogSource = { store: remoteStore, name: 'http://x', remote: true };
    const s = await exportEvidence(options(out, { source, selection: { since: Date.parse(t(3)) } }));
    expect(s).toMatchObject({ entries: 4, checkpoint: { size: 6 } });
    await expect(verifyEvidence(out, [verifier])).resolves.toMatchObject({ ok: true, entries: 4 });
  });

  it('a record the source lacks fails the export naming it, unless gaps are allowed; verify then reports them', async () => {
    const out = join(dir, 'gaps.tar');
    recipients.delete('acme-labs');
    snapshots.delete(SNAP);
    try {
      const e = await rejection(exportEvidence(options(out)));
      expect(e.code).toBe('EVIDENCE_INCOMPLETE');
      expect(e.message).toContain('recipient acme-labs');
      expect(e.message).toContain(`snapshot ${SNAP}`);
      expect(existsSync(out)).toBe(false);
      const s = await exportEvidence(options(out, { allowMissing: true }));
      expect(s.gaps.length).toBeGreaterThan(0);
      const v = await rejection(verifyEvidence(out, [verifier]));
      expect(v.code).toBe('EVIDENCE_INCOMPLETE');
      expect(v.message).toContain('recipient acme-labs (entry 1)');
      const ok = await verifyEvidence(out, [verifier], { acceptGaps: true });
      expect(ok.gaps).toContainEqual({ kind: 'snapshot', ref: SNAP, entry: 1 });
    } finally {
      restoreRecords();
    }
  });

  it('a record that is not the one logged never makes it into a pack (bound at export, named)', async () => {
    const cases: [string, () => void, () => void][] = [
      [
        `records/policy/${policy.hash}.json`,
        () => policySets.set(policy.hash, { ...policy, files: { ...policy.files, embargoes: '{"embargoes":[]}\n' } }),
        () => policySets.set(policy.hash, policy),
      ],
      [
        'records/recipients/',
        () => recipients.set('acme-labs', { ...recipients.get('acme-labs')!, fingerprint: '00'.repeat(32) }),
        () => recipients.set('acme-labs', { ...recipients.get('acme-labs')!, fingerprint: CERT }),
      ],
      [
        `records/snapshots/${'12'.repeat(32)}.json`,
        () => snapshots.set(SNAP, { ...snapshots.get(SNAP)!, digest: `sha256:${'13'.repeat(32)}` }),
        () => snapshots.set(SNAP, { ...snapshots.get(SNAP)!, digest: `sha256:${'12'.repeat(32)}` }),
      ],
    ];
    for (const [file, spoil, restore] of cases) {
      spoil();
      try {
        const e = await rejection(exportEvidence(options(join(dir, 'bad.tar'))));
        expect(e.code).toBe('EVIDENCE_INVALID');
        expect(e.message.startsWith(file)).toBe(true);
        expect(existsSync(join(dir, 'bad.tar'))).toBe(false);
      } finally {
        restore();
      }
    }
  });

  it('a policy set under which a release was allowed must hold its license', () => {
    const files = { ...policy.files, licenses: JSON.stringify({ licenses: [] }) + '\n' };
    const set: PolicySetRecord = { ...policy, hash: policySetHash(files), files };
    const event = release(2, { policySet: set.hash });
    const [n] = needsOf(event);
    const pack = new Map([[n!.files[0]!, Buffer.from(JSON.stringify(set))]]);
    let e: unknown;
    try {
      checkRecord(n!, pack, event);
    } catch (x) {
      e = x;
    }
    expect(e).toMatchObject({ code: 'EVIDENCE_INVALID', message: expect.stringContaining('has no license LIC-1') });
    // A denied release under the same set rests on it without the license.
    expect(() => checkRecord(n!, pack, { ...event, decision: 'deny' } as LogEvent)).not.toThrow();
  });

  it('never replaces an existing pack unless asked; an empty selection is proven against the latest checkpoint', async () => {
    const out = join(dir, 'twice.tar');
    const none = { selection: { since: Date.parse('2030-01-01T00:00:00Z') } };
    await expect(exportEvidence(options(out, none))).resolves.toMatchObject({ entries: 0, checkpoint: { size: 6 } });
    const e = await rejection(exportEvidence(options(out, none)));
    expect(e.code).toBe('OUTPUT_EXISTS');
    await expect(exportEvidence(options(out, { ...none, overwrite: true }))).resolves.toMatchObject({ entries: 0 });
    await expect(verifyEvidence(out, [verifier])).resolves.toMatchObject({ ok: true, entries: 0 });
    const missing = await rejection(verifyEvidence(join(dir, 'no-such.tar'), [verifier]));
    expect(missing.code).toBe('INVALID_ARGUMENT');
  });

  it('checks the manifest under any of several log keys (rotation), and under none of the wrong ones', async () => {
    const out = join(dir, 'keys.tar');
    await exportEvidence(options(out, { selection: { until: Date.parse(t(3)) } }));
    const old = parseVerifierKey(NoteSigner.generate('evidence.test/log').verifierKey);
    await expect(verifyEvidence(out, [old, verifier])).resolves.toMatchObject({ ok: true });
    const e = await rejection(verifyEvidence(out, [old]));
    expect(e.code).toBe('EVIDENCE_INVALID');
    expect(e.message.startsWith('manifest:')).toBe(true);
    // A manifest signed with another key than the one the checkpoints are checked under is refused up front.
    const other = NoteSigner.generate('evidence.test/log');
    const refused = await rejection(exportEvidence(options(join(dir, 'other.tar'), { signer: other })));
    expect(refused.code).toBe('INVALID_ARGUMENT');
  });

  it('names no recipient in the clear that a pseudonymised log does not', async () => {
    const pseudonyms = new Pseudonymizer(Buffer.alloc(32, 7));
    const logged = pseudonyms.of('acme-labs');
    const path = join(dir, 'pseudo-log');
    const log = new TransparencyLog(FileStore.open(path), signer, { commitIntervalMs: 0 });
    await log.append(
      encodeEvent(release(2, { recipient: logged, classification: undefined, ip: pseudonyms.of('::1') })),
    );
    await log.close();
    recipients.set(logged, { ...recipients.get('acme-labs')!, name: logged, org: logged });
    const pseudo = FileStore.openReadOnly(path);
    try {
      const out = join(dir, 'pseudo.tar');
      const source: LogSource = { store: pseudo, name: path, remote: false };
      const s = await exportEvidence(options(out, { source, pseudonyms, selection: { recipient: 'acme-labs' } }));
      expect(s).toMatchObject({ entries: 1, gaps: [] });
      const pack = readFileSync(out);
      const named = regions(pack)
        .filter((r) => pack.subarray(r.from, r.to).includes('acme-labs'))
        .map((r) => r.file);
      expect(pack.toString('latin1')).toContain(logged);
      // Only the policy set names holders, as the operator wrote its licenses.json (docs/AUDIT.md).
      expect(new Set(named)).toEqual(new Set([`records/policy/${policy.hash}.json`]));
    } finally {
      recipients.delete(logged);
      await pseudo.close();
    }
  });

  it('fails naming the file on a changed byte in every region: headers, contents, padding, the end', async () => {
    const out = join(dir, 'flip.tar');
    await exportEvidence(options(out, { selection: { until: Date.parse(t(5)) } }));
    const pack = readFileSync(out);
    const rs = regions(pack);
    const files = new Set(rs.map((r) => r.file));
    for (const f of ['manifest', 'checkpoint', 'latest', 'consistency', 'decisions.json', 'report.json'])
      expect(files).toContain(f);
    expect([...files].some((f) => f.startsWith('entries/'))).toBe(true);
    expect([...files].some((f) => f.startsWith('records/'))).toBe(true);
    const r = prng(Number(process.env.SEED ?? 21));
    const runs = process.env.SLOW ? 20 : 2;
    const flipped = join(dir, 'flipped.tar');
    for (const region of rs) {
      for (let k = 0; k < runs; k++) {
        const at = region.from + r.int(region.to - region.from);
        const copy = Buffer.from(pack);
        copy[at] = copy[at]! ^ (1 << r.int(8));
        writeFileSync(flipped, copy);
        const e = await rejection(verifyEvidence(flipped, [verifier], { acceptGaps: true }));
        expect({ at, code: e.code, named: e.message.startsWith(`${region.file}:`) }).toEqual({
          at,
          code: 'EVIDENCE_INVALID',
          named: true,
        });
      }
    }
    // An appended byte and a truncated tail fail too.
    writeFileSync(flipped, Buffer.concat([pack, Buffer.alloc(1)]));
    expect((await rejection(verifyEvidence(flipped, [verifier]))).message).toMatch(/^\(end of archive\)/);
    writeFileSync(flipped, pack.subarray(0, pack.length - 512));
    expect((await rejection(verifyEvidence(flipped, [verifier]))).message).toMatch(/^\(end of archive\)/);
  });
});

/** The records of the log's recipient and snapshot, as the source keeps them. */
function restoreRecords(): void {
  recipients.set('acme-labs', {
    name: 'acme-labs',
    org: 'ACME Labs',
    country: 'DE',
    nationalities: ['DE'],
    citizenships: [],
    fingerprint: CERT,
    publicKey: 'MCowBQYDK2VwAyEA' + 'A'.repeat(43) + '=',
    certificate: null,
    created: t(1),
    revoked: null,
  });
  snapshots.set(SNAP, {
    ref: SNAP,
    source: 'ofac-sdn',
    digest: `sha256:${'12'.repeat(32)}`,
    entries: 3,
    names: 5,
    imported: t(1),
    maxAgeDays: 7,
    files: [],
    skipped: 0,
  });
}

describe('evidence packs after a log key rotation', () => {
  it('proves early entries against the oldest checkpoint the current key signed, so that key alone verifies', async () => {
    const old = NoteSigner.generate('rotated.test/log');
    const now = NoteSigner.generate('rotated.test/log');
    const path = join(dir, 'rotated');
    const entry = (i: number) =>
      encodeEvent({
        v: 1,
        type: 'trace',
        time: t(i + 1),
        leak: `sha256:${'0'.repeat(64)}`,
        original: MODEL,
        derived: false,
        accused: [],
        epsilon: '0',
        traces: 1,
        recipients: 0,
        publisher: `sha256:${'ee'.repeat(32)}`,
      });
    for (const [key, from] of [
      [old, 0],
      [now, 3],
    ] as const) {
      const log = new TransparencyLog(FileStore.open(path), key, { commitIntervalMs: 0 });
      for (let i = from; i < from + 3; i++) await log.append(entry(i));
      await log.close();
    }
    const rotated = FileStore.openReadOnly(path);
    try {
      const out = join(dir, 'rotated.tar');
      const nowKey = parseVerifierKey(now.verifierKey);
      const s = await exportEvidence({
        ...options(out),
        source: { store: rotated, name: path, remote: false },
        signer: now,
        verifier: nowKey,
        selection: { until: Date.parse(t(2)) + 1 },
      });
      // Entries 0 and 1 were first covered by checkpoints of the old key; the first of the new one has size 4.
      expect(s).toMatchObject({ entries: 2, checkpoint: { size: 4 }, latest: { size: 6 } });
      await expect(verifyEvidence(out, [nowKey])).resolves.toMatchObject({ ok: true, entries: 2 });
      const e = await rejection(verifyEvidence(out, [parseVerifierKey(old.verifierKey)]));
      expect(e.message).toMatch(/^manifest:/);
    } finally {
      await rotated.close();
    }
  });
});
