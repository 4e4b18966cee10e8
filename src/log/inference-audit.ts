/**
 * What an auditor checks of the gateway's entries beyond the tree (docs/LOG.md, "Inference"): every
 * `infer-settle` names an earlier allowed `infer-admit` by its id and index, for the same recipient
 * and model; no call is admitted twice or settled twice. Allowed calls with no settle yet are open:
 * in flight, or the gateway stopped before settling them. They are reported, not a failure.
 */
import { decodeEvent, type InferAdmitEvent, type InferSettleEvent } from './events.js';

/** The gateway's calls in a log, as `audit verify` reports them. */
export interface InferenceCalls {
  /** Admit entries, allowed and denied, and settle entries. */
  admitted: number;
  denied: number;
  settled: number;
  /** Allowed calls with no settle entry: how many, and the first of them (entry index and call id). */
  open: number;
  openCalls: { index: number; id: string }[];
}

/** A settle that does not pair with its admit, or a call logged twice: the entry and why. */
export interface InferenceProblem {
  index: number;
  message: string;
}

/** How many open calls `audit verify` names one by one. */
const OPEN_LISTED = 100;

// Canonical JSON sorts keys, so an inference entry holds this exact text: only those are parsed.
const MARKER = Buffer.from('"type":"infer-');

interface Admitted {
  index: number;
  recipient: string | null;
  model: string;
  decision: 'allow' | 'deny';
  /** The settle entry's index, once seen. */
  settled?: number;
}

/** Fed every entry in log order; pairs settles with admits and keeps the first problem. */
export class InferenceLedger {
  #calls = new Map<string, Admitted>();
  #admitted = 0;
  #denied = 0;
  #settled = 0;
  #problem: InferenceProblem | undefined;

  /** Takes entry `index`; entries that are not inference events are skipped without parsing. */
  add(index: number, entry: Buffer): void {
    if (entry.indexOf(MARKER) < 0) return;
    const e = decodeEvent(entry);
    const problem =
      e?.type === 'infer-admit'
        ? this.#admit(index, e)
        : e?.type === 'infer-settle'
          ? this.#settle(index, e)
          : undefined;
    if (problem !== undefined) this.#problem ??= { index, message: `entry ${index}: ${problem}` };
  }

  /** Records an admit; what is wrong with it, if anything. */
  #admit(index: number, e: InferAdmitEvent): string | undefined {
    const seen = this.#calls.get(e.id);
    if (seen) return `call ${e.id} was already admitted at entry ${seen.index}`;
    if (e.decision === 'allow') this.#admitted++;
    else this.#denied++;
    this.#calls.set(e.id, { index, recipient: e.recipient, model: e.model, decision: e.decision });
    return undefined;
  }

  /** Pairs a settle with its admit; what does not pair, if anything. */
  #settle(index: number, e: InferSettleEvent): string | undefined {
    this.#settled++;
    const a = this.#calls.get(e.id);
    if (!a) return `the settle of call ${e.id} follows no admit entry of that call`;
    if (a.decision !== 'allow') return `call ${e.id} is settled but entry ${a.index} denied it`;
    if (a.settled !== undefined) return `call ${e.id} was already settled at entry ${a.settled}`;
    a.settled = index;
    const differs = (what: string, logged: unknown, admitted: unknown) =>
      `the settle of call ${e.id} names ${what} ${JSON.stringify(logged)}, its admit entry ` +
      `${a.index} ${JSON.stringify(admitted)}`;
    if (e.admit !== a.index) return differs('admit entry', e.admit, a.index);
    if (e.recipient !== a.recipient) return differs('recipient', e.recipient, a.recipient);
    if (e.model !== a.model) return differs('model', e.model, a.model);
    return undefined;
  }

  /** The first problem found, if any. */
  get problem(): InferenceProblem | undefined {
    return this.#problem;
  }

  /** The calls seen; undefined when the log holds no inference entry. */
  summary(): InferenceCalls | undefined {
    if (this.#calls.size === 0 && this.#settled === 0) return undefined;
    const open = [...this.#calls]
      .filter(([, a]) => a.decision === 'allow' && a.settled === undefined)
      .map(([id, a]) => ({ index: a.index, id }));
    return {
      admitted: this.#admitted,
      denied: this.#denied,
      settled: this.#settled,
      open: open.length,
      openCalls: open.slice(0, OPEN_LISTED),
    };
  }
}
