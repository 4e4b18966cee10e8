/**
 * The extraction monitor (docs/GATE.md, "Extraction monitoring"): per-caller risk from the log's
 * inference entries, live in the gateway (each entry as it is appended) and offline in `gate review`
 * (the log replayed). observe() and assess() are cheap and memory is bounded: a window of recent
 * calls per caller, at most `maxCallers` callers (the least recently seen go first).
 */
import type { InferAdmitEvent, InferSettleEvent } from '../../log/events.js';
import type { ExtractionMonitor, RiskAssessment } from '../types.js';
import { CallerState } from './caller.js';
import { parseMinhash } from './features.js';
import { BANDS, Buckets } from './lsh.js';
import { callerSignals, combinedScore, type SignalThresholds } from './signals.js';

/** The monitor's settings; each has a default (docs/GATE.md gives the reasons). */
export interface MonitorOptions extends Partial<SignalThresholds> {
  /** Recent calls kept per caller (template reuse, chain of thought, token ratios, PRADA's growing set). */
  window?: number;
  /** Minimum distances kept per caller for PRADA's test. */
  pradaWindow?: number;
  /** Estimated Jaccard similarity at or above which two prompts are near-duplicates. */
  near?: number;
  maxCallers?: number;
  maxBuckets?: number;
}

/** One template of a caller's recent calls, as `gate review` shows it: an id (a digest), never content. */
export interface TemplateCount {
  id: string;
  calls: number;
}

/** The monitor, with what `gate review` shows beyond the assessment. */
export interface ExtractionMonitorDetail extends ExtractionMonitor {
  /** The caller's most used templates among its recent calls (those used more than once), most used first. */
  templates(caller: string, top?: number): TemplateCount[];
}

export const MONITOR_DEFAULTS = {
  window: 128,
  pradaWindow: 256,
  near: 0.5,
  maxCallers: 10_000,
  maxBuckets: 200_000,
  minCalls: 10,
  reuse: 0.5,
  shared: 0.5,
  sharedCallers: 2,
  pradaDelta: 0.65,
  pradaMinDistances: 30,
} as const;

/** A monitor with the given settings (defaults: MONITOR_DEFAULTS). */
export function createExtractionMonitor(opts: MonitorOptions = {}): ExtractionMonitorDetail {
  const o = { ...MONITOR_DEFAULTS, ...opts };
  const limits = { window: o.window, prada: o.pradaWindow, near: o.near };
  const callers = new Map<string, CallerState>();
  const buckets = new Buckets(o.maxBuckets);

  const state = (caller: string): CallerState => {
    let c = callers.get(caller);
    if (c)
      callers.delete(caller); // re-inserted last: the map's order is least recently seen first
    else c = new CallerState(limits);
    callers.set(caller, c);
    if (callers.size > o.maxCallers) callers.delete(callers.keys().next().value!);
    return c;
  };

  const admit = (e: InferAdmitEvent) => {
    if (e.recipient === null) return;
    const c = state(e.recipient);
    c.calls++;
    if (e.application) c.application = e.application;
    const sig = e.features ? parseMinhash(e.features.minhash) : null;
    if (!sig || sig.every((w) => w === 0xffffffff)) return; // no prompt text: nothing to compare
    const slot = c.observePrompt(sig, e.features!.cot);
    buckets.add(c.keys, slot * BANDS, e.recipient);
  };

  const settle = (e: InferSettleEvent) => {
    // The settle entry names the caller as its admit entry did (the same pseudonym when there is one).
    if (e.recipient === null) return;
    state(e.recipient).observeSettle(e.tokens.prompt, e.tokens.completion, e.outcome === 'completed');
  };

  return {
    observe(_index, e) {
      if (e.type === 'infer-admit') admit(e);
      else settle(e);
    },
    assess(caller): RiskAssessment {
      const c = callers.get(caller) ?? new CallerState(limits);
      const signals = callerSignals(c, caller, buckets, o);
      return { caller, score: combinedScore(signals), calls: c.calls, signals };
    },
    callers: () => [...callers.keys()],
    templates(caller, top = 5) {
      const c = callers.get(caller);
      if (!c) return [];
      const counts = new Map<string, number>();
      for (const t of c.template.slice(0, c.recent.count)) counts.set(t, (counts.get(t) ?? 0) + 1);
      return [...counts]
        .filter(([, n]) => n > 1)
        .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
        .slice(0, top)
        .map(([id, calls]) => ({ id, calls }));
    },
  };
}
