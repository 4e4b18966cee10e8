/**
 * `modelseal gate review` as a library call: the log's inference entries replayed through the
 * extraction monitor, and per caller its use (calls allowed and denied, denials by reason, tokens,
 * FLOPs, outcomes, API keys) and its risk with the evidence (docs/GATE.md, "`gate review`").
 * It reads and reports; revoking is a person's decision.
 */
import { storeEvents, type InferAdmitEvent, type InferSettleEvent } from '../../log/events.js';
import type { LogStore } from '../../log/store.js';
import type { RiskAssessment } from '../types.js';
import { createExtractionMonitor, type MonitorOptions, type TemplateCount } from './monitor.js';

/** What to review: a period (ms since the epoch, `until` excluded) and which callers. */
export interface GateReviewOptions {
  since?: number;
  until?: number;
  /** Keeps only the callers (as logged: names or pseudonyms) for which it returns true. */
  caller?: (logged: string) => boolean;
  monitor?: MonitorOptions;
  /** Templates listed per caller (default 5). */
  templates?: number;
}

/** One caller's use of the gateway in the period, and its risk at the period's end. */
export interface CallerReview {
  caller: string;
  calls: { allowed: number; denied: number };
  /** Denied calls by the decision's reason. */
  denials: Record<string, number>;
  /** Settled calls by outcome ("completed", "client-disconnect", …). */
  outcomes: Record<string, number>;
  tokens: { prompt: number; completion: number };
  /** Exact sum of the settled calls' FLOPs, a decimal string. */
  flops: string;
  /** The share of settled calls whose tokens the gateway counted or estimated (no usage from the model server). */
  estimatedShare: number;
  /** The caller's share of all callers' tokens in the period. */
  tokenShare: number;
  /** The API key ids the caller used (what a revocation names). */
  keys: string[];
  risk: RiskAssessment;
  templates: TemplateCount[];
}

/** The review: the log's size, the period, and every caller with calls in it, riskiest first. */
export interface GateReview {
  size: number;
  since: string | null;
  until: string | null;
  /** Inference entries in the period (admit and settle) of the callers reviewed. */
  entries: number;
  /** Calls in the period from no recipient (refused before identification: no key, a wrong or revoked one). */
  unauthenticated: number;
  callers: CallerReview[];
}

type Usage = Omit<CallerReview, 'caller' | 'flops' | 'estimatedShare' | 'tokenShare' | 'risk' | 'templates'> & {
  flops: bigint;
  settled: number;
  estimated: number;
};

const blank = (): Usage => ({
  calls: { allowed: 0, denied: 0 },
  denials: {},
  outcomes: {},
  tokens: { prompt: 0, completion: 0 },
  keys: [],
  flops: 0n,
  settled: 0,
  estimated: 0,
});

/** Counts one entry of the period into its caller's use. */
function count(u: Usage, e: InferAdmitEvent | InferSettleEvent): void {
  if (e.type === 'infer-admit') {
    if (e.decision === 'allow') u.calls.allowed++;
    else {
      u.calls.denied++;
      u.denials[e.reason] = (u.denials[e.reason] ?? 0) + 1;
    }
    if (e.key !== null && !u.keys.includes(e.key)) u.keys.push(e.key);
    return;
  }
  u.settled++;
  if (e.estimated) u.estimated++;
  u.outcomes[e.outcome] = (u.outcomes[e.outcome] ?? 0) + 1;
  u.tokens.prompt += e.tokens.prompt;
  u.tokens.completion += e.tokens.completion;
  if (/^[0-9]+$/.test(e.flops)) u.flops += BigInt(e.flops);
}

/**
 * Reviews the gateway's callers from `store`: the monitor sees every inference entry before the
 * period's end (a caller's history counts), the use is counted over the period, and only callers
 * with an entry in the period are reported.
 */
export async function reviewGate(store: LogStore, o: GateReviewOptions = {}): Promise<GateReview> {
  const monitor = createExtractionMonitor(o.monitor);
  const usage = new Map<string, Usage>();
  let entries = 0;
  let unauthenticated = 0;
  for await (const { index, event } of storeEvents(store)) {
    if (event?.type !== 'infer-admit' && event?.type !== 'infer-settle') continue;
    const t = Date.parse(event.time);
    if (o.until !== undefined && t >= o.until) continue;
    monitor.observe(index, event);
    if (o.since !== undefined && t < o.since) continue;
    if (event.recipient === null) {
      if (event.type === 'infer-admit' && !o.caller) unauthenticated++;
      continue;
    }
    if (o.caller && !o.caller(event.recipient)) continue;
    entries++;
    let u = usage.get(event.recipient);
    if (!u) usage.set(event.recipient, (u = blank()));
    count(u, event);
  }
  let allTokens = 0;
  for (const u of usage.values()) allTokens += u.tokens.prompt + u.tokens.completion;
  const callers = [...usage].map(([caller, u]): CallerReview => {
    const { flops, settled, estimated, ...rest } = u;
    return {
      caller,
      ...rest,
      flops: flops.toString(),
      estimatedShare: settled === 0 ? 0 : estimated / settled,
      tokenShare: allTokens === 0 ? 0 : (u.tokens.prompt + u.tokens.completion) / allTokens,
      risk: monitor.assess(caller),
      templates: monitor.templates(caller, o.templates ?? 5),
    };
  });
  callers.sort((a, b) => b.risk.score - a.risk.score || (a.caller < b.caller ? -1 : 1));
  const iso = (t: number | undefined) => (t === undefined ? null : new Date(t).toISOString());
  return { size: store.size, since: iso(o.since), until: iso(o.until), entries, unauthenticated, callers };
}
