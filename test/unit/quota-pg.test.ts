/**
 * PgQuotaStore against the real PostgreSQL of test/peers/setup.sh: the semantics of
 * MemoryQuotaStore, and two store instances (two replicas, each with its own pool) racing for the
 * last tokens of one quota: the limit holds exactly.
 */
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { PgQuotaStore } from '../../src/gate/quota-pg.js';
import { parseQuotaFile } from '../../src/gate/quotas.js';
import type { QuotaAmount, QuotaSubject } from '../../src/gate/types.js';
import { usePostgres } from '../support/postgres.js';

const db = usePostgres();
const pools: pg.Pool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.end()));
});

const pool = (max = 4) => {
  const p = new pg.Pool({ connectionString: db.url, max });
  pools.push(p);
  return p;
};
const fixed = (o: object) => ({ config: parseQuotaFile(JSON.stringify(o)) });
const subject: QuotaSubject = { recipient: 'acme', org: 'Acme Ltd', tier: 'frontier' };
const amount = (tokens: number, flops = 0n): QuotaAmount => ({ requests: 1, tokens, flops });
const t0 = new Date('2026-03-31T23:59:30Z');

describe('PgQuotaStore', () => {
  it('reserves, refuses with the limit and Retry-After, settles, counts overruns, FLOPs past 2^53', async () => {
    const schema = db.schema();
    const quotas = fixed({
      recipients: { acme: { tokensPerMinute: 100, tokensPerDay: 150 } },
      tiers: { frontier: { flopsPerDay: '100000000000000000000' } },
    });
    const store = await PgQuotaStore.open(pool(), quotas, schema);
    expect(store.digest).toBe(quotas.config.digest);
    const a = await store.reserve(subject, amount(80, 60_000_000_000_000_000_000n), t0);
    if (!a.ok) throw new Error(`refused: ${JSON.stringify(a)}`);
    expect(await store.reserve(subject, amount(30), t0)).toEqual({
      ok: false,
      limit: 'recipient:acme tokensPerMinute',
      retryAfter: 30,
    });
    expect(await store.reserve(subject, amount(1, 50_000_000_000_000_000_000n), t0)).toMatchObject({
      ok: false,
      limit: 'tier:frontier flopsPerDay',
    });
    expect(await store.usedPerMille(subject, t0)).toBe(800);
    await store.settle(a, amount(20, 1n), t0);
    await store.settle(a, amount(0), t0); // once only
    expect(await store.usedPerMille(subject, t0)).toBe(200);
    const b = await store.reserve(subject, amount(10), t0);
    if (!b.ok) throw new Error('refused');
    await store.settle(b, amount(120), t0); // the call overran its reservation: counted
    expect(await store.usedPerMille(subject, t0)).toBe(1400);
    const { rows } = await db.sql<{ n: string }>(`SELECT count(*)::text AS n FROM "${schema}".gate_quota_use`);
    expect(rows[0]!.n).toBe('9'); // three subjects × three windows
    // The next minute is another day and month: the minute and the day free.
    expect((await store.reserve(subject, amount(100), new Date('2026-04-01T00:00:10Z'))).ok).toBe(true);
  });

  it('two replicas racing for the last tokens of one quota admit exactly what it holds', async () => {
    const schema = db.schema();
    const quotas = fixed({ orgs: { 'Acme Ltd': { tokensPerMinute: 500 } } });
    const [one, two] = await Promise.all([
      PgQuotaStore.open(pool(), quotas, schema),
      PgQuotaStore.open(pool(), quotas, schema),
    ]);
    const calls = Array.from({ length: 100 }, (_, i) =>
      (i % 2 ? one : two).reserve({ ...subject, recipient: `r${i % 7}` }, amount(7), t0),
    );
    const results = await Promise.all(calls);
    expect(results.filter((r) => r.ok)).toHaveLength(71); // 500 / 7
    expect(new Set(results.flatMap((r) => (r.ok ? [] : [r.limit])))).toEqual(new Set(['org:Acme Ltd tokensPerMinute']));
    const { rows } = await db.sql<{ tokens: string }>(
      `SELECT tokens::text FROM "${schema}".gate_quota_use WHERE subject = 'org:Acme Ltd' AND win = 'minute'`,
    );
    expect(rows.map((r) => r.tokens)).toEqual(['497']);
    expect(await one.usedPerMille(subject, t0)).toBe(994);
    expect(await two.usedPerMille(subject, t0)).toBe(994);
  });

  it('refuses a schema name that is not one, and reports a database it cannot reach as QUOTA_UNAVAILABLE', async () => {
    await expect(PgQuotaStore.open(pool(), fixed({}), 'Bad-Name')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    const dead = new pg.Pool({ connectionString: 'postgres://nobody@127.0.0.1:1/none', connectionTimeoutMillis: 2000 });
    pools.push(dead);
    await expect(PgQuotaStore.open(dead, fixed({}), db.schema())).rejects.toMatchObject({ code: 'QUOTA_UNAVAILABLE' });
  });
});
