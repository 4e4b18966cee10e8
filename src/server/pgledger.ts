/**
 * The release ledger of replicas that share a PostgreSQL log: nonces and release counts in two
 * tables of the log's schema, so a nonce is accepted by one replica only, once, and a license's
 * quota holds across all of them (each reservation is one conditional upsert: atomic).
 *
 * A replica that dies between reserving a release and logging it leaves the count one too high:
 * the quota errs on the side of releasing less, never more.
 */
import type pg from 'pg';
import { ModelsealError } from '../errors.js';
import type { ReleaseLedger } from './ledger.js';

export class PgLedger implements ReleaseLedger {
  readonly #pool: pg.Pool;
  readonly #nonces: string;
  readonly #use: string;
  #claims = 0;

  private constructor(pool: pg.Pool, schema: string) {
    this.#pool = pool;
    this.#nonces = `"${schema}".release_nonces`;
    this.#use = `"${schema}".license_use`;
  }

  static async open(pool: pg.Pool, schema = 'modelseal'): Promise<PgLedger> {
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema))
      throw new ModelsealError('INVALID_ARGUMENT', `schema ${JSON.stringify(schema)}: expected a lower-case SQL name`);
    const l = new PgLedger(pool, schema);
    await l.#query(
      `CREATE SCHEMA IF NOT EXISTS "${schema}";
       CREATE TABLE IF NOT EXISTS ${l.#nonces} (nonce text PRIMARY KEY, expires_at bigint NOT NULL);
       CREATE TABLE IF NOT EXISTS ${l.#use} (license text PRIMARY KEY, used bigint NOT NULL CHECK (used >= 0));`,
    );
    return l;
  }

  async #query(text: string, values?: unknown[]): Promise<pg.QueryResult> {
    try {
      return await this.#pool.query(text, values);
    } catch (cause) {
      throw new ModelsealError(
        'LOG_UNAVAILABLE',
        'the release ledger in PostgreSQL could not be read or written; nothing was released',
        { cause },
      );
    }
  }

  async claimNonce(nonce: string, expiresAt: number, now: number): Promise<boolean> {
    if (++this.#claims % 1024 === 0) await this.#query(`DELETE FROM ${this.#nonces} WHERE expires_at <= $1`, [now]);
    const r = await this.#query(
      `INSERT INTO ${this.#nonces} (nonce, expires_at) VALUES ($1, $2) ON CONFLICT (nonce) DO NOTHING`,
      [nonce, expiresAt],
    );
    return r.rowCount === 1;
  }

  async used(license: string): Promise<number> {
    const r = await this.#query(`SELECT used FROM ${this.#use} WHERE license = $1`, [license]);
    return r.rows.length ? Number((r.rows[0] as { used: unknown }).used) : 0;
  }

  async reserve(license: string, max: number): Promise<boolean> {
    if (!(max >= 1)) return false;
    const r = await this.#query(
      `INSERT INTO ${this.#use} AS u (license, used) VALUES ($1, 1)
       ON CONFLICT (license) DO UPDATE SET used = u.used + 1 WHERE u.used < $2`,
      [license, max],
    );
    return r.rowCount === 1;
  }

  async unreserve(license: string): Promise<void> {
    await this.#query(`UPDATE ${this.#use} SET used = GREATEST(used - 1, 0) WHERE license = $1`, [license]);
  }

  async close(): Promise<void> {
    // Nothing to close: the pool is the log store's, which closes it.
  }
}
