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
import { appendLeaves, leafHash, storedCount, type Hash } from './merkle.js';
import { queryRuns, splitRuns, toRuns, type Queryable, type Runs } from './pg-runs.js';
import { connectPool, createLogTables, describeUrl, SCHEMA_NAME, tableName, why, type LogTable } from './pg-schema.js';
import { checkEntrySizes, encodeBundle, type AppendResult, type CheckpointSigner, type LogStore } from './store.js';

/** Checkpoints per page of `checkpoints()`. */
const CHECKPOINT_PAGE = 1000;

interface QueuedRead {
  runs: Runs;
  resolve: (hashes: Hash[]) => void;
  reject: (e: unknown) => void;
}

/** Options of {@link PgStore.open}. */
export interface PgStoreOptions {
  /** The schema holding the log's tables, created if missing (default `modelseal`). */
  schema?: string;
}

/** The transparency log in PostgreSQL, shared by every replica (see the module comment). */
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
    const pool = await connectPool(url);
    const store = new PgStore(pool, schema, described);
    try {
      await createLogTables(pool, schema);
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

  #t(table: LogTable): string {
    return tableName(this.schema, table);
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
      const runs = toRuns(indexes, storedCount(this.#size));
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
    let found: (Buffer | null)[];
    try {
      found = await queryRuns(this.pool, this.#t('hashes'), {
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
        r.resolve(splitRuns(r.runs, found.slice(at, at + n), (m) => this.#damaged(m)));
      } catch (e) {
        r.reject(e);
      }
      at += n;
    }
  }

  /** Stored hashes by position, below `limit`, in one query (for an append's transaction). */
  async #readHashesIn(db: Queryable, indexes: readonly number[], limit: number): Promise<Hash[]> {
    const runs = toRuns(indexes, limit);
    return splitRuns(runs, await queryRuns(db, this.#t('hashes'), runs), (m) => this.#damaged(m));
  }

  async readEntries(from: number, to: number): Promise<Buffer[]> {
    if (!(Number.isSafeInteger(from) && Number.isSafeInteger(to) && from >= 0 && from <= to && to <= this.#size)) {
      throw new RangeError(`entries [${from}, ${to}) are not in a log of ${this.#size}`);
    }
    if (from === to) return [];
    let rows: { data: Buffer }[];
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
      let rows: { size: string; note: string }[];
      try {
        ({ rows } = await this.pool.query<{ size: string; note: string }>(
          `SELECT size, note FROM ${this.#t('checkpoints')} WHERE size > $1 AND size <= $2 ORDER BY size LIMIT ` +
            `${CHECKPOINT_PAGE}`,
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
      `the log store (schema ${this.schema}) in PostgreSQL at ${this.#where} is damaged: ${message}; keep it as ` +
        `evidence and restore from a backup`,
    );
  }

  #redact(text: string): string {
    for (const s of this.#secrets) if (s) text = text.split(s).join('***');
    return text;
  }
}
