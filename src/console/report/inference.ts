/**
 * The report's figures on the gateway's calls (report.json `inference`): admits and settles of the
 * period, per bucket of the timeline, per denial reason, per recipient and per served model, and
 * the highest risk scores at admission. docs/REPORT.md, "Inference".
 */
import type { InferAdmitEvent, InferSettleEvent } from '../../log/events.js';
import type { InferenceReport, InferenceUsage, RiskRow, TimelineBucket } from './data.js';
import { byKey } from './order.js';

/** How many calls the risk table lists. */
const TOP_RISKS = 10;

/** A row's counts as they add up: FLOPs as a bigint. */
type Usage = Omit<InferenceUsage, 'estimatedShare' | 'share' | 'flops'> & { flops: bigint };

const emptyUsage = (): Usage => ({
  allowed: 0,
  denied: 0,
  settled: 0,
  promptTokens: 0,
  completionTokens: 0,
  estimatedTokens: 0,
  flops: 0n,
  maxRisk: 0,
});

/** A ratio to 3 decimals, 0 for nothing over nothing. */
const ratio = (a: number, b: number) => (b > 0 ? Math.round((a / b) * 1000) / 1000 : 0);

/** A logged FLOPs figure (a decimal string of an integer) as a bigint; anything else counts as 0. */
function flopsOf(v: string): bigint {
  return /^[0-9]{1,60}$/.test(v) ? BigInt(v) : 0n;
}

/** The accumulators of the gateway's entries over one pass. */
export class InferenceTally {
  readonly #total = emptyUsage();
  readonly #recipients = new Map<string | null, Usage>();
  readonly #models = new Map<string, Usage & { artifacts: Set<string> }>();
  readonly #reasons = new Map<string, { denied: number; buckets: number[] }>();
  readonly #open = new Set<string>();
  readonly #risks: RiskRow[] = [];
  readonly #timeline: { start: string; allowed: number; denied: number }[];

  constructor(
    timeline: readonly TimelineBucket[],
    readonly bucketOf: (time: string) => number,
  ) {
    this.#timeline = timeline.map((b) => ({ start: b.start, allowed: 0, denied: 0 }));
  }

  #rows(recipient: string | null, model: string): Usage[] {
    let r = this.#recipients.get(recipient);
    if (!r) this.#recipients.set(recipient, (r = emptyUsage()));
    let m = this.#models.get(model);
    if (!m) this.#models.set(model, (m = { ...emptyUsage(), artifacts: new Set() }));
    return [this.#total, r, m];
  }

  /** Counts a call admitted or refused. */
  admit(index: number, e: InferAdmitEvent): void {
    const outcome = e.decision === 'allow' ? 'allowed' : 'denied';
    for (const u of this.#rows(e.recipient, e.model)) {
      u[outcome]++;
      u.maxRisk = Math.max(u.maxRisk, e.risk);
    }
    if (e.artifact !== null) this.#models.get(e.model)!.artifacts.add(e.artifact);
    const b = this.bucketOf(e.time);
    if (b >= 0) this.#timeline[b]![outcome]++;
    if (e.decision === 'deny') {
      let r = this.#reasons.get(e.reason);
      if (!r) this.#reasons.set(e.reason, (r = { denied: 0, buckets: this.#timeline.map(() => 0) }));
      r.denied++;
      if (b >= 0) r.buckets[b]!++;
    } else this.#open.add(e.id);
    const { time, recipient, model, risk, decision, reason } = e;
    this.#risks.push({ index, time, recipient, model, risk, decision, reason });
    // Only the highest scores are kept: trimmed now and then, so a long log costs no memory for them.
    if (this.#risks.length >= 8 * TOP_RISKS) this.#trimRisks();
  }

  #trimRisks(): void {
    this.#risks.sort((a, b) => b.risk - a.risk || a.index - b.index).splice(TOP_RISKS);
  }

  /** Counts how a call ended: its tokens and FLOPs. */
  settle(e: InferSettleEvent): void {
    this.#open.delete(e.id);
    for (const u of this.#rows(e.recipient, e.model)) {
      u.settled++;
      u.promptTokens += e.tokens.prompt;
      u.completionTokens += e.tokens.completion;
      if (e.estimated) u.estimatedTokens += e.tokens.prompt + e.tokens.completion;
      u.flops += flopsOf(e.flops);
    }
  }

  /** The figures, every table in a stable order. */
  result(): InferenceReport {
    const all = this.#total.promptTokens + this.#total.completionTokens;
    const usage = (u: Usage): InferenceUsage => {
      const tokens = u.promptTokens + u.completionTokens;
      const { allowed, denied, settled, promptTokens, completionTokens, estimatedTokens, maxRisk } = u;
      return {
        ...{ allowed, denied, settled, promptTokens, completionTokens, estimatedTokens },
        estimatedShare: ratio(estimatedTokens, tokens),
        share: ratio(tokens, all),
        flops: u.flops.toString(),
        maxRisk,
      };
    };
    const { share: _share, maxRisk: _maxRisk, ...totals } = usage(this.#total);
    const busiest = (a: InferenceUsage, b: InferenceUsage) =>
      b.promptTokens + b.completionTokens - (a.promptTokens + a.completionTokens) ||
      b.allowed + b.denied - (a.allowed + a.denied);
    return {
      totals: { ...totals, open: this.#open.size },
      timeline: this.#timeline,
      reasons: [...this.#reasons]
        .map(([reason, r]) => ({ reason, ...r }))
        .sort((a, b) => b.denied - a.denied || byKey(a.reason, b.reason)),
      recipients: [...this.#recipients]
        .map(([recipient, u]) => ({ recipient, ...usage(u) }))
        .sort((a, b) => busiest(a, b) || byKey(a.recipient, b.recipient)),
      models: [...this.#models]
        .map(([model, { artifacts, ...u }]) => ({ model, artifacts: [...artifacts].sort(byKey), ...usage(u) }))
        .sort((a, b) => busiest(a, b) || byKey(a.model, b.model)),
      risks: (this.#trimRisks(), this.#risks),
    };
  }
}
