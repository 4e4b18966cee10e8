/**
 * The extraction monitor (src/gate/monitor/monitor.ts) on synthetic traffic (test/support/traffic.ts):
 * extraction callers are flagged, benign callers stay quiet (the figures are printed and in
 * docs/GATE.md), and each signal fires for its own reason, with bounded memory.
 */
import { describe, expect, it } from 'vitest';
import { createExtractionMonitor, type MonitorOptions } from '../../src/gate/monitor/monitor.js';
import type { ExtractionMonitor, RiskAssessment } from '../../src/gate/types.js';
import { prng } from '../support/prng.js';
import {
  benignCaller,
  callEvents,
  extractionCaller,
  interleave,
  type ExtractionKind,
  type SyntheticCall,
} from '../support/traffic.js';

/** The score at or above which a caller counts as flagged (two signals at least: docs/GATE.md). */
const ALARM = 0.5;

/** Replays calls through a monitor as a gateway logs them (admit, then settle); calls `after` per call. */
function replay(
  calls: SyntheticCall[],
  opts: MonitorOptions = {},
  after?: (call: SyntheticCall, monitor: ExtractionMonitor) => void,
) {
  const monitor = createExtractionMonitor(opts);
  let index = 0;
  for (const call of calls) {
    const [admit, settle] = callEvents(call, new Date(Date.UTC(2026, 11, 5)));
    monitor.observe(index++, admit);
    monitor.observe(index++, { ...settle, admit: index - 2 });
    after?.(call, monitor);
  }
  return monitor;
}

const fired = (a: RiskAssessment) => a.signals.filter((s) => s.fired).map((s) => s.name);
const signal = (a: RiskAssessment, name: string) => a.signals.find((s) => s.name === name)!;

describe('synthetic traffic', () => {
  it('flags extraction callers and stays quiet on benign ones (the figures of docs/GATE.md)', () => {
    const r = prng(2323);
    const streams: SyntheticCall[][] = [];
    for (let i = 0; i < 200; i++) streams.push(benignCaller(r, `benign-${i}`, 60));
    const kinds: ExtractionKind[] = ['templated', 'perturbation'];
    for (let i = 0; i < 40; i++) streams.push(extractionCaller(r, `x-${kinds[i % 2]}-${i}`, 150, kinds[i % 2]!));
    for (let i = 0; i < 10; i++) streams.push(extractionCaller(r, `x-sybil-${i}`, 30, 'sybil', 1));
    const seen = new Map<string, number>();
    const detectedAt = new Map<string, number>();
    const monitor = replay(interleave(r, streams), {}, (call, m) => {
      const n = (seen.get(call.caller) ?? 0) + 1;
      seen.set(call.caller, n);
      if (call.caller.startsWith('x-') && !detectedAt.has(call.caller) && m.assess(call.caller).score >= ALARM)
        detectedAt.set(call.caller, n);
    });
    const groups = new Map<string, number[]>();
    for (const caller of monitor.callers()) {
      const group = caller.replace(/-\d+$/, '');
      groups.set(group, [...(groups.get(group) ?? []), monitor.assess(caller).score]);
    }
    const benign = groups.get('benign')!;
    const extraction = [...groups].filter(([g]) => g.startsWith('x-')).flatMap(([, s]) => s);
    const falseAlarms = benign.filter((s) => s >= ALARM).length;
    const detected = extraction.filter((s) => s >= ALARM).length;
    const until = [...detectedAt.values()].sort((a, b) => a - b);
    const figures = {
      benign: { callers: benign.length, falseAlarms, maxScore: Math.max(...benign) },
      ...Object.fromEntries(
        [...groups]
          .filter(([g]) => g.startsWith('x-'))
          .map(([g, s]) => [
            g,
            {
              callers: s.length,
              flagged: s.filter((x) => x >= ALARM).length,
              scores: [Math.min(...s), Math.max(...s)].map((x) => x.toFixed(2)),
            },
          ]),
      ),
      callsUntilDetection: { median: until[until.length >> 1], max: until[until.length - 1] },
    };
    console.info(JSON.stringify(figures));
    expect(benign).toHaveLength(200);
    expect(extraction).toHaveLength(50);
    expect(falseAlarms / benign.length).toBeLessThanOrEqual(0.01);
    expect(detected / extraction.length).toBeGreaterThanOrEqual(0.9);
    expect(until[until.length >> 1]).toBeLessThanOrEqual(30);
  });
});

/** `n` calls of one caller with the given prompt maker, application and output/input ratio. */
function callsOf(
  caller: string,
  n: number,
  prompt: (i: number) => string,
  application = '',
  ratio = 1,
): SyntheticCall[] {
  return Array.from({ length: n }, (_, i) => {
    const text = prompt(i);
    const promptTokens = Math.max(1, Math.round(text.length / 4));
    return { caller, application, prompt: text, promptTokens, completionTokens: Math.round(promptTokens * ratio) };
  });
}

/** A word spelling `i` in letters (digits would all normalise to "0"). */
const word = (i: number): string => (i < 26 ? '' : word(Math.floor(i / 26) - 1)) + String.fromCharCode(97 + (i % 26));
/** Distinct prompts: no two share a word 3-gram. */
const distinct = (i: number) => `question ${word(i)} about ${word(i + 1000)} and ${word(i + 5000)} ${word(i + 9000)}`;

describe('each signal', () => {
  it('scores a caller never seen 0, with no signal fired', () => {
    const a = createExtractionMonitor().assess('nobody');
    expect(a).toMatchObject({ caller: 'nobody', score: 0, calls: 0 });
    expect(fired(a)).toEqual([]);
    expect(a.signals.map((s) => s.name)).toEqual([
      'template-reuse',
      'shared-templates',
      'prada',
      'output-ratio',
      'cot-rate',
    ]);
  });

  it('template reuse: a template with slot fills fires, distinct prompts do not, and not before minCalls', () => {
    const templated = (i: number) =>
      `Classify the following review as positive or negative and explain why in detail: item ${word(i)}`;
    const m = replay([...callsOf('t', 30, templated), ...callsOf('d', 30, distinct), ...callsOf('few', 9, templated)]);
    expect(signal(m.assess('t'), 'template-reuse')).toMatchObject({ fired: true, threshold: 0.5 });
    expect(signal(m.assess('t'), 'template-reuse').value).toBeGreaterThan(0.85);
    expect(signal(m.assess('d'), 'template-reuse')).toMatchObject({ fired: false, value: 0 });
    expect(signal(m.assess('few'), 'template-reuse').evidence).toMatch(/not judged/);
    expect(m.templates('t')[0]!.calls).toBeGreaterThan(25);
    expect(m.templates('t')[0]!.id).toMatch(/^tpl-[0-9a-f]{12}$/);
    expect(m.templates('d')).toEqual([]);
  });

  it('shared templates: fire when two other callers reuse the same template, not for one', () => {
    const templated = (i: number) =>
      `You are an expert. Answer completely with every detail and all examples: ${word(i)}`;
    const three = replay(['s1', 's2', 's3'].flatMap((c, k) => callsOf(c, 12, (i) => templated(i + 100 * k))));
    expect(signal(three.assess('s1'), 'shared-templates')).toMatchObject({ fired: true });
    expect(signal(three.assess('s1'), 'shared-templates').evidence).toMatch(/2 other callers also sent \(s2, s3\)/);
    const two = replay(['s1', 's2'].flatMap((c, k) => callsOf(c, 12, (i) => templated(i + 100 * k))));
    expect(signal(two.assess('s1'), 'shared-templates').fired).toBe(false);
    // The same short prompt sent once by many callers is not a template.
    const once = replay(
      Array.from({ length: 20 }, (_, k) => callsOf(`o${k}`, 1, () => 'tell me a joke about cats')).flat(),
    );
    expect(signal(once.assess('o0'), 'shared-templates').value).toBe(0);
  });

  it('output ratio: against the declared application, unknown ones as generic', () => {
    const m = replay([
      ...callsOf('cls', 20, distinct, 'classification', 1),
      ...callsOf('chat', 20, distinct, 'chat', 1),
      ...callsOf('odd', 20, distinct, 'poetry', 11),
      ...callsOf('alias', 20, distinct, 'Summarization', 2),
    ]);
    expect(signal(m.assess('cls'), 'output-ratio')).toMatchObject({ fired: true, value: 1, threshold: 0.2 });
    expect(signal(m.assess('chat'), 'output-ratio')).toMatchObject({ fired: false, threshold: 8 });
    expect(signal(m.assess('odd'), 'output-ratio')).toMatchObject({ fired: true, threshold: 10 });
    expect(signal(m.assess('odd'), 'output-ratio').evidence).toMatch(/"generic"/);
    expect(signal(m.assess('alias'), 'output-ratio')).toMatchObject({ fired: true, threshold: 0.5 });
  });

  it('chain-of-thought rate: against the declared application', () => {
    const sometimes = (i: number) => distinct(i) + (i % 5 === 0 ? ' think step by step' : '');
    const m = replay([...callsOf('tr', 20, sometimes, 'translation'), ...callsOf('code', 20, sometimes, 'code')]);
    expect(signal(m.assess('tr'), 'cot-rate')).toMatchObject({ fired: true, value: 0.2, threshold: 0.02 });
    expect(signal(m.assess('code'), 'cot-rate')).toMatchObject({ fired: false, value: 0.2, threshold: 0.25 });
  });

  it('PRADA: fires when the distances to earlier queries are far from normal, not on a bell shape', () => {
    // Exact repeats (distance 0) mixed with light edits of a long seed (small distances): two lumps.
    const seed = 'the quick brown fox jumps over the lazy dog near the river bank in the morning light today';
    const lumpy = (i: number) =>
      i % 3 === 0 ? seed : seed.replace('morning', `evening${i}`).replace('quick', `slow${i}`);
    const m = replay(callsOf('p', 80, lumpy));
    const p = signal(m.assess('p'), 'prada');
    expect(p.fired).toBe(true);
    expect(p.value).toBeLessThan(0.65);
    expect(p.evidence).toMatch(/^Shapiro–Wilk W = 0\.\d{3} \(p = .+\) over the minimum distances of \d+ queries/);
    expect(signal(m.assess('nobody'), 'prada').evidence).toMatch(/not judged/);
  });

  it('combines fired signals as 1 − Π(1 − weight); settle entries give the token ratios', () => {
    const m = replay(callsOf('c', 20, (i) => distinct(i) + ' step by step', 'translation', 5));
    const a = m.assess('c');
    expect(fired(a)).toEqual(['output-ratio', 'cot-rate']);
    expect(a.score).toBeCloseTo(1 - (1 - 0.3) * (1 - 0.25), 10);
    expect(a.calls).toBe(20);
  });

  it('keeps memory bounded: a window of calls per caller, at most maxCallers callers', () => {
    const m = replay(Array.from({ length: 50 }, (_, k) => callsOf(`c${k}`, 3, distinct)).flat(), {
      maxCallers: 10,
      window: 16,
    });
    expect(m.callers()).toHaveLength(10);
    const long = replay(callsOf('l', 100, distinct), { window: 16 });
    expect(signal(long.assess('l'), 'cot-rate').evidence).toMatch(/of the last 16 prompts/);
  });
});
