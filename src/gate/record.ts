/**
 * The gateway's record (docs/GATE.md, "The record"): its admit and settle entries appended to the
 * release service's transparency log (personal data pseudonymised as the service does it), fed to
 * the extraction monitor in log order, and the receipts of recent calls by call id.
 */
import { encodeEvent, storeEvents, type InferAdmitEvent, type InferSettleEvent } from '../log/events.js';
import type { TransparencyLog } from '../log/log.js';
import type { Pseudonymizer } from '../log/pseudonym.js';
import type { ExtractionMonitor } from './types.js';

/** Calls whose receipts GET /v1/gate/receipts/<id> answers: the most recent ones of this process. */
export const MAX_REMEMBERED_CALLS = 100_000;

/** Where one call's entries are in the log, and who made it (in the clear, to check who asks for them). */
interface CallEntries {
  recipient: string | null;
  admit: number;
  settle: number | null;
}

export class GateRecord {
  readonly log: TransparencyLog;
  readonly #pseudonyms: Pseudonymizer | null;
  readonly #monitor: ExtractionMonitor;
  readonly #calls = new Map<string, CallEntries>();

  constructor(log: TransparencyLog, pseudonyms: Pseudonymizer | null, monitor: ExtractionMonitor) {
    this.log = log;
    this.#pseudonyms = pseudonyms;
    this.#monitor = monitor;
  }

  /** Feeds the monitor every inference entry already in the log (at start: risk survives a restart). */
  async replay(): Promise<number> {
    let n = 0;
    for await (const { index, event } of storeEvents(this.log.store)) {
      if (event?.type === 'infer-admit' || event?.type === 'infer-settle') {
        this.#monitor.observe(index, event);
        n++;
      }
    }
    return n;
  }

  /** The pseudonym of a recipient name or address when the operator set a key; else the value. */
  pseudonym(value: string): string {
    return this.#pseudonyms ? this.#pseudonyms.of(value) : value;
  }

  /**
   * Appends an admit entry (`e` in the clear: recipient and addresses are pseudonymised here) and
   * resolves once it is durable, with its index and receipt. Throws when the log cannot take it.
   */
  async admit(e: InferAdmitEvent): Promise<{ index: number; proof: string }> {
    const logged: InferAdmitEvent = {
      ...e,
      recipient: e.recipient === null ? null : this.pseudonym(e.recipient),
      ip: this.pseudonym(e.ip),
      ...(e.observed && { observed: { ...e.observed, address: this.pseudonym(e.observed.address) } }),
    };
    const r = await this.log.append(encodeEvent(logged));
    this.#monitor.observe(r.index, logged);
    this.#remember(e.id, { recipient: e.recipient, admit: r.index, settle: null });
    return { index: r.index, proof: r.proof };
  }

  /** Appends a settle entry (recipient in the clear, pseudonymised here); resolves with its index. */
  async settle(e: InferSettleEvent): Promise<number> {
    const logged: InferSettleEvent = { ...e, recipient: e.recipient === null ? null : this.pseudonym(e.recipient) };
    // Its receipt is made when asked for (GET /v1/gate/receipts/<id>): none is built here.
    const r = await this.log.appendEntry(encodeEvent(logged));
    this.#monitor.observe(r.index, logged);
    const call = this.#calls.get(e.id);
    if (call) call.settle = r.index;
    return r.index;
  }

  /** The log indexes of call `id`'s entries when `recipient` made it and this process remembers it. */
  entries(id: string, recipient: string): { admit: number; settle: number | null } | null {
    const call = this.#calls.get(id);
    return call?.recipient === recipient ? { admit: call.admit, settle: call.settle } : null;
  }

  #remember(id: string, c: CallEntries): void {
    this.#calls.set(id, c);
    if (this.#calls.size > MAX_REMEMBERED_CALLS) this.#calls.delete(this.#calls.keys().next().value!);
  }
}
