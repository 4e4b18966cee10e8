/**
 * The PostgreSQL log's connection and tables (described in pgstore.ts): opening the pool, creating
 * the schema once however many replicas start together, and naming things in messages without
 * their secrets.
 */
import type * as PgModule from 'pg';
import type { Pool, PoolClient } from 'pg';
import { ModelsealError } from '../errors.js';
import { HASH_SIZE } from './merkle.js';
import { MAX_ENTRY_BYTES } from './store.js';

let driver: Promise<typeof PgModule> | undefined;
const loadDriver = () => (driver ??= import('pg'));

/** A schema name the log accepts: a lower-case SQL name of at most 63 characters. */
export const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** The log's tables. */
export type LogTable = 'entries' | 'hashes' | 'checkpoints' | 'head';

/** The quoted, schema-qualified name of one of the log's tables. */
export function tableName(schema: string, table: LogTable): string {
  return `"${schema}".${table}`;
}

/** Where a URL points, for messages: host, port and database, never the password. */
export function describeUrl(url: string): { where: string; secrets: string[] } {
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

/** The most telling message of a driver error (the first of an AggregateError). */
export function why(e: unknown): string {
  if (e instanceof AggregateError && e.errors.length > 0) return why(e.errors[0]);
  if (e instanceof Error) return e.message || (e as NodeJS.ErrnoException).code || e.name;
  return String(e);
}

/** A pool of connections to `url`, loading the driver on first use. */
export async function connectPool(url: string): Promise<Pool> {
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
  return pool;
}

/** Creates the log's schema and tables and the empty head row, unless the head table exists. */
export async function createLogTables(pool: Pool, schema: string): Promise<void> {
  const t = (table: LogTable) => tableName(schema, table);
  const exists = await pool.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [t('head')]);
  if (exists.rows[0]?.t) return;
  await inTransaction(pool, async (client) => {
    // Replicas starting together would race on the catalog: one creates, the others wait.
    await client.query("SELECT pg_advisory_xact_lock(hashtext('modelseal log ' || $1))", [schema]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${t('entries')} (idx bigint PRIMARY KEY, data bytea NOT NULL CHECK (length(data) ` +
        `<= ${MAX_ENTRY_BYTES}))`,
    );
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${t('hashes')} (idx bigint PRIMARY KEY, hash bytea NOT NULL CHECK (length(hash) = ` +
        `${HASH_SIZE}))`,
    );
    await client.query(`CREATE TABLE IF NOT EXISTS ${t('checkpoints')} (size bigint PRIMARY KEY, note text NOT NULL)`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${t('head')} (one boolean PRIMARY KEY DEFAULT true CHECK (one), size bigint NOT ` +
        `NULL CHECK (size >= 0), checkpoint text)`,
    );
    await client.query(`INSERT INTO ${t('head')} (size, checkpoint) VALUES (0, NULL) ON CONFLICT DO NOTHING`);
  });
}

/** Runs `fn` in one transaction on a client of `pool`: committed when it returns, rolled back when it throws. */
export async function inTransaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {});
    throw e;
  } finally {
    client.release();
  }
}
