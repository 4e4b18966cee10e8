/**
 * What the release service must remember across requests: the nonces it has seen (replays) and
 * the releases made under each license (quotas). One process with the file store keeps them in
 * memory, rebuilt from the log at start; replicas sharing a PostgreSQL log keep them in the same
 * database (pgledger.ts), so a nonce is accepted once and a quota holds across all of them.
 */
import { storeEvents } from '../log/events.js';
import type { LogStore } from '../log/store.js';

export interface ReleaseLedger {
  /** Claims `nonce` until `expiresAt` (ms); false when it was claimed before (a replay). */
  claimNonce(nonce: string, expiresAt: number, now: number): Promise<boolean>;
  /** Releases made or reserved under `license`. */
  used(license: string): Promise<number>;
  /** Reserves one release under `license` if fewer than `max` are used; false when the quota is spent. */
  reserve(license: string, max: number): Promise<boolean>;
  /** Gives back a reservation whose release did not happen (the log could not record it). */
  unreserve(license: string): Promise<void>;
  close(): Promise<void>;
}

export class MemoryLedger implements ReleaseLedger {
  readonly #used = new Map<string, number>();
  readonly #nonces = new Map<string, number>();

  /** Rebuilt from the log: allowed releases per license, and nonces younger than `nonceLifeMs`. */
  static async fromLog(store: LogStore, now: number, nonceLifeMs: number): Promise<MemoryLedger> {
    const l = new MemoryLedger();
    for await (const { event: e } of storeEvents(store)) {
      // Releases made outside the service (imported from CloudTrail) are not the service's to count.
      if (e?.type !== 'release' || e.path) continue;
      if (e.decision === 'allow' && e.license) l.#used.set(e.license, (l.#used.get(e.license) ?? 0) + 1);
      const expires = Date.parse(e.time) + nonceLifeMs;
      if (e.nonce && expires > now) l.#nonces.set(e.nonce, expires);
    }
    return l;
  }

  async claimNonce(nonce: string, expiresAt: number, now: number): Promise<boolean> {
    // Nonces are kept in the order they were claimed, which is (up to clock steps) the order they
    // expire in: expired ones are dropped from the front, a constant cost per request however many
    // the window holds (at 1,000 requests/s and the default skew, 600,000).
    for (const [n, t] of this.#nonces) {
      if (t > now) break;
      this.#nonces.delete(n);
    }
    if (this.#nonces.has(nonce)) return false;
    this.#nonces.set(nonce, expiresAt);
    return true;
  }

  async used(license: string): Promise<number> {
    return this.#used.get(license) ?? 0;
  }

  async reserve(license: string, max: number): Promise<boolean> {
    const n = this.#used.get(license) ?? 0;
    if (n >= max) return false;
    this.#used.set(license, n + 1);
    return true;
  }

  async unreserve(license: string): Promise<void> {
    this.#used.set(license, Math.max(0, (this.#used.get(license) ?? 0) - 1));
  }

  async close(): Promise<void> {
    // Nothing to close: the nonces and counts are plain memory.
  }
}
