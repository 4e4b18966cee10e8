/**
 * Per-source limits on failing requests, so that nobody can grow the transparency log at will
 * (docs/SERVER.md, "Limits"): each source has a token bucket; every failing request takes a token,
 * and a request that finds the bucket empty is answered 429 and only counted. What was counted is
 * written to the log as one summary entry per source and interval (docs/LOG.md), so the log stays
 * complete without being floodable. Allowed requests take no token and never wait.
 */
import { isIPv6 } from 'node:net';
import { ModelsealError } from '../errors.js';

export interface RateLimits {
  /** Failing requests a source may make at once (the bucket's size). Default 20. */
  burst: number;
  /** Tokens a source gets back per second. Default 2. */
  perSecond: number;
  /** Sources tracked at once; beyond that, new sources share one bucket ("*"). Default 10,000. */
  maxSources: number;
}

export const DEFAULT_RATE_LIMITS: RateLimits = { burst: 20, perSecond: 2, maxSources: 10_000 };

/** What a source's requests are counted under: the address, or its /64 for IPv6 (one host holds a whole /64). */
export function sourceOf(ip: string): string {
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (v4) return v4[1]!;
  if (!isIPv6(ip)) return ip;
  const [head = '', tail = ''] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  return `${groups
    .slice(0, 4)
    .map((g) => (parseInt(g, 16) || 0).toString(16))
    .join(':')}::/64`;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** A token bucket per source, refilled continuously; memory bounded by `maxSources`. */
export class FailureLimiter {
  readonly limits: RateLimits;
  readonly #buckets = new Map<string, Bucket>();

  constructor(limits: Partial<RateLimits> = {}) {
    this.limits = { ...DEFAULT_RATE_LIMITS, ...limits };
    for (const [k, v] of Object.entries(this.limits)) {
      if (!(Number.isFinite(v) && v > 0))
        throw new ModelsealError('INVALID_ARGUMENT', `rateLimits.${k}: expected a number above 0, not ${v}`);
    }
  }

  #refill(b: Bucket, now: number): void {
    b.tokens = Math.min(this.limits.burst, b.tokens + ((now - b.at) / 1000) * this.limits.perSecond);
    b.at = now;
  }

  /** The bucket of `source`, and the key it is kept under: `source`, or "*" beyond `maxSources`. */
  #bucket(source: string, now: number): { key: string; b: Bucket } {
    let key = source;
    let b = this.#buckets.get(key);
    if (b) return { key, b };
    if (this.#buckets.size >= this.limits.maxSources) {
      // A full bucket is the same as none: forget those, then share one bucket ("*") if still full.
      for (const [k, old] of this.#buckets) {
        this.#refill(old, now);
        if (old.tokens >= this.limits.burst) this.#buckets.delete(k);
      }
      if (this.#buckets.size >= this.limits.maxSources) key = '*';
      b = this.#buckets.get(key);
      if (b) return { key, b };
    }
    b = { tokens: this.limits.burst, at: now };
    this.#buckets.set(key, b);
    return { key, b };
  }

  /**
   * Takes a token for a failing request from `source`. `ok` is false (and nothing taken) when there
   * is none; `key` is what the source is counted under ("*" for sources beyond `maxSources`);
   * `retryAfter` the whole seconds until a token is back.
   */
  take(source: string, now = Date.now()): { ok: boolean; key: string; retryAfter: number } {
    const { key, b } = this.#bucket(source, now);
    this.#refill(b, now);
    if (b.tokens < 1)
      return { ok: false, key, retryAfter: Math.max(1, Math.ceil((1 - b.tokens) / this.limits.perSecond)) };
    b.tokens -= 1;
    return { ok: true, key, retryAfter: 0 };
  }
}

/** The requests not logged one by one, per source, until the next summary entry. */
export interface DeniedTally {
  source: string;
  count: number;
  reasons: Record<string, number>;
  since: number;
  until: number;
}

/** Counts refused requests per source and hands them over, as tallies, when a summary is due. */
export class DenialTally {
  #open = new Map<string, DeniedTally>();

  count(source: string, reason: string, now = Date.now()): void {
    let t = this.#open.get(source);
    if (!t) this.#open.set(source, (t = { source, count: 0, reasons: {}, since: now, until: now }));
    t.count++;
    t.reasons[reason] = (t.reasons[reason] ?? 0) + 1;
    t.until = now;
  }

  get pending(): number {
    let n = 0;
    for (const t of this.#open.values()) n += t.count;
    return n;
  }

  /** The tallies so far, oldest source first; counting starts afresh. */
  drain(): DeniedTally[] {
    const out = [...this.#open.values()];
    this.#open = new Map();
    return out;
  }

  /** Puts tallies back (their summary could not be logged); they go out with the next one. */
  restore(tallies: DeniedTally[]): void {
    for (const t of tallies) {
      const cur = this.#open.get(t.source);
      if (!cur) {
        this.#open.set(t.source, t);
        continue;
      }
      cur.count += t.count;
      cur.since = Math.min(cur.since, t.since);
      for (const [r, n] of Object.entries(t.reasons)) cur.reasons[r] = (cur.reasons[r] ?? 0) + n;
    }
  }
}
