/**
 * Reading stored Merkle hashes from the PostgreSQL log by position: positions are grouped into runs
 * of consecutive ones, long runs come back as one value each, short ones are looked up once each.
 */
import type { Pool } from 'pg';
import { HASH_SIZE, type Hash } from './merkle.js';

/** Runs of stored hashes at least this long are read as ranges; shorter ones position by position. */
const LONG_RUN = 16;

/** A pool or a client inside a transaction. */
export type Queryable = Pick<Pool, 'query'>;

/** Runs of consecutive stored-hash positions, [lo[k], hi[k]) each. */
export interface Runs {
  lo: number[];
  hi: number[];
}

/** Positions as runs of consecutive ones, [lo, hi) each, all below `limit` (else a RangeError). */
export function toRuns(indexes: readonly number[], limit: number): Runs {
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
 * The hashes of each run from `hashesTable`, concatenated (null where some are missing). Long runs
 * (an audit's blocks) come as one value each; the positions of short ones (proofs, tiles, a tree's
 * edge), shared by many reads, are looked up once each.
 */
export async function queryRuns(db: Queryable, hashesTable: string, runs: Runs): Promise<(Buffer | null)[]> {
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
               LEFT JOIN ${hashesTable} h ON h.idx >= r.lo AND h.idx < r.hi
              GROUP BY r.n ORDER BY r.n`,
            [long.map((k) => runs.lo[k]), long.map((k) => runs.hi[k])],
          )
        ).rows.map((r) => r.hashes);
  const byIndex = new Map<number, Buffer>();
  if (single.size > 0) {
    const { rows } = await db.query<{ idx: string; hash: Buffer }>(
      `SELECT idx, hash FROM ${hashesTable} WHERE idx = ANY($1::bigint[])`,
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

/** The single hashes of what {@link queryRuns} found; `damaged(message)` makes the error for a gap. */
export function splitRuns(runs: Runs, found: readonly (Buffer | null)[], damaged: (m: string) => Error): Hash[] {
  const out: Hash[] = [];
  runs.lo.forEach((lo, k) => {
    const want = runs.hi[k]! - lo;
    const b = found[k];
    if (b?.length !== HASH_SIZE * want) throw damaged(`stored hashes [${lo}, ${runs.hi[k]}) are missing or malformed`);
    for (let i = 0; i < want; i++) out.push(b.subarray(HASH_SIZE * i, HASH_SIZE * (i + 1)));
  });
  return out;
}
