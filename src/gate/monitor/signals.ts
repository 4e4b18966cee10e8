/**
 * The monitor's five signals for one caller, each with its value, threshold, whether it fired and
 * the evidence in words (docs/GATE.md, "Extraction monitoring"), and the score that combines them.
 */
import type { RiskSignal } from '../types.js';
import type { CallerState } from './caller.js';
import applicationData from './data/applications.json' with { type: 'json' };
import { BANDS, type Buckets } from './lsh.js';
import { shapiroWilk } from './shapiro.js';

/** The thresholds of the signals (MonitorOptions in monitor.ts; docs/GATE.md says why each). */
export interface SignalThresholds {
  /** Calls before a rate signal (template reuse, chain of thought, token ratio) may fire. */
  minCalls: number;
  reuse: number;
  shared: number;
  sharedCallers: number;
  pradaDelta: number;
  pradaMinDistances: number;
}

/** Each signal's weight in the score: score = 1 − Π(1 − weight) over the signals that fired. */
export const SIGNAL_WEIGHTS: Readonly<Record<string, number>> = {
  'template-reuse': 0.35,
  'shared-templates': 0.45,
  prada: 0.35,
  'output-ratio': 0.3,
  'cot-rate': 0.25,
};

/** The expected ranges of a declared application (data/applications.json; unknown: "generic"). */
export function applicationRanges(declared: string): { name: string; maxOutputRatio: number; maxCotRate: number } {
  const key = declared.trim().toLowerCase();
  const aliases: Record<string, string> = applicationData.aliases;
  const apps: Record<string, { maxOutputRatio: number; maxCotRate: number }> = applicationData.applications;
  const name = apps[key] ? key : aliases[key] && apps[aliases[key]] ? aliases[key] : 'generic';
  return { name, ...apps[name]! };
}

/** Bands a prompt must share with another caller's prompt to count as the same template. */
const SHARED_BANDS = 2;

const pct = (x: number) => `${Math.round(100 * x)} %`;

function signal(name: string, value: number, threshold: number, fired: boolean, evidence: string): RiskSignal {
  return { name, value, threshold, fired, evidence, weight: SIGNAL_WEIGHTS[name] ?? 0 };
}

/** The share of the caller's recent calls near-duplicating an earlier recent call. */
function templateReuse(c: CallerState, t: SignalThresholds): RiskSignal {
  const n = c.recent.count;
  let near = 0;
  for (let s = 0; s < n; s++) near += c.near[s]!;
  const templates = new Set(c.template.slice(0, n)).size;
  const value = n === 0 ? 0 : near / n;
  const fired = n >= t.minCalls && value >= t.reuse;
  const evidence =
    `${near} of the last ${n} prompts near-duplicate an earlier one (estimated Jaccard ≥ ${c.limits.near}), ` +
    `${templates} distinct template${templates === 1 ? '' : 's'}` +
    (n < t.minCalls ? `; fewer than ${t.minCalls} prompts: not judged` : '');
  return signal('template-reuse', value, t.reuse, fired, evidence);
}

/**
 * The share of the caller's recent calls that reuse one of its templates (a near-duplicate of an
 * earlier call) which other callers also sent (LSH buckets): a common short prompt sent once by
 * many people is not a template; the same template sent again and again by several callers is.
 */
function sharedTemplates(c: CallerState, caller: string, buckets: Buckets, t: SignalThresholds): RiskSignal {
  const n = c.recent.count;
  const others = new Set<string>();
  let shared = 0;
  for (let s = 0; s < n; s++)
    if (c.near[s] === 1 && buckets.others(c.keys, s * BANDS, caller, SHARED_BANDS, others)) shared++;
  const value = n === 0 ? 0 : shared / n;
  const fired = value >= t.shared && others.size >= t.sharedCallers;
  const names = [...others].sort().slice(0, 5).join(', ') + (others.size > 5 ? ', …' : '');
  const evidence =
    `${shared} of the last ${n} prompts reuse a template that ${others.size} other caller` +
    `${others.size === 1 ? '' : 's'} also sent${others.size > 0 ? ` (${names})` : ''}`;
  return signal('shared-templates', value, t.shared, fired, evidence);
}

/** PRADA's normality test over the distances of the caller's queries to its earlier ones. */
function prada(c: CallerState, t: SignalThresholds): RiskSignal {
  // Distance 1 (no shingle in common) is the floor of unrelated text, not a measurement: left out.
  const d = c.distances.held().filter((x) => x < 1);
  if (d.length < Math.max(t.pradaMinDistances, 3))
    return signal(
      'prada',
      1,
      t.pradaDelta,
      false,
      `${d.length} queries closer than distance 1 to an earlier one; fewer than ${t.pradaMinDistances}: not judged`,
    );
  const { w, p } = shapiroWilk(d.length > 5000 ? d.subarray(0, 5000) : d);
  const mean = d.reduce((a, b) => a + b, 0) / d.length;
  const evidence =
    `Shapiro–Wilk W = ${w.toFixed(3)} (p = ${p.toPrecision(2)}) over the minimum distances of ${d.length} queries ` +
    `to the caller's earlier ones (mean ${mean.toFixed(2)})`;
  return signal('prada', w, t.pradaDelta, w < t.pradaDelta, evidence);
}

function median(xs: Float64Array): number {
  const s = Float64Array.from(xs).sort();
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The median completion/prompt token ratio against the declared application's upper bound. */
function outputRatio(c: CallerState, t: SignalThresholds): RiskSignal {
  const app = applicationRanges(c.application);
  const ratios = c.ratios.held();
  const value = ratios.length === 0 ? 0 : median(ratios);
  const fired = ratios.length >= t.minCalls && value > app.maxOutputRatio;
  const evidence =
    `median output/input tokens ${value.toFixed(2)} over the last ${ratios.length} completed calls; ` +
    `"${app.name}" expects at most ${app.maxOutputRatio}` +
    (ratios.length < t.minCalls ? `; fewer than ${t.minCalls} calls: not judged` : '');
  return signal('output-ratio', value, app.maxOutputRatio, fired, evidence);
}

/** The share of recent prompts asking for step-by-step reasoning against the application's bound. */
function cotRate(c: CallerState, t: SignalThresholds): RiskSignal {
  const app = applicationRanges(c.application);
  const n = c.recent.count;
  let cot = 0;
  for (let s = 0; s < n; s++) cot += c.cot[s]!;
  const value = n === 0 ? 0 : cot / n;
  const fired = n >= t.minCalls && value > app.maxCotRate;
  const evidence =
    `${cot} of the last ${n} prompts (${pct(value)}) ask for step-by-step reasoning; ` +
    `"${app.name}" expects at most ${pct(app.maxCotRate)}` +
    (n < t.minCalls ? `; fewer than ${t.minCalls} prompts: not judged` : '');
  return signal('cot-rate', value, app.maxCotRate, fired, evidence);
}

/** Every signal of a caller, in a fixed order. */
export function callerSignals(c: CallerState, caller: string, buckets: Buckets, t: SignalThresholds): RiskSignal[] {
  return [templateReuse(c, t), sharedTemplates(c, caller, buckets, t), prada(c, t), outputRatio(c, t), cotRate(c, t)];
}

/** The score of a set of signals: 1 − Π(1 − weight) over those that fired (0 when none did). */
export function combinedScore(signals: readonly RiskSignal[]): number {
  let quiet = 1;
  for (const s of signals) if (s.fired) quiet *= 1 - (s.weight ?? 0);
  return 1 - quiet;
}
