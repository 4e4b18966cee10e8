/**
 * Quotas shared by gateway replicas through PostgreSQL (docs/GATE.md, "Several replicas"): the
 * same counters as MemoryQuotaStore, one row per subject and window in the table
 * `<schema>.gate_quota_use`. A reservation is one transaction: it creates or locks the call's nine
 * rows in one fixed order (so two replicas never deadlock), checks every limit against them and
 * adds the amount; a replica racing for the same rows waits for the lock, then sees the new counts.
 *
 * A replica that dies between reserving and settling leaves its reservation counted: the quota
 * errs on the side of serving less, never more.
 */
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { ModelsealError } from '../errors.js';
import { inTransaction } from '../log/pg-schema.js';
import {
  quotaCounters,
  quotaPerMille,
  quotaRefusal,
  settleDelta,
  counterKey,
  type QuotaCounter,
  type QuotaSource,
  type QuotaUse,
} from './quotas.js';
import type { QuotaAmount, QuotaReservation, QuotaStore, QuotaSubject } from './types.js';

type Held = Extract<QuotaReservation, { ok: true }>;
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
/** How long rows of ended windows are kept (two of each), and how often they are looked for. */
const PRUNE_EVERY_MS = 60_000;

function unavailable(cause: unknown): ModelsealError {
  return new ModelsealError(
    'QUOTA_UNAVAILABLE',
    'the quota store in PostgreSQL could not be read or written; nothing was admitted. Check the database, then retry',
    { cause },
  );
}

/** The call's counters sorted by (subject, window, start): the one order every replica locks them in. */
function sorted(subject: QuotaSubject, at: number): QuotaCounter[] {
  const key = (c: QuotaCounter) => `${c.subject}\u0000${c.window}\u0000${String(c.start).padStart(16, '0')}`;
  return quotaCounters(subject, at).sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

const columns = (cs: QuotaCounter[]) => [cs.map((c) => c.subject), cs.map((c) => c.window), cs.map((c) => c.start)];

type Row = { subject: string; win: string; start: string } & Record<keyof QuotaUse, string>;

/** The counters' use by counterKey, from the rows read (numbers as text: bigint and numeric exceed 2^53). */
function useOf(rows: Row[]): Map<string, QuotaUse> {
  return new Map(
    rows.map((r) => [
      counterKey({ subject: r.subject, window: r.win as QuotaCounter['window'], start: Number(r.start) }),
      { requests: BigInt(r.requests), tokens: BigInt(r.tokens), flops: BigInt(r.flops) },
    ]),
  );
}

/** A QuotaStore in PostgreSQL, under the limits of `quotas`: replicas that share the database share the quota. */
export class PgQuotaStore implements QuotaStore {
  readonly #pool: pg.Pool;
  readonly #quotas: QuotaSource;
  readonly #table: string;
  readonly #held = new Set<string>();
  #pruned = 0;

  private constructor(pool: pg.Pool, quotas: QuotaSource, schema: string) {
    this.#pool = pool;
    this.#quotas = quotas;
    this.#table = `"${schema}".gate_quota_use`;
  }

  /** Opens the store in `schema` of the database of `pool`, creating its table if missing. */
  static async open(pool: pg.Pool, quotas: QuotaSource, schema = 'modelseal'): Promise<PgQuotaStore> {
    if (!SCHEMA_NAME.test(schema))
      throw new ModelsealError('INVALID_ARGUMENT', `schema ${JSON.stringify(schema)}: expected a lower-case SQL name`);
    const s = new PgQuotaStore(pool, quotas, schema);
    try {
      await inTransaction(pool, async (client) => {
        // Replicas starting together would race on the catalog: one creates, the others wait.
        await client.query("SELECT pg_advisory_xact_lock(hashtext('modelseal gate quotas ' || $1))", [schema]);
        await client.query(
          `CREATE SCHEMA IF NOT EXISTS "${schema}";
           CREATE TABLE IF NOT EXISTS ${s.#table} (
             subject text NOT NULL, win text NOT NULL, start bigint NOT NULL,
             requests bigint NOT NULL DEFAULT 0, tokens bigint NOT NULL DEFAULT 0, flops numeric NOT NULL DEFAULT 0,
             PRIMARY KEY (subject, win, start))`,
        );
      });
    } catch (cause) {
      throw unavailable(cause);
    }
    return s;
  }

  get digest(): string {
    return this.#quotas.config.digest;
  }

  async reserve(subject: QuotaSubject, amount: QuotaAmount, now: Date): Promise<QuotaReservation> {
    const at = now.getTime();
    await this.#prune(at);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#reserveOnce(subject, amount, at);
      } catch (e) {
        // A deadlock or serialization failure is PostgreSQL asking for a retry; anything else is an outage.
        const code = (e as { code?: string }).code;
        if (attempt < 3 && (code === '40P01' || code === '40001')) continue;
        throw unavailable(e);
      }
    }
  }

  async #reserveOnce(subject: QuotaSubject, amount: QuotaAmount, at: number): Promise<QuotaReservation> {
    const counters = sorted(subject, at);
    const refused = await inTransaction(this.#pool, async (client) => {
      // Creates the missing rows and locks all nine, in order, returning what they hold.
      const rows = await client.query<Row>(
        `INSERT INTO ${this.#table} AS u (subject, win, start)
           SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
         ON CONFLICT (subject, win, start) DO UPDATE SET requests = u.requests
         RETURNING subject, win, start, requests::text, tokens::text, flops::text`,
        columns(counters),
      );
      const use = useOf(rows.rows);
      const refusal = quotaRefusal(this.#quotas.config, subject, amount, (k) => use.get(k), at);
      if (!refusal) await this.#add(client, counters, amount);
      return refusal;
    });
    if (refused) return { ok: false, ...refused };
    const id = randomBytes(12).toString('hex');
    this.#held.add(id);
    return { ok: true, id, subject, amount, at };
  }

  /** Adds `amount` (negative parts allowed: a settle) to the rows of `counters`. */
  async #add(client: pg.Pool | pg.PoolClient, counters: QuotaCounter[], amount: QuotaAmount): Promise<void> {
    await client.query(
      `UPDATE ${this.#table} AS u
         SET requests = u.requests + $4::bigint, tokens = u.tokens + $5::bigint, flops = u.flops + $6::numeric
         FROM unnest($1::text[], $2::text[], $3::bigint[]) AS k(subject, win, start)
         WHERE u.subject = k.subject AND u.win = k.win AND u.start = k.start`,
      [...columns(counters), amount.requests, amount.tokens, amount.flops.toString()],
    );
  }

  async settle(reservation: Held, used: QuotaAmount, _now?: Date): Promise<void> {
    // Counted in the windows of the reservation; exactly once, as in MemoryQuotaStore.
    if (!this.#held.delete(reservation.id)) return;
    const delta = settleDelta(reservation.amount, used);
    try {
      await this.#add(this.#pool, sorted(reservation.subject, reservation.at), delta);
    } catch (cause) {
      this.#held.add(reservation.id); // not settled: a retry may settle it
      throw unavailable(cause);
    }
  }

  async usedPerMille(subject: QuotaSubject, now: Date): Promise<number> {
    const at = now.getTime();
    const counters = sorted(subject, at);
    let rows;
    try {
      rows = await this.#pool.query<Row>(
        `SELECT u.subject, u.win, u.start, u.requests::text, u.tokens::text, u.flops::text
           FROM ${this.#table} AS u
           JOIN unnest($1::text[], $2::text[], $3::bigint[]) AS k(subject, win, start)
             ON u.subject = k.subject AND u.win = k.win AND u.start = k.start`,
        columns(counters),
      );
    } catch (cause) {
      throw unavailable(cause);
    }
    const use = useOf(rows.rows);
    return quotaPerMille(this.#quotas.config, subject, (k) => use.get(k), at);
  }

  /** Deletes the rows of windows that ended more than one window ago (once a minute, from any replica). */
  async #prune(at: number): Promise<void> {
    if (at - this.#pruned < PRUNE_EVERY_MS) return;
    this.#pruned = at;
    await this.#pool
      .query(
        `DELETE FROM ${this.#table} WHERE (win = 'minute' AND start < $1) OR (win = 'day' AND start < $2)
           OR (win = 'month' AND start < $3)`,
        [at - 2 * 60_000, at - 2 * 86_400_000, at - 62 * 86_400_000],
      )
      .catch(() => {}); // pruning is housekeeping: a failure here must not refuse a call
  }

  async close(): Promise<void> {
    // The pool is the caller's (the log store's, or the gateway's): it closes it.
  }
}
