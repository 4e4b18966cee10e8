/**
 * The report's timeline: buckets of a day, week (ISO, from Monday), month or year in UTC, the
 * width chosen by the period's length so that a chart keeps a readable number of bars.
 */
import type { BucketUnit, TimelineBucket } from './data.js';

const DAY = 86_400_000;

/** The bucket width for a period of `ms` milliseconds: days to a month, weeks to half a year, months to ten years. */
export function bucketUnit(ms: number): BucketUnit {
  if (ms <= 31 * DAY) return 'day';
  if (ms <= 183 * DAY) return 'week';
  if (ms <= 3653 * DAY) return 'month';
  return 'year';
}

/** The start (ms, UTC) of the bucket of `unit` holding time `t`. */
export function bucketStart(unit: BucketUnit, t: number): number {
  const d = new Date(t);
  const y = d.getUTCFullYear();
  if (unit === 'year') return Date.UTC(y, 0, 1);
  if (unit === 'month') return Date.UTC(y, d.getUTCMonth(), 1);
  const day = Date.UTC(y, d.getUTCMonth(), d.getUTCDate());
  if (unit === 'day') return day;
  return day - ((d.getUTCDay() + 6) % 7) * DAY; // back to Monday
}

/** The start of the bucket after the one starting at `start`. */
function nextStart(unit: BucketUnit, start: number): number {
  const d = new Date(start);
  if (unit === 'day') return start + DAY;
  if (unit === 'week') return start + 7 * DAY;
  if (unit === 'month') return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  return Date.UTC(d.getUTCFullYear() + 1, 0, 1);
}

/** Empty buckets covering `from` to `to` (ms, both inclusive); none when `from` is after `to`. */
export function emptyBuckets(unit: BucketUnit, from: number, to: number): TimelineBucket[] {
  const out: TimelineBucket[] = [];
  for (let s = bucketStart(unit, from); s <= to; s = nextStart(unit, s))
    out.push({ start: new Date(s).toISOString().slice(0, 10), exports: 0, allowed: 0, denied: 0, refused: 0 });
  return out;
}

/** The index in `buckets` (made by emptyBuckets for `unit`) of the bucket holding `t`, or -1 outside them. */
export function bucketIndex(buckets: readonly TimelineBucket[], unit: BucketUnit, t: number): number {
  const first = buckets[0];
  if (!first || Number.isNaN(t)) return -1;
  const key = new Date(bucketStart(unit, t)).toISOString().slice(0, 10);
  if (key < first.start) return -1;
  // Buckets are contiguous and sorted: days and weeks by arithmetic, months and years by counting.
  const s0 = Date.parse(first.start);
  const s = Date.parse(key);
  const i =
    unit === 'day'
      ? (s - s0) / DAY
      : unit === 'week'
        ? (s - s0) / (7 * DAY)
        : unit === 'month'
          ? (new Date(s).getUTCFullYear() - new Date(s0).getUTCFullYear()) * 12 +
            new Date(s).getUTCMonth() -
            new Date(s0).getUTCMonth()
          : new Date(s).getUTCFullYear() - new Date(s0).getUTCFullYear();
  return i < buckets.length ? i : -1;
}
