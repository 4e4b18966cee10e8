/**
 * Quotas held in this process (docs/GATE.md, "Quotas and metering"): one gateway, or several
 * that each count their own share. A reservation checks and counts every limit of the recipient,
 * its organisation and the model's tier in one synchronous step, so concurrent requests cannot both
 * take the last tokens. PgQuotaStore (quota-pg.ts) shares one quota between replicas.
 */
import { randomBytes } from 'node:crypto';
import {
  addUse,
  counterKey,
  quotaCounters,
  quotaPerMille,
  quotaRefusal,
  settleDelta,
  windowStart,
  QUOTA_WINDOWS,
  type QuotaSource,
  type QuotaUse,
} from './quotas.js';
import type { QuotaAmount, QuotaReservation, QuotaStore, QuotaSubject } from './types.js';

type Held = Extract<QuotaReservation, { ok: true }>;
const ZERO: QuotaUse = { requests: 0n, tokens: 0n, flops: 0n };

/** A QuotaStore in memory, under the limits of `quotas` (a watched QuotaFile or a fixed configuration). */
export class MemoryQuotaStore implements QuotaStore {
  readonly #quotas: QuotaSource;
  readonly #use = new Map<string, QuotaUse>();
  readonly #held = new Set<string>();
  #pruned = 0;

  constructor(quotas: QuotaSource) {
    this.#quotas = quotas;
  }

  get digest(): string {
    return this.#quotas.config.digest;
  }

  reserve(subject: QuotaSubject, amount: QuotaAmount, now: Date): Promise<QuotaReservation> {
    const at = now.getTime();
    this.#prune(at);
    const refused = quotaRefusal(this.#quotas.config, subject, amount, (k) => this.#use.get(k), at);
    if (refused) return Promise.resolve({ ok: false, ...refused });
    this.#add(subject, at, amount);
    const id = randomBytes(12).toString('hex');
    this.#held.add(id);
    return Promise.resolve({ ok: true, id, subject, amount, at });
  }

  settle(reservation: Held, used: QuotaAmount, _now?: Date): Promise<void> {
    // Counted in the windows of the reservation (`at`), not of `now`; exactly once: a second settle of the
    // same reservation (a retry after an error) changes nothing.
    if (this.#held.delete(reservation.id))
      this.#add(reservation.subject, reservation.at, settleDelta(reservation.amount, used));
    return Promise.resolve();
  }

  usedPerMille(subject: QuotaSubject, now: Date): Promise<number> {
    return Promise.resolve(quotaPerMille(this.#quotas.config, subject, (k) => this.#use.get(k), now.getTime()));
  }

  /** Counts `amount` (a reservation, or the difference a settle makes) in the windows of `at`. */
  #add(subject: QuotaSubject, at: number, amount: QuotaAmount): void {
    for (const c of quotaCounters(subject, at)) {
      const k = counterKey(c);
      this.#use.set(k, addUse(this.#use.get(k) ?? ZERO, amount));
    }
  }

  /** Drops the counters of windows that ended (once a minute at most): memory stays bounded by the callers. */
  #prune(at: number): void {
    if (at - this.#pruned < 60_000) return;
    this.#pruned = at;
    const current = new Map(QUOTA_WINDOWS.map((w) => [w, windowStart(w, at)]));
    for (const k of this.#use.keys()) {
      const [, window, start] = k.split('\u0000');
      // A settle may still come for the previous minute: keep one window back.
      const keepFrom = window === 'minute' ? current.get('minute')! - 60_000 : current.get(window as 'day')!;
      if (Number(start) < keepFrom) this.#use.delete(k);
    }
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
