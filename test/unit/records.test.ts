/**
 * The records logged decisions rest on (issue 21, docs/AUDIT.md): policy sets archived before they
 * come into force, snapshot records kept beside their snapshots (and migrated from active.json),
 * a data directory's records read back (recipients by name or by logged pseudonym), and the
 * retention check of `serve --retain`.
 */
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isModelsealError } from '../../src/errors.js';
import { importLists, listsPaths, readActive } from '../../src/compliance/lists/index.js';
import { keepActiveSnapshotRecords, snapshotRecordPath } from '../../src/compliance/lists/records.js';
import { encodeEvent, type LogEvent } from '../../src/log/events.js';
import { createPseudonymKey, loadPseudonymizer } from '../../src/log/pseudonym.js';
import { openLogStore } from '../../src/log/open.js';
import { archivePolicySet, readPolicySet } from '../../src/policy/archive.js';
import { initPolicyDir, PolicyEngine, POLICY_FILES, policySetHash } from '../../src/policy/engine.js';
import { PolicyWatcher } from '../../src/policy/watcher.js';
import { RecipientRegistry } from '../../src/server/recipients.js';
import { openDataRecords } from '../../src/server/records.js';
import { checkRetention, parseRetention, retentionStart } from '../../src/server/retention.js';
import { initKeystore, loadPublisherKey } from '../../src/keystore/keystore.js';
import { signRecordsQuery, type RecordsAnswer } from '../../src/release/records.js';
import {
  recordsRestedOn,
  type PolicySetRecord,
  type RecipientEvidence,
  type SnapshotRecord,
} from '../../src/compliance/records.js';
import { openReleaseService } from '../../src/server/setup.js';
import { tempDir } from '../support/fixtures.js';

const root = tempDir('modelseal-records-');
let n = 0;
const fresh = (what: string) => join(root, `${what}${n++}`);
const CSL_JSON = 'test/fixtures/lists/consolidated.json';
const FTM = 'test/fixtures/lists/opensanctions.ftm.jsonl';
const OWN = 'test/fixtures/lists/own-list.csv';

describe('the archive of policy sets', () => {
  it('keeps the four texts exactly as hashed, leaves an archived set as it is, and checks the hash on reading', async () => {
    const dir = fresh('p');
    await initPolicyDir(dir);
    const engine = await PolicyEngine.load(dir);
    const archive = join(fresh('a'), 'records', 'policy-sets');
    await archivePolicySet(archive, engine, new Date('2030-01-01T00:00:00Z'));
    await archivePolicySet(archive, engine, new Date('2031-01-01T00:00:00Z'));
    const kept = await readPolicySet(archive, engine.hash);
    expect(kept).toEqual({ hash: engine.hash, files: engine.files, inForce: '2030-01-01T00:00:00.000Z' });
    for (const [k, f] of Object.entries(POLICY_FILES))
      expect(kept!.files[k as keyof typeof POLICY_FILES]).toBe(readFileSync(join(dir, f), 'utf8'));
    expect(policySetHash(kept!.files)).toBe(engine.hash);
    expect(await readPolicySet(archive, 'ab'.repeat(32))).toBeNull();
    expect(await readPolicySet(archive, '../../etc/passwd')).toBeNull();
    // A record edited after the fact no longer rehashes: refused, naming the file.
    const file = join(archive, `${engine.hash}.json`);
    writeFileSync(file, readFileSync(file, 'utf8').replace('"licenses": "', '"licenses": " '));
    const e = await readPolicySet(archive, engine.hash).catch((x: unknown) => x);
    expect(isModelsealError(e, 'EVIDENCE_INVALID')).toBe(true);
    expect((e as Error).message).toContain(file);
  });

  it('puts no set in force that cannot be archived: open refuses, a reload keeps the previous set', async () => {
    const dir = fresh('p');
    await initPolicyDir(dir);
    const archive = join(fresh('a'), 'policy-sets');
    // Where nothing can be written, whoever runs the test (root included): a folder under a file.
    const blocker = fresh('file');
    writeFileSync(blocker, '');
    let into = archive;
    const keep = (e: PolicyEngine) => archivePolicySet(into, e);
    let fire: () => void = () => {};
    const errors: unknown[] = [];
    const w = await PolicyWatcher.open(dir, (e) => errors.push(e), {
      archive: keep,
      trigger: (_d, f) => ((fire = f), () => {}),
    });
    const first = w.engine.hash;
    expect(existsSync(join(archive, `${first}.json`))).toBe(true);
    const file = join(dir, POLICY_FILES.licenses);
    writeFileSync(file, JSON.stringify({ licenses: [] }));
    into = join(blocker, 'policy-sets');
    fire();
    await w.current();
    expect(w.engine.hash).toBe(first);
    expect(w.status).toMatchObject({ status: 'invalid', hash: first });
    expect(w.status.error).toMatch(/cannot archive policy set/);
    await expect(PolicyWatcher.open(dir, () => {}, { archive: keep })).rejects.toThrow(/cannot archive/);
    // Looked at again at every poll while it fails, and reported once.
    fire();
    await w.current();
    expect(w.engine.hash).toBe(first);
    expect(errors).toHaveLength(1);
    into = archive;
    // Writable again: the same files are looked at again, archived, and in force.
    fire();
    await w.current();
    expect(w.status.status).toBe('ok');
    expect(w.engine.hash).not.toBe(first);
    expect(JSON.parse(readFileSync(join(archive, `${w.engine.hash}.json`), 'utf8'))).toMatchObject({
      files: { licenses: JSON.stringify({ licenses: [] }) },
    });
    w.close();
  });
});

describe('snapshot records', () => {
  it('are kept beside each snapshot, never overwritten by a later import of the source', async () => {
    const data = fresh('d');
    const first = await importLists(data, [CSL_JSON], { now: () => new Date('2030-01-01T00:00:00Z') });
    const second = await importLists(data, [OWN], { source: 'csl', now: () => new Date('2030-02-01T00:00:00Z') });
    expect(second.digest).not.toBe(first.digest);
    await importLists(data, [CSL_JSON], { maxAgeDays: 30, now: () => new Date('2030-03-01T00:00:00Z') });
    const records = await openDataRecords(data);
    // The first snapshot is in force again, its record as the first import made it.
    expect(await records.snapshot(`csl@${first.digest}`)).toEqual({
      ref: `csl@${first.digest}`,
      source: 'csl',
      digest: first.digest,
      entries: 16,
      names: first.names,
      imported: '2030-01-01T00:00:00.000Z',
      maxAgeDays: 7,
      files: first.files,
      skipped: 0,
    });
    expect(await records.snapshot(`csl@${second.digest}`)).toMatchObject({
      imported: '2030-02-01T00:00:00.000Z',
      entries: second.entries,
      files: [{ name: OWN }],
    });
    // No record under another source's name, nor for a snapshot that is not kept.
    expect(await records.snapshot(`opensanctions@${first.digest}`)).toBeNull();
    expect(await records.snapshot(`csl@sha256:${'0'.repeat(64)}`)).toBeNull();
    expect(await records.snapshot('csl')).toBeNull();
  });

  it('migrates a data directory of an earlier version: the snapshots in force get their records from active.json', async () => {
    const data = fresh('d');
    const old = await importLists(data, [FTM], { now: () => new Date('2029-06-01T00:00:00Z') });
    // As an earlier version left it: the snapshot and active.json, no record.
    rmSync(snapshotRecordPath(data, old.digest));
    const records = await openDataRecords(data);
    expect(await records.snapshot(`opensanctions@${old.digest}`)).toMatchObject({
      imported: '2029-06-01T00:00:00.000Z',
    });
    // The next import of the source keeps the record of the one it replaces.
    await importLists(data, [OWN], { source: 'opensanctions', now: () => new Date('2030-01-01T00:00:00Z') });
    expect((await readActive(data)).sources.opensanctions!.digest).not.toBe(old.digest);
    expect(await records.snapshot(`opensanctions@${old.digest}`)).toMatchObject({
      imported: '2029-06-01T00:00:00.000Z',
      entries: old.entries,
    });
    expect(await keepActiveSnapshotRecords(data)).toBe(0);
    expect(readdirSync(listsPaths(data).snapshots).filter((f) => f.endsWith('.jsonl'))).toHaveLength(2);
  });
});

describe('openDataRecords', () => {
  it('finds recipients by name or by logged pseudonym, revoked ones too; a pseudonym names no one', async () => {
    const data = fresh('d');
    const registry = new RecipientRegistry(join(data, 'recipients'));
    const key = () => generateKeyPairSync('ed25519').publicKey;
    await registry.register('acme-labs', { org: 'Acme Labs GmbH', country: 'DE', nationalities: ['DE'] }, key());
    await registry.register('beta-corp', { org: 'Beta Corp', country: 'FR' }, key());
    await registry.revoke('beta-corp');
    const keyFile = join(data, 'pseudonym.key');
    await createPseudonymKey(keyFile);
    const p = await loadPseudonymizer(keyFile);
    const records = await openDataRecords(data, { pseudonyms: p });
    expect(await records.recipient('acme-labs')).toMatchObject({
      name: 'acme-labs',
      org: 'Acme Labs GmbH',
      nationalities: ['DE'],
    });
    const beta = await records.recipient(p.of('beta-corp'));
    expect(beta).toMatchObject({ name: p.of('beta-corp'), country: 'FR', certificate: null });
    expect(beta!.revoked).not.toBeNull();
    expect(JSON.stringify(beta)).not.toContain('beta-corp');
    // A recipient registered after the records were opened is found too.
    await registry.register('gamma', { org: 'Gamma', country: 'JP' }, key());
    expect(await records.recipient(p.of('gamma'))).toMatchObject({ country: 'JP' });
    expect(await records.recipient(p.of('nobody'))).toBeNull();
    expect(await records.recipient('nobody')).toBeNull();
    expect(await records.recipient('../keys/x')).toBeNull();
    // Without the key, a pseudonym finds nothing.
    expect(await (await openDataRecords(data)).recipient(p.of('acme-labs'))).toBeNull();
  });
});

describe('the retention check (serve --retain)', () => {
  it('parses whole years, months and days and counts them back by the calendar', () => {
    const now = new Date('2031-03-31T12:00:00Z');
    expect(retentionStart(parseRetention('5y'), now).toISOString()).toBe('2026-03-31T12:00:00.000Z');
    expect(retentionStart(parseRetention('18mo'), now).toISOString()).toBe('2029-10-01T12:00:00.000Z');
    expect(retentionStart(parseRetention('400d'), now).toISOString()).toBe('2030-02-24T12:00:00.000Z');
    for (const bad of ['5', 'y', '0d', '-1y', '5 years', '1.5y', '101y', ''])
      expect(() => parseRetention(bad)).toThrow(/--retain/);
  });

  it('names every record the entries of the period rest on that is not kept, and only those', async () => {
    const data = fresh('d');
    await initPolicyDir(join(data, 'policy'));
    const engine = await PolicyEngine.load(join(data, 'policy'));
    await archivePolicySet(join(data, 'records', 'policy-sets'), engine);
    const list = await importLists(data, [CSL_JSON]);
    await new RecipientRegistry(join(data, 'recipients')).register(
      'acme-labs',
      { org: 'Acme', country: 'DE' },
      generateKeyPairSync('ed25519').publicKey,
    );
    const lost = { set: 'ab'.repeat(32), ref: `csl@sha256:${'cd'.repeat(32)}` };
    const release = (time: string, policySet: string, lists: string[], recipient: string | null, cert = 'c') =>
      ({
        v: 1,
        type: 'release',
        time,
        recipient,
        certificate: recipient ? cert : null,
        policySet,
        screening: { decision: 'clear', lists, stale: [], best: null },
      }) as unknown as LogEvent;
    const store = await openLogStore(join(data, 'log'));
    const events = [
      release('2020-01-01T00:00:00Z', 'ef'.repeat(32), [], 'gone-before-the-period'),
      release('2030-01-01T00:00:00Z', engine.hash, [`csl@${list.digest}`], 'acme-labs'),
      release('2030-01-02T00:00:00Z', lost.set, [lost.ref], 'ghost'),
      release('2030-01-03T00:00:00Z', engine.hash, [], 'unknown-name', null as unknown as string),
      release('2030-01-04T00:00:00Z', lost.set, [lost.ref], 'ghost'),
    ];
    await store.append(
      events.map((e) => encodeEvent(e)),
      () => Promise.resolve('note'),
    );
    const records = await openDataRecords(data);
    const r = await checkRetention(store, records, parseRetention('5y'), new Date('2031-01-01T00:00:00Z'));
    expect(r).toEqual({
      period: '5y',
      since: '2026-01-01T00:00:00.000Z',
      complete: false,
      missing: [
        { kind: 'policy-set', id: lost.set, entry: 2, problem: 'missing' },
        { kind: 'recipient', id: 'ghost', entry: 2, problem: 'missing' },
        { kind: 'snapshot', id: lost.ref, entry: 2, problem: 'missing' },
      ],
    });
    // A period with no entry in it rests on nothing.
    const none = await checkRetention(store, records, parseRetention('1d'), new Date('2030-01-05T12:00:00Z'));
    expect(none).toEqual({ period: '1d', since: '2030-01-04T12:00:00.000Z', complete: true, missing: [] });
    await store.close();
  });
});

describe('a release service over a data directory of an earlier version, pseudonymised', () => {
  it('migrates the snapshot records, archives the set in force, answers records by pseudonym, and checks retention', async () => {
    const base = fresh('svc');
    const [keys, data] = [join(base, 'keys'), join(base, 'data')];
    await initKeystore(keys, { logOrigin: 'records.test/log' });
    const list = await importLists(data, [CSL_JSON], { now: () => new Date('2029-01-01T00:00:00Z') });
    rmSync(snapshotRecordPath(data, list.digest)); // as an earlier version left it
    await new RecipientRegistry(join(data, 'recipients')).register(
      'acme-labs',
      { org: 'Acme', country: 'DE' },
      generateKeyPairSync('ed25519').publicKey,
    );
    const setup = await openReleaseService(data, keys, {
      pseudonymKey: join(base, 'pseudonym.key'),
      retain: '18mo',
      commitIntervalMs: 0,
      geoip: null,
    });
    try {
      expect(existsSync(snapshotRecordPath(data, list.digest))).toBe(true);
      const hash = setup.policy.engine.hash;
      expect(existsSync(join(data, 'records', 'policy-sets', `${hash}.json`))).toBe(true);
      expect(setup.service.info().retention).toMatchObject({ period: '18mo', complete: true, missing: [] });
      const p = await loadPseudonymizer(join(base, 'pseudonym.key'));
      const publisher = await loadPublisherKey(join(keys, 'publisher.key'));
      const want = { policySets: [hash], snapshots: [`csl@${list.digest}`], recipients: [p.of('acme-labs')] };
      const reply = await setup.service.answerRecords(
        await signRecordsQuery({ v: 1, want, time: new Date().toISOString() }, publisher.signer),
      );
      expect(reply.status).toBe(200);
      const body = reply.body as RecordsAnswer<PolicySetRecord, SnapshotRecord, RecipientEvidence>;
      expect(policySetHash(body.policySets[hash]!.files)).toBe(hash);
      expect(body.snapshots[`csl@${list.digest}`]).toMatchObject({ imported: '2029-01-01T00:00:00.000Z' });
      expect(body.recipients[p.of('acme-labs')]).toMatchObject({ name: p.of('acme-labs'), org: 'Acme' });
      expect(JSON.stringify(body.recipients)).not.toContain('acme-labs');
    } finally {
      await setup.close();
    }
  });
});

describe('what a logged decision rests on (audit export and serve --retain ask the same)', () => {
  const release = (over: Partial<Extract<LogEvent, { type: 'release' }>>): LogEvent => ({
    v: 1,
    type: 'release',
    time: '2026-12-05T12:00:00Z',
    request: 'r',
    recipient: 'acme-labs',
    org: 'Acme Labs',
    country: 'DE',
    certificate: 'c'.repeat(64),
    artifact: `sha256:${'a'.repeat(64)}`,
    package: 'p',
    license: 'EAR-1',
    decision: 'allow',
    reason: 'licensed',
    policies: ['licensed-release'],
    policySet: 'f'.repeat(64),
    ip: '127.0.0.1',
    destination: 'DE',
    nonce: 'n',
    screening: { decision: 'clear', lists: [`own@sha256:${'b'.repeat(64)}`], stale: [], best: null },
    classification: {
      record: `sha256:${'d'.repeat(64)}`,
      usEar: '4E091',
      rulePacks: [],
      licenseRequired: true,
      licenseRequiredObserved: true,
    },
    ...over,
  });
  const kinds = (e: LogEvent) => recordsRestedOn(e).map((r) => r.kind);

  it('an allowed release: policy set, recipient, snapshots, classification', () => {
    expect(kinds(release({}))).toEqual(['policy-set', 'recipient', 'snapshot', 'classification']);
  });

  it('a request from an unknown identity names no recipient record; a denial not about licensing needs no classification', () => {
    const unknown = release({ decision: 'deny', reason: 'unknown-identity', certificate: null, screening: undefined });
    expect(kinds(unknown)).toEqual(['policy-set']);
    expect(kinds(release({ decision: 'deny', reason: 'destination-not-licensed' }))).toEqual([
      'policy-set',
      'recipient',
      'snapshot',
    ]);
    expect(kinds(release({ decision: 'deny', reason: 'license-required' }))).toContain('classification');
  });
});
