import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isModelsealError, ModelsealError } from '../../src/errors.js';
import { encodeEvent, exportEvents } from '../../src/log/events.js';
import type { LogStore } from '../../src/log/store.js';
import { seal } from '../../src/package/seal.js';
import { detBytes, makeKeys } from '../support/fixtures.js';
import { auditLog } from '../../src/log/audit.js';
import { parseProof, verifyProof } from '../../src/log/checkpoint.js';
import { FileStore } from '../../src/log/filestore.js';
import { TransparencyLog } from '../../src/log/log.js';
import { leafHash, nodeHash, storedCount, storedIndex, verifyConsistency, treeHash, HASH_SIZE } from '../../src/log/merkle.js';
import { NoteSigner, parseVerifierKey } from '../../src/log/note.js';

const root = mkdtempSync(join(tmpdir(), 'modelseal-tlog-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const newDir = () => join(root, `log${dirs++}`);
const signer = NoteSigner.generate('modelseal.test/releases');
const verifier = parseVerifierKey(signer.verifierKey);
/** Sequential appends in these tests need not wait for company. */
const FAST = { commitIntervalMs: 0 };
const entry = (i: number) => Buffer.from(JSON.stringify({ event: 'release', request: `r${i}`, recipient: `org-${i % 7}` }));

async function filled(n: number, dir = newDir()) {
  const log = new TransparencyLog(FileStore.open(dir), signer, FAST);
  const receipts = await Promise.all(Array.from({ length: n }, (_, i) => log.append(entry(i))));
  return { dir, log, receipts };
}

/** The Merkle tree hash of a full tile's 256 hashes. */
function tileRoot(tile: Buffer): Buffer {
  let level = Array.from({ length: 256 }, (_, i) => tile.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE));
  while (level.length > 1) level = Array.from({ length: level.length / 2 }, (_, i) => nodeHash(level[2 * i]!, level[2 * i + 1]!));
  return level[0]!;
}

async function expectCode(p: Promise<unknown> | (() => unknown), code: string) {
  let err: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    err = e;
  }
  expect(isModelsealError(err) ? err.code : err).toBe(code);
}

describe('file-backed transparency log', () => {
  it('commits concurrent appends in groups, each with a receipt that verifies offline', async () => {
    const { log, receipts } = await filled(1000);
    expect(receipts.map((r) => r.index).sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    receipts.forEach((r) => expect(verifyProof(r.proof, entry(r.index), verifier).index).toBe(r.index));
    // A receipt carries its entry: it verifies alone, and not for another entry.
    expect(verifyProof(receipts[7]!.proof, undefined, verifier).entry.equals(entry(receipts[7]!.index))).toBe(true);
    expect(() => verifyProof(receipts[7]!.proof, entry(receipts[7]!.index + 1), verifier)).toThrow(/differs from the entry the proof carries/);
    const checkpoints: string[] = [];
    for await (const c of log.store.checkpoints()) checkpoints.push(c);
    // Group commit: far fewer checkpoints than entries, and the receipts name only stored ones.
    expect(checkpoints.length).toBeLessThan(100);
    expect(new Set(receipts.map((r) => r.checkpoint)).size).toBe(checkpoints.length);
    expect(await auditLog(log.store, verifier)).toMatchObject({ ok: true, size: 1000, entriesChecked: 1000, checkpoints: checkpoints.length });
    await log.close();
  });

  it('under steady load, commits (and so checkpoints) are at least commitIntervalMs apart', async () => {
    const log = new TransparencyLog(FileStore.open(newDir()), signer, { commitIntervalMs: 20 });
    const start = performance.now();
    const appends: Array<Promise<unknown>> = [];
    for (let i = 0; i < 200; i++) {
      appends.push(log.append(entry(i)));
      await new Promise((r) => setTimeout(r, 1));
    }
    await Promise.all(appends);
    const elapsed = performance.now() - start;
    let checkpoints = 0;
    for await (const _ of log.store.checkpoints()) checkpoints++;
    expect(checkpoints).toBeGreaterThan(1);
    expect(checkpoints).toBeLessThanOrEqual(Math.ceil(elapsed / 20) + 1);
    await log.close();
  });

  it('reopens with the same tree; later receipts and consistency proofs extend it', async () => {
    const { dir, log, receipts } = await filled(300);
    const before = log.checkpoint;
    await log.close();
    const again = new TransparencyLog(FileStore.open(dir), signer, FAST);
    expect(again.size).toBe(300);
    expect(again.checkpoint).toBe(before);
    const r = await again.append(entry(300));
    expect(r.index).toBe(300);
    const old = parseProof(receipts[0]!.proof);
    const oldSize = Number(old.checkpoint.split('\n')[1]);
    const oldRoot = Buffer.from(old.checkpoint.split('\n')[2]!, 'base64');
    const proof = await again.consistency(oldSize, 301);
    expect(verifyConsistency(oldSize, 301, proof, oldRoot, await treeHash(301, again.store.readHashes))).toBe(true);
    expect(verifyProof((await again.receipt(5)).proof, entry(5), verifier).checkpoint.size).toBe(301);
    await again.close();
  });

  it('cuts off what a crash left beyond the last complete checkpoint', async () => {
    const { dir, log } = await filled(50);
    const checkpoint = log.checkpoint;
    await log.close();
    appendFileSync(join(dir, 'entries'), Buffer.from('\x00\x05hello'));
    appendFileSync(join(dir, 'offsets'), Buffer.alloc(8));
    appendFileSync(join(dir, 'hashes'), Buffer.alloc(3 * HASH_SIZE));
    appendFileSync(join(dir, 'checkpoints'), Buffer.from([0, 0, 1, 0, 65, 66])); // a torn record
    const again = new TransparencyLog(FileStore.open(dir), signer, FAST);
    expect(again.size).toBe(50);
    expect(again.checkpoint).toBe(checkpoint);
    expect((await again.append(entry(50))).index).toBe(50);
    expect(await auditLog(again.store, verifier)).toMatchObject({ ok: true, size: 51 });
    await again.close();
  });

  it('refuses a store whose files are shorter than its checkpoint', async () => {
    const { dir, log } = await filled(20);
    await log.close();
    writeFileSync(join(dir, 'hashes'), readFileSync(join(dir, 'hashes')).subarray(0, HASH_SIZE * 5));
    await expectCode(() => FileStore.open(dir), 'LOG_INVALID');
  });

  it('one writer: a second open is refused while the first holds the lock; a dead holder is taken over', async () => {
    const { dir, log } = await filled(3);
    await expectCode(() => FileStore.open(dir), 'LOG_UNAVAILABLE');
    await log.close();
    const sleeper = spawn('sleep', ['30']);
    try {
      writeFileSync(join(dir, 'LOCK'), `${sleeper.pid}\n`);
      await expectCode(() => FileStore.open(dir), 'LOG_UNAVAILABLE');
    } finally {
      sleeper.kill();
    }
    await new Promise((r) => sleeper.once('exit', r));
    const store = FileStore.open(dir);
    expect(store.size).toBe(3);
    await store.close();
  });

  it('serves C2SP tiles and entry bundles', async () => {
    const { log } = await filled(70_000);
    // Level 0: leaf hashes; level 1: each hash is the root of a full level-0 tile.
    const t0 = (await log.tile(0, 3))!;
    expect(t0.subarray(0, HASH_SIZE).equals(leafHash(entry(768)))).toBe(true);
    const t1 = (await log.tile(1, 0))!;
    expect(t1.subarray(3 * HASH_SIZE, 4 * HASH_SIZE).equals(tileRoot(t0))).toBe(true);
    // 70,000 entries: 273 full level-0 tiles, a partial one of 112, level 1 partial of 17, level 2 of 1.
    expect(await log.tile(0, 273, 112)).not.toBeNull();
    expect(await log.tile(0, 273, 113)).toBeNull();
    expect((await log.tile(1, 1, 17))!.length).toBe(17 * HASH_SIZE);
    expect(await log.tile(1, 1, 18)).toBeNull();
    expect((await log.tile(2, 0, 1))!.equals(tileRoot(t1))).toBe(true);
    const bundle = (await log.entryBundle(273, 112))!;
    expect(bundle.readUInt16BE(0)).toBe(entry(69_888).length);
    expect(bundle.subarray(2, 2 + entry(69_888).length).equals(entry(69_888))).toBe(true);
    expect(await log.entryBundle(273, 113)).toBeNull();
    expect(log.store.size).toBe(70_000);
    expect(await auditLog(log.store, verifier)).toMatchObject({ ok: true, size: 70_000 });
    await log.close();
  });
});

describe('fail closed', () => {
  /** A store whose disk fails on the next `failures` appends. */
  function failing(inner: LogStore, failures: number): LogStore {
    return new Proxy(inner, {
      get(target, prop) {
        if (prop === 'append') {
          return (...args: Parameters<LogStore['append']>) =>
            failures-- > 0 ? Promise.reject(new ModelsealError('LOG_UNAVAILABLE', 'disk full')) : target.append(...args);
        }
        const v = Reflect.get(target, prop);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
  }

  it('every append of a failed commit is refused and leaves no trace; the log goes on afterwards', async () => {
    // The first append commits alone (the log was idle); the next two share the second commit.
    const log = new TransparencyLog(failing(FileStore.open(newDir()), 2), signer, FAST);
    const first = await Promise.allSettled([0, 1, 2].map((i) => log.append(entry(i))));
    expect(first.map((r) => r.status === 'rejected' && isModelsealError(r.reason, 'LOG_UNAVAILABLE'))).toEqual([true, true, true]);
    expect(log.size).toBe(0);
    const r = await log.append(entry(3));
    expect(r.index).toBe(0);
    expect(verifyProof(r.proof, entry(3), verifier).checkpoint.size).toBe(1);
    await log.close();
  });

  it('a package whose export cannot be logged is not written', async () => {
    const keys = makeKeys();
    const src = join(root, 'weights.bin');
    writeFileSync(src, detBytes(300_000));
    const log = new TransparencyLog(failing(FileStore.open(newDir()), 1), signer, FAST);
    const out = join(root, 'refused.mseal');
    await expectCode(
      seal({
        input: src,
        output: out,
        recipients: [keys.local],
        publisher: keys.publisher,
        beforeCommit: async (r) => {
          for (const e of exportEvents(r)) await log.append(encodeEvent(e));
        },
      }),
      'LOG_UNAVAILABLE',
    );
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(root).filter((f) => f.includes('refused'))).toEqual([]);
    await log.close();
  });
});

describe('audit finds what was changed', () => {
  it('an entry edited in place', async () => {
    const { dir, log } = await filled(600);
    await log.close();
    const entries = readFileSync(join(dir, 'entries'));
    const at = entries.indexOf('"r417"');
    entries[at + 2] = '8'.charCodeAt(0);
    writeFileSync(join(dir, 'entries'), entries);
    const store = FileStore.open(dir);
    expect((await auditLog(store, verifier)).problem).toMatchObject({ kind: 'entry', index: 417 });
    await store.close();
  });

  it('a stored interior hash', async () => {
    const { dir, log } = await filled(600);
    await log.close();
    const hashes = readFileSync(join(dir, 'hashes'));
    hashes[HASH_SIZE * storedIndex(3, 20) + 7]! ^= 1;
    writeFileSync(join(dir, 'hashes'), hashes);
    const store = FileStore.open(dir);
    expect((await auditLog(store, verifier)).problem).toMatchObject({ kind: 'hash', index: storedIndex(3, 20) });
    await store.close();
  });

  it('entries and hashes rewritten consistently: the signed checkpoints expose it', async () => {
    const { dir, log } = await filled(200);
    await log.close();
    // A forger rebuilds the tree with entry 150 changed but cannot sign for the log.
    const forged = newDir();
    const other = new TransparencyLog(FileStore.open(forged), NoteSigner.generate(signer.name), FAST);
    for (let i = 0; i < 200; i++) await other.append(i === 150 ? Buffer.from('{"forged":true}') : entry(i));
    await other.close();
    for (const f of ['entries', 'offsets', 'hashes']) writeFileSync(join(dir, f), readFileSync(join(forged, f)));
    const store = FileStore.open(dir);
    const report = await auditLog(store, verifier);
    expect(report.ok).toBe(false);
    expect(report.problem).toMatchObject({ kind: 'checkpoint' });
    expect(report.problem!.message).toMatch(/does not match the logged entries/);
    expect(report.entriesChecked).toBeGreaterThan(150);
    await store.close();
  });

  it('a checkpoint with a forged signature', async () => {
    const { dir, log } = await filled(40);
    await log.close();
    const file = readFileSync(join(dir, 'checkpoints'));
    const at = file.indexOf('\u2014 ') + 40;
    file[at] = file[at] === 65 ? 66 : 65;
    writeFileSync(join(dir, 'checkpoints'), file);
    const store = FileStore.open(dir);
    expect((await auditLog(store, verifier)).problem).toMatchObject({ kind: 'checkpoint', index: 0 });
    await store.close();
  });

  it('a forged signature among hundreds of checkpoints (verified on a worker thread)', async () => {
    const dir = newDir();
    const log = new TransparencyLog(FileStore.open(dir), signer, FAST);
    for (let i = 0; i < 400; i++) await log.append(entry(i));
    await log.close();
    const file = readFileSync(join(dir, 'checkpoints'));
    let at = 0;
    for (let k = 0; k < 250; k++) at += 4 + file.readUInt32BE(at);
    const sig = file.indexOf('\u2014 ', at) + 50;
    file[sig] = file[sig] === 65 ? 66 : 65;
    writeFileSync(join(dir, 'checkpoints'), file);
    const store = FileStore.open(dir);
    const report = await auditLog(store, verifier, { threads: 2 });
    expect(report).toMatchObject({ ok: false, checkpoints: 400, problem: { kind: 'checkpoint', index: 250 } });
    expect(report.problem!.message).toMatch(/signature .* does not verify/);
    await store.close();
  });

  it('needs the log key: another key is refused', async () => {
    const { log } = await filled(5);
    const report = await auditLog(log.store, parseVerifierKey(NoteSigner.generate(signer.name).verifierKey));
    expect(report.problem?.message).toMatch(/not signed by a trusted key/);
    await log.close();
  });

  it('counts the stored hashes the layout promises', async () => {
    const { dir, log } = await filled(1000);
    await log.close();
    expect(readFileSync(join(dir, 'hashes')).length).toBe(HASH_SIZE * storedCount(1000));
  });
});
