/**
 * The PostgreSQL backend of the transparency log: several processes (server replicas) share one
 * log, in one total order. Four tables in a schema of their own (default `modelseal`):
 *
 *   entries      (idx bigint PK, data bytea)   entry number idx
 *   hashes       (idx bigint PK, hash bytea)   stored hash number idx, 32 bytes (merkle.ts layout)
 *   checkpoints  (size bigint PK, note text)   every signed checkpoint, by the tree size it signs
 *   head         one row (size, checkpoint)    the committed tree head
 *
 * An append is one transaction: lock the head row (SELECT … FOR UPDATE: appends from every process
 * queue on it), take the committed size from it, read that tree's right edge, insert the entries,
 * their hashes and the signed checkpoint, move the head, COMMIT. COMMIT is the commit point
 * (synchronous_commit on: in the WAL on disk when it returns); a transaction that fails leaves
 * nothing. If the connection drops during COMMIT itself, the append is refused although it may
 * have committed: an entry may then be logged for a key that was not released, never the reverse.
 *
 * `size` and `checkpoint` are the head as this process last saw it (opening, its own appends,
 * `refresh`); reads never go beyond it. The driver, `pg`, is loaded only when a store is opened.
 */
import type { Pool, PoolClient } from 'pg';
import { invalidArgument, ModelsealError } from '../errors.js';
import { unverifiedCheckpoint } from './checkpoint.js';
import { appendLeaves, HASH_SIZE, leafHash, storedCount, type Hash } from './merkle.js';
import {
  checkEntrySizes,
  encodeBundle,
  MAX_ENTRY_BYTES,
  type AppendResult,
  type CheckpointSigner,
  type LogStore,
} from './store.js';

let driver: Promise<typeof import('pg')> | undefined;
const loadDriver = () => (driver ??= import('pg'));

/** Checkpoints per page of `checkpoints()`. */
const CHECKPOINT_PAGE = 1000;
/** Runs of stored hashes at least this long are read as ranges; shorter ones position by position. */
const LONG_RUN = 16;
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

type Queryable = Pick<Pool, 'query'>;
/** Runs of consecutive stored-hash positions, [lo[k], hi[k]) each. */
interface Runs {
  lo: number[];
  hi: number[];
}
interface QueuedRead {
  runs: Runs;
  resolve: (hashes: Hash[]) => void;
  reject: (e: unknown) => void;
}

export interface PgStoreOptions {
  /** The schema holding the log's tables, created if missing (default `modelseal`). */
  schema?: string;
}

/** Where a URL points, for messages: host, port and database, never the password. */
function describeUrl(url: string): { where: string; secrets: string[] } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    u = new URL('invalid:');
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw new ModelsealError(
      'LOG_UNAVAILABLE',
      'the log store URL is not a PostgreSQL URL: expected postgres://user[:password]@host[:port]/database',
    );
  }
  const host = u.hostname || u.searchParams.get('host') || 'localhost';
  const where = `${host}:${u.port || '5432'}${u.pathname.length > 1 ? u.pathname : ''}`;
  const secrets = u.password ? [u.password, safeDecode(u.password)] : [];
  return { where, secrets };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function why(e: unknown): string {
  if (e instanceof AggregateError && e.errors.length > 0) return why(e.errors[0]);
  if (e instanceof Error) return e.message || (e as NodeJS.ErrnoException).code || e.name;
  return String(e);
}

export class PgStore implements LogStore {
  /** The connection pool: other modules may keep their own tables in the same database. */
  readonly pool: Pool;
  /** The schema holding the log's tables. */
  readonly schema: string;
  readonly #where: string;
  readonly #secrets: string[];
  #size = 0;
  #checkpoint: string | null = null;
  #busy: Promise<unknown> = Promise.resolve();
  #queuedReads: QueuedRead[] = [];
  #closing: Promise<void> | undefined;

  private constructor(pool: Pool, schema: string, described: { where: string; secrets: string[] }) {
    this.pool = pool;
    this.schema = schema;
    this.#where = described.where;
    this.#secrets = described.secrets;
  }

  /**
   * Connects to the database at `url`, creates the log's tables if they are missing and reads the
   * committed head. Throws LOG_UNAVAILABLE when the server cannot be reached or used, LOG_INVALID
   * when the stored head has lost the rows it covers.
   */
  static async open(url: string, opts: PgStoreOptions = {}): Promise<PgStore> {
    const schema = opts.schema ?? 'modelseal';
    if (!SCHEMA_NAME.test(schema))
      throw invalidArgument(
        'schema',
        'a lower-case SQL name (a-z, 0-9, _, not starting with a digit), at most 63 characters',
      );
    const described = describeUrl(url);
    const { Pool } = await loadDriver();
    const pool = new Pool({
      connectionString: url,
      connectionTimeoutMillis: 10_000,
      keepAlive: true,
      // A replica that stalls inside an append must not hold the head lock for ever.
      idle_in_transaction_session_timeout: 60_000,
      application_name: 'modelseal',
    });
    // An idle connection closed by the server: the next query opens another.
    pool.on('error', () => {});
    const store = new PgStore(pool, schema, described);
    try {
      await store.#createTables();
      await store.#readHead(true);
      return store;
    } catch (e) {
      await pool.end().catch(() => {});
      if (e instanceof ModelsealError) throw e;
      throw store.#unavailable(
        `cannot open the log (schema ${schema}) in PostgreSQL at ${described.where}`,
        e,
        'check that the server runs and the URL is right',
      );
    }
  }

  get size(): number {
    return this.#size;
  }

  get checkpoint(): string | null {
    return this.#checkpoint;
  }

  #t(table: 'entries' | 'hashes' | 'checkpoints' | 'head'): string {
    return `"${this.schema}".${table}`;
  }

  async #createTables(): Promise<void> {
    const exists = await this.pool.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [this.#t('head')]);
    if (exists.rows[0]?.t) return;
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      // Replicas starting together would race on the catalog: one creates, the others wait.
      await client.query("SELECT pg_advisory_xact_lock(hashtext('modelseal log ' || $1))", [this.schema]);
      await client.query(`CREATE SCHEMA IF NOT EXISTS "${this.schema}"`);
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${this.#t('entries')} (idx bigint PRIMARY KEY, data bytea NOT NULL CHECK (length(data) <= ${MAX_ENTRY_BYTES}))`,
      );
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${this.#t('hashes')} (idx bigint PRIMARY KEY, hash bytea NOT NULL CHECK (length(hash) = ${HASH_SIZE}))`,
      );
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${this.#t('checkpoints')} (size bigint PRIMARY KEY, note text NOT NULL)`,
      );
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${this.#t('head')} (one boolean PRIMARY KEY DEFAULT true CHECK (one), size bigint NOT NULL CHECK (size >= 0), checkpoint text)`,
      );
      await client.query(`INSERT INTO ${this.#t('head')} (size, checkpoint) VALUES (0, NULL) ON CONFLICT DO NOTHING`);
      await client.query('COMMIT');
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {});
      throw e;
    } finally {
      client.release();
    }
  }

  /** Reads the committed head; at open, also checks that the rows it covers are there. */
  async #readHead(check: boolean): Promise<void> {
    const { rows } = await this.pool.query<{ size: string; checkpoint: string | null }>(
      `SELECT size, checkpoint FROM ${this.#t('head')}`,
    );
    const head = rows[0];
    if (!head) throw this.#damaged('the head row is missing');
    const size = Number(head.size);
    if (check) {
      if (
        (head.checkpoint === null) !== (size === 0) ||
        (head.checkpoint !== null && unverifiedCheckpoint(head.checkpoint).size !== size)
      ) {
        throw this.#damaged(`the head (size ${size}) and its checkpoint do not agree`);
      }
      if (size > 0) {
        const found = await this.pool.query<{ e: boolean; h: boolean; c: boolean }>(
          `SELECT EXISTS (SELECT 1 FROM ${this.#t('entries')} WHERE idx = $1) AS e,
                  EXISTS (SELECT 1 FROM ${this.#t('hashes')} WHERE idx = $2) AS h,
                  EXISTS (SELECT 1 FROM ${this.#t('checkpoints')} WHERE size = $3) AS c`,
          [size - 1, storedCount(size) - 1, size],
        );
        const f = found.rows[0]!;
        if (!(f.e && f.h && f.c)) throw this.#damaged(`rows covered by the head (size ${size}) are missing`);
      }
    }
    this.#see(size, head.checkpoint);
  }

  /** Moves the known head forward; a read that raced with a later append never moves it back. */
  #see(size: number, checkpoint: string | null): void {
    if (size > this.#size || (size === this.#size && this.#checkpoint === null)) {
      this.#size = size;
      this.#checkpoint = checkpoint;
    }
  }

  /** Re-reads the committed head: the entries other processes appended become readable. */
  async refresh(): Promise<void> {
    try {
      await this.#readHead(false);
    } catch (e) {
      throw e instanceof ModelsealError
        ? e
        : this.#unavailable(`cannot read the log head from PostgreSQL at ${this.#where}`, e);
    }
  }

  append(entries: readonly Uint8Array[], sign: CheckpointSigner): Promise<AppendResult> {
    if (this.#closing)
      return Promise.reject(new ModelsealError('LOG_UNAVAILABLE', 'the log store is closed; nothing was released'));
    // This process's appends in call order (those made before `close` still run); other
    // processes queue on the head row.
    const run = this.#busy.then(() => this.#append(entries, sign));
    this.#busy = run.catch(() => {});
    return run;
  }

  async #append(entries: readonly Uint8Array[], sign: CheckpointSigner): Promise<AppendResult> {
    checkEntrySizes(entries);
    const refused = (e: unknown) =>
      e instanceof ModelsealError && e.code === 'LOG_INVALID'
        ? e
        : this.#unavailable(
            `the log could not commit to PostgreSQL at ${this.#where}`,
            e,
            'nothing was released and the log is unchanged',
          );
    let client: PoolClient;
    try {
      client = await this.pool.connect();
    } catch (e) {
      throw refused(e);
    }
    let result: AppendResult;
    try {
      await client.query('BEGIN');
      result = await this.#appendIn(client, entries, sign);
      await client.query('COMMIT');
    } catch (e) {
      // A connection whose rollback fails is closed, not given back to the pool.
      await client.query('ROLLBACK').then(
        () => client.release(),
        (r: unknown) => client.release(r instanceof Error ? r : new Error(String(r))),
      );
      throw refused(e);
    }
    client.release();
    this.#see(result.size, result.checkpoint);
    return result;
  }

  /** The body of an append's transaction: everything up to COMMIT. */
  async #appendIn(db: PoolClient, entries: readonly Uint8Array[], sign: CheckpointSigner): Promise<AppendResult> {
    const { rows } = await db.query<{ size: string; checkpoint: string | null }>(
      `SELECT size, checkpoint FROM ${this.#t('head')} FOR UPDATE`,
    );
    if (!rows[0]) throw this.#damaged('the head row is missing');
    // The committed size as the database has it: another replica may have appended since.
    const first = Number(rows[0].size);
    if (entries.length === 0 && rows[0].checkpoint !== null)
      return { first, size: first, checkpoint: rows[0].checkpoint };
    const base = storedCount(first);
    const { stored, root } = await appendLeaves(first, entries.map(leafHash), (ix) => this.#readHashesIn(db, ix, base));
    const size = first + entries.length;
    const indexes = (start: number, n: number) => Array.from({ length: n }, (_, i) => start + i);
    await db.query(`INSERT INTO ${this.#t('entries')} (idx, data) SELECT * FROM unnest($1::bigint[], $2::bytea[])`, [
      indexes(first, entries.length),
      entries,
    ]);
    await db.query(`INSERT INTO ${this.#t('hashes')} (idx, hash) SELECT * FROM unnest($1::bigint[], $2::bytea[])`, [
      indexes(base, stored.length),
      stored,
    ]);
    const checkpoint = await sign({ size, root });
    await db.query(`INSERT INTO ${this.#t('checkpoints')} (size, note) VALUES ($1, $2)`, [size, checkpoint]);
    await db.query(`UPDATE ${this.#t('head')} SET size = $1, checkpoint = $2`, [size, checkpoint]);
    return { first, size, checkpoint };
  }

  readHashes = (indexes: readonly number[]): Promise<Hash[]> => {
    if (indexes.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      // Bounded by the head this process knows; checked now, before the head moves on.
      const runs = this.#runs(indexes, storedCount(this.#size));
      this.#queuedReads.push({ runs, resolve, reject });
      if (this.#queuedReads.length === 1) setImmediate(() => void this.#readQueued());
    });
  };

  /**
   * The hash reads made in one turn of the event loop, in one query: the receipts of a group
   * commit (thousands of inclusion proofs) cost one round trip, not one each.
   */
  async #readQueued(): Promise<void> {
    const reads = this.#queuedReads.splice(0);
    let found: Array<Buffer | null>;
    try {
      found = await this.#queryRuns(this.pool, {
        lo: reads.flatMap((r) => r.runs.lo),
        hi: reads.flatMap((r) => r.runs.hi),
      });
    } catch (e) {
      const refused = this.#unavailable(`cannot read the log from PostgreSQL at ${this.#where}`, e);
      for (const r of reads) r.reject(refused);
      return;
    }
    let at = 0;
    for (const r of reads) {
      const n = r.runs.lo.length;
      try {
        r.resolve(this.#splitRuns(r.runs, found.slice(at, at + n)));
      } catch (e) {
        r.reject(e);
      }
      at += n;
    }
  }

  /** Stored hashes by position, below `limit`, in one query (for an append's transaction). */
  async #readHashesIn(db: Queryable, indexes: readonly number[], limit: number): Promise<Hash[]> {
    const runs = this.#runs(indexes, limit);
    return this.#splitRuns(runs, await this.#queryRuns(db, runs));
  }

  /** Positions as runs of consecutive ones, [lo, hi) each, all below `limit`. */
  #runs(indexes: readonly number[], limit: number): Runs {
    const runs: Runs = { lo: [], hi: [] };
    for (let i = 0; i < indexes.length;) {
      let j = i + 1;
      while (j < indexes.length && indexes[j] === indexes[j - 1]! + 1) j++;
      const start = indexes[i]!;
      if (!(Number.isSafeInteger(start) && start >= 0 && start + (j - i) <= limit))
        throw new RangeError(`stored hash ${start} is beyond the log`);
      runs.lo.push(start);
      runs.hi.push(start + (j - i));
      i = j;
    }
    return runs;
  }

  /**
   * The hashes of each run, concatenated (null where some are missing). Long runs (an audit's
   * blocks) come as one value each; the positions of short ones (proofs, tiles, a tree's edge),
   * shared by many reads, are looked up once each.
   */
  async #queryRuns(db: Queryable, runs: Runs): Promise<Array<Buffer | null>> {
    const long: number[] = [];
    const single = new Set<number>();
    runs.lo.forEach((lo, k) => {
      if (runs.hi[k]! - lo >= LONG_RUN) long.push(k);
      else for (let i = lo; i < runs.hi[k]!; i++) single.add(i);
    });
    const ranges =
      long.length === 0
        ? []
        : (
            await db.query<{ hashes: Buffer | null }>(
              `SELECT string_agg(h.hash, ''::bytea ORDER BY h.idx) AS hashes
                 FROM unnest($1::bigint[], $2::bigint[]) WITH ORDINALITY AS r(lo, hi, n)
                 LEFT JOIN ${this.#t('hashes')} h ON h.idx >= r.lo AND h.idx < r.hi
                GROUP BY r.n ORDER BY r.n`,
              [long.map((k) => runs.lo[k]), long.map((k) => runs.hi[k])],
            )
          ).rows.map((r) => r.hashes);
    const byIndex = new Map<number, Buffer>();
    if (single.size > 0) {
      const { rows } = await db.query<{ idx: string; hash: Buffer }>(
        `SELECT idx, hash FROM ${this.#t('hashes')} WHERE idx = ANY($1::bigint[])`,
        [[...single]],
      );
      for (const r of rows) byIndex.set(Number(r.idx), r.hash);
    }
    let next = 0;
    return runs.lo.map((lo, k) => {
      if (runs.hi[k]! - lo >= LONG_RUN) return ranges[next++] ?? null;
      const parts: Buffer[] = [];
      for (let i = lo; i < runs.hi[k]!; i++) {
        const h = byIndex.get(i);
        if (!h) return null;
        parts.push(h);
      }
      return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    });
  }

  #splitRuns(runs: Runs, found: ReadonlyArray<Buffer | null>): Hash[] {
    const out: Hash[] = [];
    runs.lo.forEach((lo, k) => {
      const want = runs.hi[k]! - lo;
      const b = found[k];
      if (b?.length !== HASH_SIZE * want)
        throw this.#damaged(`stored hashes [${lo}, ${runs.hi[k]}) are missing or malformed`);
      for (let i = 0; i < want; i++) out.push(b.subarray(HASH_SIZE * i, HASH_SIZE * (i + 1)));
    });
    return out;
  }

  async readEntries(from: number, to: number): Promise<Buffer[]> {
    if (!(Number.isSafeInteger(from) && Number.isSafeInteger(to) && from >= 0 && from <= to && to <= this.#size)) {
      throw new RangeError(`entries [${from}, ${to}) are not in a log of ${this.#size}`);
    }
    if (from === to) return [];
    let rows: Array<{ data: Buffer }>;
    try {
      ({ rows } = await this.pool.query<{ data: Buffer }>(
        `SELECT data FROM ${this.#t('entries')} WHERE idx >= $1 AND idx < $2 ORDER BY idx`,
        [from, to],
      ));
    } catch (e) {
      throw this.#unavailable(`cannot read the log from PostgreSQL at ${this.#where}`, e);
    }
    if (rows.length !== to - from) throw this.#damaged(`entries [${from}, ${to}) are not all there`);
    return rows.map((r) => r.data);
  }

  async readBundle(from: number, to: number): Promise<Buffer> {
    return encodeBundle(await this.readEntries(from, to));
  }

  /** Every checkpoint up to the known head, oldest first, a page at a time. */
  async *checkpoints(): AsyncIterable<string> {
    const end = this.#size;
    for (let after = -1; ;) {
      let rows: Array<{ size: string; note: string }>;
      try {
        ({ rows } = await this.pool.query<{ size: string; note: string }>(
          `SELECT size, note FROM ${this.#t('checkpoints')} WHERE size > $1 AND size <= $2 ORDER BY size LIMIT ${CHECKPOINT_PAGE}`,
          [after, end],
        ));
      } catch (e) {
        throw this.#unavailable(`cannot read the log from PostgreSQL at ${this.#where}`, e);
      }
      for (const r of rows) yield r.note;
      if (rows.length < CHECKPOINT_PAGE) return;
      after = Number(rows[rows.length - 1]!.size);
    }
  }

  /** Waits for the appends already made, then closes the connections. */
  close(): Promise<void> {
    return (this.#closing ??= this.#busy.then(() => this.pool.end()));
  }

  #unavailable(doing: string, e: unknown, next?: string): ModelsealError {
    const message = `${doing} (${this.#redact(why(e))})${next ? `; ${next}` : ''}`;
    return new ModelsealError('LOG_UNAVAILABLE', message, { cause: e });
  }

  #damaged(message: string): ModelsealError {
    return new ModelsealError(
      'LOG_INVALID',
      `the log store (schema ${this.schema}) in PostgreSQL at ${this.#where} is damaged: ${message}; keep it as evidence and restore from a backup`,
    );
  }

  #redact(text: string): string {
    for (const s of this.#secrets) if (s) text = text.split(s).join('***');
    return text;
  }
}
