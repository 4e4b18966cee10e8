/**
 * The file backend of the transparency log (the embedded default): four append-only files in a
 * data directory, one writer process at a time.
 *
 *   entries      the entries, each prefixed by its big-endian uint16 length (so a run of them is a
 *                tlog-tiles entry bundle as it is)
 *   offsets      big-endian uint64 start of each entry in `entries`
 *   hashes       the stored subtree hashes, 32 bytes each (merkle.ts layout)
 *   checkpoints  every signed checkpoint, each prefixed by its big-endian uint32 length
 *
 * An append writes and fdatasyncs the first three, then appends and fdatasyncs the checkpoint: the
 * checkpoint record is the commit point. On open, whatever lies beyond the latest complete
 * checkpoint (a crash between the two steps, a torn record) is cut off; it was never acknowledged.
 */
import {
  closeSync,
  fdatasync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ModelsealError } from '../errors.js';
import { writeAllAt } from '../io/atomic.js';
import { unverifiedCheckpoint } from './checkpoint.js';
import { appendLeaves, HASH_SIZE, leafHash, storedCount, type Hash } from './merkle.js';
import { checkEntrySizes, splitBundle, type AppendResult, type CheckpointSigner, type LogStore } from './store.js';

const syncData = promisify(fdatasync);
const FILES = ['entries', 'offsets', 'hashes', 'checkpoints'] as const;
type FileName = (typeof FILES)[number];

function unavailable(message: string, cause?: unknown): ModelsealError {
  return new ModelsealError('LOG_UNAVAILABLE', message, cause === undefined ? undefined : { cause });
}

function damaged(dir: string, message: string): ModelsealError {
  return new ModelsealError(
    'LOG_INVALID',
    `the log store ${dir} is damaged: ${message}; keep it as evidence and restore from a replica or backup`,
  );
}

function readAt(fd: number, length: number, pos: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  for (let at = 0; at < length;) {
    const n = readSync(fd, b, at, length - at, pos + at);
    if (n === 0) throw new ModelsealError('LOG_INVALID', `the log store ends early at byte ${pos + at}`);
    at += n;
  }
  return b;
}

export class FileStore implements LogStore {
  readonly dir: string;
  #fd: Record<FileName, number>;
  #end: Record<FileName, number>;
  #size = 0;
  #checkpoint: string | null = null;
  /** The lock file this writer holds; null for a read-only view. */
  #lock: string | null;
  #busy: Promise<unknown> = Promise.resolve();

  private constructor(dir: string, fd: Record<FileName, number>, lock: string | null) {
    this.dir = dir;
    this.#fd = fd;
    this.#lock = lock;
    this.#end = { entries: 0, offsets: 0, hashes: 0, checkpoints: 0 };
  }

  /** Opens (creating if needed) the store in `dir`, takes its lock and recovers from any crash. */
  static open(dir: string): FileStore {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw unavailable(`cannot create the log directory ${dir}`, e);
    }
    const lock = takeLock(dir);
    const fd: Partial<Record<FileName, number>> = {};
    try {
      for (const f of FILES) {
        closeSync(openSync(join(dir, f), 'a', 0o600));
        fd[f] = openSync(join(dir, f), 'r+');
      }
      const store = new FileStore(dir, fd as Record<FileName, number>, lock);
      store.#recover();
      return store;
    } catch (e) {
      for (const f of FILES) if (fd[f] !== undefined) closeSync(fd[f]);
      releaseLock(lock);
      throw e instanceof ModelsealError ? e : unavailable(`cannot open the log store ${dir}`, e);
    }
  }

  /**
   * A read-only view for an auditor, beside a running writer (no lock, nothing cut off): it covers
   * the latest complete checkpoint, whose entries and hashes were durable before it was written.
   */
  static openReadOnly(dir: string): FileStore {
    const fd: Partial<Record<FileName, number>> = {};
    try {
      for (const f of FILES) fd[f] = openSync(join(dir, f), 'r');
      const store = new FileStore(dir, fd as Record<FileName, number>, null);
      store.#recover();
      return store;
    } catch (e) {
      for (const f of FILES) if (fd[f] !== undefined) closeSync(fd[f]);
      if ((e as NodeJS.ErrnoException).code === 'ENOENT')
        throw unavailable(`${dir} is not a log store (no ${FILES.join(', ')} files)`, e);
      throw e instanceof ModelsealError ? e : unavailable(`cannot open the log store ${dir}`, e);
    }
  }

  get size(): number {
    return this.#size;
  }

  get checkpoint(): string | null {
    return this.#checkpoint;
  }

  /** Finds the latest complete checkpoint and cuts every file back to what it covers. */
  #recover(): void {
    const len = (f: FileName) => fstatSync(this.#fd[f]).size;
    // Checkpoint records, up to the last complete one.
    const all = len('checkpoints');
    let pos = 0;
    let last: string | null = null;
    const head = Buffer.alloc(4);
    while (pos + 4 <= all) {
      readSync(this.#fd.checkpoints, head, 0, 4, pos);
      const n = head.readUInt32BE(0);
      if (pos + 4 + n > all) break;
      last = readAt(this.#fd.checkpoints, n, pos + 4).toString('utf8');
      pos += 4 + n;
    }
    this.#end.checkpoints = pos;
    const size = last === null ? 0 : unverifiedCheckpoint(last).size;
    // The entries, offsets and hashes that checkpoint covers.
    if (len('offsets') < 8 * size)
      throw damaged(
        this.dir,
        `the latest checkpoint covers ${size} entries but only ${Math.floor(len('offsets') / 8)} are stored`,
      );
    let entriesEnd = 0;
    if (size > 0) {
      const lastStart = Number(readAt(this.#fd.offsets, 8, 8 * (size - 1)).readBigUInt64BE(0));
      entriesEnd = lastStart + 2 + readAt(this.#fd.entries, 2, lastStart).readUInt16BE(0);
    }
    const hashesEnd = HASH_SIZE * storedCount(size);
    if (len('entries') < entriesEnd || len('hashes') < hashesEnd)
      throw damaged(this.dir, `files are shorter than the latest checkpoint (size ${size}) needs`);
    this.#end = { entries: entriesEnd, offsets: 8 * size, hashes: hashesEnd, checkpoints: pos };
    if (this.#lock !== null)
      for (const f of FILES) if (len(f) !== this.#end[f]) ftruncateSync(this.#fd[f], this.#end[f]);
    this.#size = size;
    this.#checkpoint = last;
  }

  append(entries: readonly Uint8Array[], sign: CheckpointSigner): Promise<AppendResult> {
    // One append at a time, in call order.
    const run = this.#busy.then(() => this.#append(entries, sign));
    this.#busy = run.catch(() => {});
    return run;
  }

  async #append(entries: readonly Uint8Array[], sign: CheckpointSigner): Promise<AppendResult> {
    checkEntrySizes(entries);
    if (this.#fd.entries < 0) throw unavailable('the log store is closed');
    if (this.#lock === null) throw unavailable(`the log store ${this.dir} is open read-only`);
    const first = this.#size;
    const { stored, root } = await appendLeaves(first, entries.map(leafHash), this.readHashes);
    const size = first + entries.length;
    const records = Buffer.allocUnsafe(entries.reduce((n, e) => n + 2 + e.length, 0));
    const offsets = Buffer.allocUnsafe(8 * entries.length);
    let at = 0;
    entries.forEach((e, i) => {
      offsets.writeBigUInt64BE(BigInt(this.#end.entries + at), 8 * i);
      records.writeUInt16BE(e.length, at);
      records.set(e, at + 2);
      at += 2 + e.length;
    });
    const checkpoint = await sign({ size, root });
    const record = Buffer.from(`\0\0\0\0${checkpoint}`, 'utf8');
    record.writeUInt32BE(record.length - 4, 0);
    const before = { ...this.#end };
    try {
      const data: [FileName, Buffer][] = [
        ['entries', records],
        ['offsets', offsets],
        ['hashes', Buffer.concat(stored)],
      ];
      for (const [f, b] of data) writeAllAt(this.#fd[f], b, this.#end[f]);
      await Promise.all(data.map(([f]) => syncData(this.#fd[f])));
      writeAllAt(this.#fd.checkpoints, record, this.#end.checkpoints);
      await syncData(this.#fd.checkpoints);
    } catch (e) {
      // Nothing was acknowledged: cut the files back so the next append starts clean.
      try {
        for (const f of FILES) ftruncateSync(this.#fd[f], before[f]);
      } catch {
        this.#closeFiles();
      }
      throw unavailable(
        `the log store ${this.dir} could not be written (${(e as NodeJS.ErrnoException).code ?? 'error'}); ` +
          'nothing was released',
        e,
      );
    }
    this.#end.entries += records.length;
    this.#end.offsets += offsets.length;
    this.#end.hashes += HASH_SIZE * stored.length;
    this.#end.checkpoints += record.length;
    this.#size = size;
    this.#checkpoint = checkpoint;
    return { first, size, checkpoint };
  }

  readHashes = async (indexes: readonly number[]): Promise<Hash[]> => {
    const out: Hash[] = [];
    // Consecutive positions (an audit or a tile) are read in one call.
    for (let i = 0; i < indexes.length;) {
      let j = i + 1;
      while (j < indexes.length && indexes[j] === indexes[j - 1]! + 1) j++;
      const start = indexes[i]!;
      if (start < 0 || HASH_SIZE * (start + j - i) > this.#end.hashes)
        throw new RangeError(`stored hash ${start} is beyond the log`);
      const b = readAt(this.#fd.hashes, HASH_SIZE * (j - i), HASH_SIZE * start);
      for (let k = 0; k < j - i; k++) out.push(b.subarray(HASH_SIZE * k, HASH_SIZE * (k + 1)));
      i = j;
    }
    return out;
  };

  async readBundle(from: number, to: number): Promise<Buffer> {
    if (!(from >= 0 && from <= to && to <= this.#size))
      throw new RangeError(`entries [${from}, ${to}) are not in a log of ${this.#size}`);
    if (from === to) return Buffer.alloc(0);
    const offsets = readAt(this.#fd.offsets, 8 * (to - from), 8 * from);
    const start = Number(offsets.readBigUInt64BE(0));
    const end = to === this.#size ? this.#end.entries : Number(readAt(this.#fd.offsets, 8, 8 * to).readBigUInt64BE(0));
    return readAt(this.#fd.entries, end - start, start);
  }

  async readEntries(from: number, to: number): Promise<Buffer[]> {
    const out = splitBundle(await this.readBundle(from, to));
    if (out?.length !== to - from) throw damaged(this.dir, `entries [${from}, ${to}) do not parse`);
    return out;
  }

  async *checkpoints(): AsyncIterable<string> {
    const end = this.#end.checkpoints;
    const block = 1 << 20;
    let buf = Buffer.alloc(0);
    for (let pos = 0; pos < end || buf.length > 0;) {
      if (pos < end && (buf.length < 4 || buf.length < 4 + buf.readUInt32BE(0))) {
        const n = Math.min(block, end - pos);
        buf = Buffer.concat([buf, readAt(this.#fd.checkpoints, n, pos)]);
        pos += n;
        continue;
      }
      if (buf.length < 4 || buf.length < 4 + buf.readUInt32BE(0))
        throw damaged(this.dir, 'a checkpoint record is cut short');
      const n = buf.readUInt32BE(0);
      yield buf.subarray(4, 4 + n).toString('utf8');
      buf = buf.subarray(4 + n);
    }
  }

  async close(): Promise<void> {
    await this.#busy;
    this.#closeFiles();
  }

  #closeFiles(): void {
    if (this.#fd.entries < 0) return;
    for (const f of FILES) closeSync(this.#fd[f]);
    this.#fd = { entries: -1, offsets: -1, hashes: -1, checkpoints: -1 };
    if (this.#lock !== null) releaseLock(this.#lock);
  }
}

/** A lock file holding the writer's pid; a lock left by a dead process is taken over. */
function takeLock(dir: string): string {
  const lock = join(dir, 'LOCK');
  try {
    writeFileSync(lock, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
    return lock;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw unavailable(`cannot lock the log store ${dir}`, e);
  }
  const pid = Number(readFileSync(lock, 'utf8').trim());
  if (pid === process.pid) throw unavailable(`the log store ${dir} is already open in this process`);
  if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) {
    throw unavailable(
      `the log store ${dir} is in use by process ${pid}; ` +
        'stop it first (several servers share one log only through PostgreSQL)',
    );
  }
  writeFileSync(lock, `${process.pid}\n`, { mode: 0o600 });
  return lock;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function releaseLock(lock: string): void {
  try {
    if (readFileSync(lock, 'utf8').trim() === String(process.pid)) unlinkSync(lock);
  } catch {
    // gone already, or not ours: nothing to release
  }
}
