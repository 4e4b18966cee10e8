import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { isModelsealError, ModelsealError } from '../../src/errors.js';
import { encodeEvent, exportEvents } from '../../src/log/events.js';
import { MAX_ENTRY_BYTES, type CheckpointSigner, type LogStore } from '../../src/log/store.js';
import { seal } from '../../src/package/seal.js';
import { detBytes, makeKeys } from '../support/fixtures.js';
import { usePostgres } from '../support/postgres.js';
import { auditLog } from '../../src/log/audit.js';
import { formatCheckpoint, parseProof, unverifiedCheckpoint, verifyProof } from '../../src/log/checkpoint.js';
import { FileStore } from '../../src/log/filestore.js';
import { TransparencyLog, type LogReceipt } from '../../src/log/log.js';
import {
  consistencyProof,
  leafHash,
  nodeHash,
  storedCount,
  storedIndex,
  verifyConsistency,
  treeHash,
  HASH_SIZE,
} from '../../src/log/merkle.js';
import { NoteSigner, parseVerifierKey, signNote } from '../../src/log/note.js';
import { PgStore } from '../../src/log/pgstore.js';

const root = mkdtempSync(join(tmpdir(), 'modelseal-tlog-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const newDir = () => join(root, `log${dirs++}`);
const postgres = usePostgres();
const signer = NoteSigner.generate('modelseal.test/releases');
const verifier = parseVerifierKey(signer.verifierKey);
/** Sequential appends in these tests need not wait for company. */
const FAST = { commitIntervalMs: 0 };
const entry = (i: number) =>
  Buffer.from(JSON.stringify({ event: 'release', request: `r${i}`, recipient: `org-${i % 7}` }));

/**
 * A storage backend under test: where a fresh store lives (a folder, a schema), how to open it,
 * and how a forger with write access to the storage (files, SQL) changes it behind the log's back.
 */
interface Backend {
  fresh(): string;
  open(where: string): Promise<LogStore>;
  editEntry(where: string, index: number, edit: (e: Buffer) => Buffer): Promise<void>;
  editHash(where: string, position: number, edit: (h: Buffer) => Buffer): Promise<void>;
  /** Checkpoint number `k`, oldest first. */
  editCheckpoint(where: string, k: number, edit: (note: string) => string): Promise<void>;
  /** Puts the entries and hashes of the store at `from` in place of those at `to`. */
  copyTree(from: string, to: string): Promise<void>;
  hashCount(where: string): Promise<number>;
}

/** The file store's checkpoint records, each a big-endian uint32 length and the note. */
function checkpointRecords(file: Buffer): string[] {
  const out: string[] = [];
  for (let at = 0; at < file.length; at += 4 + file.readUInt32BE(at))
    out.push(file.subarray(at + 4, at + 4 + file.readUInt32BE(at)).toString('utf8'));
  return out;
}

const fileBackend: Backend = {
  fresh: newDir,
  open: async (dir) => FileStore.open(dir),
  async editEntry(dir, index, edit) {
    const entries = readFileSync(join(dir, 'entries'));
    const at = Number(readFileSync(join(dir, 'offsets')).readBigUInt64BE(8 * index));
    const old = entries.subarray(at + 2, at + 2 + entries.readUInt16BE(at));
    const changed = edit(Buffer.from(old));
    expect(changed.length).toBe(old.length); // the offsets stay as they are
    changed.copy(entries, at + 2);
    writeFileSync(join(dir, 'entries'), entries);
  },
  async editHash(dir, position, edit) {
    const hashes = readFileSync(join(dir, 'hashes'));
    edit(Buffer.from(hashes.subarray(HASH_SIZE * position, HASH_SIZE * (position + 1)))).copy(
      hashes,
      HASH_SIZE * position,
    );
    writeFileSync(join(dir, 'hashes'), hashes);
  },
  async editCheckpoint(dir, k, edit) {
    const notes = checkpointRecords(readFileSync(join(dir, 'checkpoints')));
    notes[k] = edit(notes[k]!);
    const records = notes.map((n) => {
      const b = Buffer.from(`\0\0\0\0${n}`, 'utf8');
      b.writeUInt32BE(b.length - 4, 0);
      return b;
    });
    writeFileSync(join(dir, 'checkpoints'), Buffer.concat(records));
  },
  async copyTree(from, to) {
    for (const f of ['entries', 'offsets', 'hashes']) writeFileSync(join(to, f), readFileSync(join(from, f)));
  },
  hashCount: async (dir) => readFileSync(join(dir, 'hashes')).length / HASH_SIZE,
};

const postgresBackend: Backend = {
  fresh: () => postgres.schema(),
  open: (schema) => PgStore.open(postgres.url, { schema }),
  async editEntry(schema, index, edit) {
    const { rows } = await postgres.sql<{ data: Buffer }>(`SELECT data FROM "${schema}".entries WHERE idx = $1`, [
      index,
    ]);
    await postgres.sql(`UPDATE "${schema}".entries SET data = $2 WHERE idx = $1`, [index, edit(rows[0]!.data)]);
  },
  async editHash(schema, position, edit) {
    const { rows } = await postgres.sql<{ hash: Buffer }>(`SELECT hash FROM "${schema}".hashes WHERE idx = $1`, [
      position,
    ]);
    await postgres.sql(`UPDATE "${schema}".hashes SET hash = $2 WHERE idx = $1`, [position, edit(rows[0]!.hash)]);
  },
  async editCheckpoint(schema, k, edit) {
    const { rows } = await postgres.sql<{ size: string; note: string }>(
      `SELECT size, note FROM "${schema}".checkpoints ORDER BY size OFFSET $1 LIMIT 1`,
      [k],
    );
    await postgres.sql(`UPDATE "${schema}".checkpoints SET note = $2 WHERE size = $1`, [
      rows[0]!.size,
      edit(rows[0]!.note),
    ]);
  },
  async copyTree(from, to) {
    for (const t of ['entries', 'hashes']) {
      await postgres.sql(`DELETE FROM "${to}".${t}`);
      await postgres.sql(`INSERT INTO "${to}".${t} SELECT * FROM "${from}".${t}`);
    }
  },
  hashCount: async (schema) =>
    Number((await postgres.sql<{ n: string }>(`SELECT count(*) AS n FROM "${schema}".hashes`)).rows[0]!.n),
};

/** The Merkle tree hash of a full tile's 256 hashes. */
function tileRoot(tile: Buffer): Buffer {
  let level = Array.from({ length: 256 }, (_, i) => tile.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE));
  while (level.length > 1)
    level = Array.from({ length: level.length / 2 }, (_, i) => nodeHash(level[2 * i]!, level[2 * i + 1]!));
  return level[0]!;
}

/** The note with the base64 character at `at` changed (a forged signature of the same length). */
const flipAt = (note: string, at: number) => note.slice(0, at) + (note[at] === 'A' ? 'B' : 'A') + note.slice(at + 1);

async function expectCode(p: Promise<unknown> | (() => unknown), code: string): Promise<ModelsealError> {
  let err: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    err = e;
  }
  expect(isModelsealError(err) ? err.code : err).toBe(code);
  return err as ModelsealError;
}

async function allCheckpoints(store: LogStore): Promise<string[]> {
  const out: string[] = [];
  for await (const c of store.checkpoints()) out.push(c);
  return out;
}

/** A store whose storage fails on the next `failures` appends. */
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

describe.each([
  ['file', fileBackend],
  ['postgres', postgresBackend],
] as const)('%s-backed transparency log', (_name, backend) => {
  async function filled(n: number, where = backend.fresh()) {
    const log = new TransparencyLog(await backend.open(where), signer, FAST);
    const receipts = await Promise.all(Array.from({ length: n }, (_, i) => log.append(entry(i))));
    return { where, log, receipts };
  }

  it('commits concurrent appends in groups, each with a receipt that verifies offline', async () => {
    const { log, receipts } = await filled(1000);
    expect(receipts.map((r) => r.index).sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    receipts.forEach((r) => expect(verifyProof(r.proof, entry(r.index), verifier).index).toBe(r.index));
    // A receipt carries its entry: it verifies alone, and not for another entry.
    expect(verifyProof(receipts[7]!.proof, undefined, verifier).entry.equals(entry(receipts[7]!.index))).toBe(true);
    expect(() => verifyProof(receipts[7]!.proof, entry(receipts[7]!.index + 1), verifier)).toThrow(
      /differs from the entry the proof carries/,
    );
    const checkpoints = await allCheckpoints(log.store);
    // Group commit: far fewer checkpoints than entries, and the receipts name only stored ones.
    expect(checkpoints.length).toBeLessThan(100);
    expect(new Set(receipts.map((r) => r.checkpoint)).size).toBe(checkpoints.length);
    expect(await auditLog(log.store, verifier)).toMatchObject({
      ok: true,
      size: 1000,
      entriesChecked: 1000,
      checkpoints: checkpoints.length,
    });
    await log.close();
  });

  it('under steady load, commits (and so checkpoints) are at least commitIntervalMs apart', async () => {
    const log = new TransparencyLog(await backend.open(backend.fresh()), signer, { commitIntervalMs: 20 });
    const start = performance.now();
    const appends: Promise<unknown>[] = [];
    for (let i = 0; i < 200; i++) {
      appends.push(log.append(entry(i)));
      await new Promise((r) => setTimeout(r, 1));
    }
    await Promise.all(appends);
    const elapsed = performance.now() - start;
    const checkpoints = (await allCheckpoints(log.store)).length;
    expect(checkpoints).toBeGreaterThan(1);
    expect(checkpoints).toBeLessThanOrEqual(Math.ceil(elapsed / 20) + 1);
    await log.close();
  });

  it('reopens with the same tree; later receipts and consistency proofs extend it', async () => {
    const { where, log, receipts } = await filled(300);
    const before = await log.checkpoint;
    await log.close();
    const again = new TransparencyLog(await backend.open(where), signer, FAST);
    expect(again.size).toBe(300);
    expect(await again.checkpoint).toBe(before);
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

  it('refuses an entry over the limit, and reads beyond the log', async () => {
    const { log } = await filled(3);
    await expectCode(
      log.store.append([Buffer.alloc(MAX_ENTRY_BYTES + 1)], async () => 'unused'),
      'INVALID_ARGUMENT',
    );
    await expect(log.store.readEntries(2, 4)).rejects.toThrow(RangeError);
    await expect(log.store.readHashes([storedCount(3)])).rejects.toThrow(RangeError);
    expect((await log.store.readEntries(0, 3)).map(String)).toEqual([0, 1, 2].map((i) => String(entry(i))));
    await log.close();
  });

  it('serves C2SP tiles and entry bundles', async () => {
    // Filled in commits of 4096 straight through the store: receipts are not what this is about.
    const log = new TransparencyLog(await backend.open(backend.fresh()), signer, FAST);
    const sign: CheckpointSigner = ({ size, root }) =>
      signNote(formatCheckpoint({ origin: signer.name, size, root, extensions: [] }), [signer]);
    for (let i = 0; i < 70_000; i += 4096)
      await log.store.append(
        Array.from({ length: Math.min(4096, 70_000 - i) }, (_, k) => entry(i + k)),
        sign,
      );
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

  describe('fail closed', () => {
    it('every append of a failed commit is refused and leaves no trace; the log goes on afterwards', async () => {
      // The first append commits alone (the log was idle); the next two share the second commit.
      const log = new TransparencyLog(failing(await backend.open(backend.fresh()), 2), signer, FAST);
      const first = await Promise.allSettled([0, 1, 2].map((i) => log.append(entry(i))));
      expect(first.map((r) => r.status === 'rejected' && isModelsealError(r.reason, 'LOG_UNAVAILABLE'))).toEqual([
        true,
        true,
        true,
      ]);
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
      const log = new TransparencyLog(failing(await backend.open(backend.fresh()), 1), signer, FAST);
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
      const { where, log } = await filled(600);
      await log.close();
      await backend.editEntry(where, 417, (e) => Buffer.from(e.toString().replace('"r417"', '"r817"')));
      const store = await backend.open(where);
      expect((await auditLog(store, verifier)).problem).toMatchObject({ kind: 'entry', index: 417 });
      await store.close();
    });

    it('a stored interior hash', async () => {
      const { where, log } = await filled(600);
      await log.close();
      await backend.editHash(where, storedIndex(3, 20), (h) => {
        h[7]! ^= 1;
        return h;
      });
      const store = await backend.open(where);
      expect((await auditLog(store, verifier)).problem).toMatchObject({ kind: 'hash', index: storedIndex(3, 20) });
      await store.close();
    });

    it('entries and hashes rewritten consistently: the signed checkpoints expose it', async () => {
      const { where, log } = await filled(200);
      await log.close();
      // A forger rebuilds the tree with entry 150 changed but cannot sign for the log.
      const forged = backend.fresh();
      const other = new TransparencyLog(await backend.open(forged), NoteSigner.generate(signer.name), FAST);
      for (let i = 0; i < 200; i++) await other.append(i === 150 ? Buffer.from('{"forged":true}') : entry(i));
      await other.close();
      await backend.copyTree(forged, where);
      const store = await backend.open(where);
      const report = await auditLog(store, verifier);
      expect(report.ok).toBe(false);
      expect(report.problem).toMatchObject({ kind: 'checkpoint' });
      expect(report.problem!.message).toMatch(/does not match the logged entries/);
      expect(report.entriesChecked).toBeGreaterThan(150);
      await store.close();
    });

    it('a checkpoint with a forged signature', async () => {
      const { where, log } = await filled(40);
      await log.close();
      await backend.editCheckpoint(where, 0, (note) => flipAt(note, note.indexOf('\u2014 ') + 40));
      const store = await backend.open(where);
      expect((await auditLog(store, verifier)).problem).toMatchObject({ kind: 'checkpoint', index: 0 });
      await store.close();
    });

    it('a forged signature among hundreds of checkpoints (verified on a worker thread)', async () => {
      const where = backend.fresh();
      const log = new TransparencyLog(await backend.open(where), signer, FAST);
      for (let i = 0; i < 400; i++) await log.append(entry(i));
      await log.close();
      await backend.editCheckpoint(where, 250, (note) => flipAt(note, note.indexOf('\u2014 ') + 50));
      const store = await backend.open(where);
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
      const { where, log } = await filled(1000);
      await log.close();
      expect(await backend.hashCount(where)).toBe(storedCount(1000));
    });
  });
});

describe('file store only', () => {
  async function filled(n: number, dir = newDir()) {
    const log = new TransparencyLog(FileStore.open(dir), signer, FAST);
    await Promise.all(Array.from({ length: n }, (_, i) => log.append(entry(i))));
    return { dir, log };
  }

  it('cuts off what a crash left beyond the last complete checkpoint', async () => {
    const { dir, log } = await filled(50);
    const checkpoint = await log.checkpoint;
    await log.close();
    appendFileSync(join(dir, 'entries'), Buffer.from('\x00\x05hello'));
    appendFileSync(join(dir, 'offsets'), Buffer.alloc(8));
    appendFileSync(join(dir, 'hashes'), Buffer.alloc(3 * HASH_SIZE));
    appendFileSync(join(dir, 'checkpoints'), Buffer.from([0, 0, 1, 0, 65, 66])); // a torn record
    const again = new TransparencyLog(FileStore.open(dir), signer, FAST);
    expect(again.size).toBe(50);
    expect(await again.checkpoint).toBe(checkpoint);
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
});

describe('PostgreSQL store only', () => {
  /** Appends `n` entries from `log`, in rounds of `round` concurrent ones. */
  async function appendRounds(log: TransparencyLog, entries: Buffer[], round: number): Promise<LogReceipt[]> {
    const out: LogReceipt[] = [];
    for (let i = 0; i < entries.length; i += round)
      out.push(...(await Promise.all(entries.slice(i, i + round).map((e) => log.append(e)))));
    return out;
  }

  it('two replicas appending at once share one log in one total order', async () => {
    const schema = postgres.schema();
    // Both start together on an empty database: one creates the tables, the other waits for it.
    const [a, b] = (await Promise.all([0, 1].map(() => PgStore.open(postgres.url, { schema })))).map(
      (s) => new TransparencyLog(s, signer, FAST),
    );
    const mine = (k: number) => Array.from({ length: 500 }, (_, i) => entry(1000 * (k + 1) + i));
    const [ra, rb] = await Promise.all([appendRounds(a!, mine(0), 20), appendRounds(b!, mine(1), 20)]);
    const indexes = [...ra, ...rb].map((r) => r.index).sort((x, y) => x - y);
    expect(indexes).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    // The replicas' commits interleaved: neither holds one block of indexes.
    const contiguous = (rs: LogReceipt[]) =>
      Math.max(...rs.map((r) => r.index)) - Math.min(...rs.map((r) => r.index)) === rs.length - 1;
    expect(contiguous(ra) && contiguous(rb)).toBe(false);
    for (const [rs, k] of [
      [ra, 0],
      [rb, 1],
    ] as const)
      rs.forEach((r, i) => expect(verifyProof(r.proof, mine(k)[i], verifier).index).toBe(r.index));

    await Promise.all([a!.store.refresh!(), b!.store.refresh!()]);
    expect(a!.size).toBe(1000);
    expect(await b!.checkpoint).toBe(await a!.checkpoint);
    const checkpoints = await allCheckpoints(a!.store);
    expect(new Set([...ra, ...rb].map((r) => r.checkpoint))).toEqual(new Set(checkpoints));
    expect(await auditLog(b!.store, verifier)).toMatchObject({
      ok: true,
      size: 1000,
      entriesChecked: 1000,
      checkpoints: checkpoints.length,
    });
    // Every checkpoint extends the one before it.
    const heads = checkpoints.map(unverifiedCheckpoint);
    for (let k = 1; k < heads.length; k++) {
      const [p, c] = [heads[k - 1]!, heads[k]!];
      expect(c.size).toBeGreaterThan(p.size);
      expect(
        verifyConsistency(p.size, c.size, await consistencyProof(p.size, c.size, a!.store.readHashes), p.root, c.root),
      ).toBe(true);
    }
    await Promise.all([a!.close(), b!.close()]);
  });

  it('a replica appends after what the others committed; it reads it after refresh', async () => {
    const schema = postgres.schema();
    const a = new TransparencyLog(await PgStore.open(postgres.url, { schema }), signer, FAST);
    const b = new TransparencyLog(await PgStore.open(postgres.url, { schema }), signer, FAST);
    for (let i = 0; i < 3; i++) await a.append(entry(i));
    expect(b.size).toBe(0);
    await expect(b.store.readEntries(0, 1)).rejects.toThrow(RangeError);
    // b has not refreshed, but its append takes the committed size from the database.
    const r = await b.append(entry(3));
    expect(r.index).toBe(3);
    expect(verifyProof(r.proof, entry(3), verifier).checkpoint.size).toBe(4);
    expect(b.size).toBe(4);
    expect(a.size).toBe(3);
    await a.store.refresh!();
    expect(a.size).toBe(4);
    expect(await a.checkpoint).toBe(await b.checkpoint);
    expect(String((await a.store.readEntries(3, 4))[0])).toBe(String(entry(3)));
    await Promise.all([a.close(), b.close()]);
  });

  it('a commit that fails (in a statement or at COMMIT) leaves no trace; the log goes on', async () => {
    const schema = postgres.schema();
    const log = new TransparencyLog(await PgStore.open(postgres.url, { schema }), signer, FAST);
    for (let i = 0; i < 5; i++) await log.append(entry(i));
    const state = async () =>
      (
        await postgres.sql(
          `SELECT (SELECT count(*) FROM "${schema}".entries) AS e, (SELECT count(*) FROM "${schema}".hashes) AS h,
                  (SELECT count(*) FROM "${schema}".checkpoints) AS c, (SELECT size FROM "${schema}".head) AS size`,
        )
      ).rows[0];
    const before = await state();
    expect(before).toEqual({ e: '5', h: String(storedCount(5)), c: '5', size: '5' });
    await postgres.sql(
      `CREATE FUNCTION "${schema}".refuse() RETURNS trigger LANGUAGE plpgsql AS ` +
        `$$ BEGIN RAISE EXCEPTION 'injected failure'; END $$`,
    );
    const triggers = [
      // In the checkpoint's INSERT, after the entries and hashes went in.
      `CREATE TRIGGER refuse BEFORE INSERT ON "${schema}".checkpoints FOR EACH ROW EXECUTE FUNCTION ` +
        `"${schema}".refuse()`,
      // At COMMIT itself: everything was written, the commit fails.
      `CREATE CONSTRAINT TRIGGER refuse AFTER UPDATE ON "${schema}".head DEFERRABLE INITIALLY DEFERRED FOR EACH ROW ` +
        `EXECUTE FUNCTION "${schema}".refuse()`,
    ];
    for (const [k, trigger] of triggers.entries()) {
      await postgres.sql(trigger);
      const settled = await Promise.allSettled([0, 1, 2].map((i) => log.append(entry(100 * (k + 1) + i))));
      for (const s of settled) {
        expect(s.status).toBe('rejected');
        const e = (s as PromiseRejectedResult).reason;
        expect(isModelsealError(e, 'LOG_UNAVAILABLE')).toBe(true);
        expect(e.message).toMatch(/injected failure.*nothing was released/);
      }
      expect(await state()).toEqual(before);
      expect(log.size).toBe(5);
      await postgres.sql(`DROP TRIGGER refuse ON "${schema}".${k === 0 ? 'checkpoints' : 'head'}`);
    }
    const r = await log.append(entry(5));
    expect(r.index).toBe(5);
    expect(verifyProof(r.proof, entry(5), verifier).checkpoint.size).toBe(6);
    expect(await auditLog(log.store, verifier)).toMatchObject({ ok: true, size: 6, checkpoints: 6 });
    await log.close();
  });

  it('an unreachable server or a bad URL is LOG_UNAVAILABLE, and the password is never in the message', async () => {
    const password = 'hunter2-s3cret';
    const unreachable = await expectCode(
      PgStore.open(`postgres://modelseal:${password}@127.0.0.1:1/modelseal_test`),
      'LOG_UNAVAILABLE',
    );
    expect(unreachable.message).toMatch(/127\.0\.0\.1:1\/modelseal_test .*ECONNREFUSED/);
    const url = new URL(postgres.url);
    url.password = 'p@ss:word';
    url.pathname = '/no_such_database';
    const noDatabase = await expectCode(PgStore.open(url.href), 'LOG_UNAVAILABLE');
    expect(noDatabase.message).toMatch(/no_such_database/);
    const notUrl = await expectCode(PgStore.open(`modelseal:${password}@127.0.0.1/db`), 'LOG_UNAVAILABLE');
    for (const e of [unreachable, noDatabase, notUrl]) {
      for (const secret of [password, 'p@ss:word', encodeURIComponent('p@ss:word')])
        expect(inspect(e, { depth: 5 })).not.toContain(secret);
    }
    await expectCode(PgStore.open(postgres.url, { schema: 'Robert"); DROP TABLE x; --' }), 'INVALID_ARGUMENT');
  });

  it('refuses to open a log whose head covers rows that are gone', async () => {
    const schema = postgres.schema();
    const log = new TransparencyLog(await PgStore.open(postgres.url, { schema }), signer, FAST);
    for (let i = 0; i < 10; i++) await log.append(entry(i));
    await log.close();
    await postgres.sql(`DELETE FROM "${schema}".entries WHERE idx = 9`);
    const e = await expectCode(PgStore.open(postgres.url, { schema }), 'LOG_INVALID');
    expect(e.message).toMatch(/missing/);
  });

  it('pages through 70,000 checkpoints, oldest first', async () => {
    const schema = postgres.schema();
    await (await PgStore.open(postgres.url, { schema })).close();
    // A log of 70,000 one-entry commits, written straight into the tables (only its shape matters here).
    const n = 70_000;
    const [head, tail] = [`${signer.name}\n`, `\n${Buffer.alloc(HASH_SIZE).toString('base64')}\n\n\u2014 x y\n`];
    await postgres.sql(`INSERT INTO "${schema}".entries SELECT i, '\\x00' FROM generate_series(0, $1 - 1) i`, [n]);
    await postgres.sql(
      `INSERT INTO "${schema}".hashes SELECT i, decode(repeat('00', 32), 'hex') FROM generate_series(0, $1 - 1) i`,
      [storedCount(n)],
    );
    await postgres.sql(`INSERT INTO "${schema}".checkpoints SELECT s, $2 || s || $3 FROM generate_series(1, $1) s`, [
      n,
      head,
      tail,
    ]);
    await postgres.sql(`UPDATE "${schema}".head SET size = $1, checkpoint = $2`, [n, `${head}${n}${tail}`]);
    const store = await PgStore.open(postgres.url, { schema });
    const query = vi.spyOn(store.pool, 'query');
    const sizes: number[] = [];
    for await (const c of store.checkpoints()) sizes.push(unverifiedCheckpoint(c).size);
    expect(sizes.length).toBe(n);
    expect(sizes.every((size, i) => size === i + 1)).toBe(true);
    // A page at a time: no query brought more than a small part of them.
    const pages = await Promise.all(query.mock.results.map((r) => r.value as Promise<{ rows: unknown[] }>));
    expect(pages.length).toBeGreaterThan(10);
    expect(Math.max(...pages.map((p) => p.rows.length))).toBeLessThanOrEqual(n / 10);
    await store.close();
  });
});
