/**
 * A real PostgreSQL for the tests: the cluster test/peers/setup.sh starts on loopback, whose URL
 * it writes to .peers/postgres.url. Each test gets schemas of its own, dropped after it. A missing
 * server fails the tests that need it, with what to do; it never skips them.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach } from 'vitest';

const URL_FILE = resolve('.peers/postgres.url');

/** The test server's URL; throws when setup.sh has not run. */
export function postgresUrl(): string {
  if (!existsSync(URL_FILE)) {
    throw new Error(
      `${URL_FILE} is missing: run \`bash test/peers/setup.sh\` (npm test does); the PostgreSQL log store tests need ` +
        `a real server`,
    );
  }
  return readFileSync(URL_FILE, 'utf8').trim();
}

export interface TestPostgres {
  /** The server's URL (throws when setup.sh has not run). */
  readonly url: string;
  /** A new schema name, unique to this call; the schema, once created, is dropped after the test. */
  schema(): string;
  /** Runs SQL on a connection of the test's own (to look at or tamper with a store's tables). */
  sql<R extends pg.QueryResultRow = Record<string, unknown>>(
    text: string,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>>;
}

/** Registers the hooks that drop each test's schemas; call at the top of a test file. */
export function usePostgres(): TestPostgres {
  let admin: pg.Pool | undefined;
  const made: string[] = [];
  const pool = () => {
    if (!admin) {
      admin = new pg.Pool({ connectionString: postgresUrl(), max: 2 });
      admin.on('error', () => {});
    }
    return admin;
  };
  afterEach(async () => {
    for (const s of made.splice(0)) {
      // A failed test may leave appends running into the schema: a drop that deadlocks with one is
      // retried at once (the server spent deadlock_timeout, 1 s, finding the deadlock).
      for (let attempt = 1; ; attempt++) {
        try {
          await pool().query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
          break;
        } catch (e) {
          if (attempt === 3) throw e;
        }
      }
    }
  });
  afterAll(async () => {
    await admin?.end();
  });
  return {
    get url() {
      return postgresUrl();
    },
    schema() {
      const s = `modelseal_t_${randomBytes(6).toString('hex')}`;
      made.push(s);
      return s;
    },
    sql: (text, values) => pool().query(text, values),
  };
}
