/** The audit report's figures (buildReport) over hand-made entries, and its page (renderReportHtml). */
import { describe, expect, it } from 'vitest';
import { buildReport, renderReportHtml, type ReportData, type ReportInput } from '../../src/index.js';
import {
  COPY,
  LIST,
  MODEL,
  POLICY,
  exported,
  expectedValue,
  figureValue,
  granted,
  indexed,
  inferenceStory,
  overridden,
  pageFigures,
  refused,
  released,
  traced,
} from '../support/report.js';
import { admit } from '../support/inference.js';

const LOG = { origin: 'modelseal.test/report', size: 0, checkpoint: null, verified: null };

const input = (over: Partial<ReportInput>): ReportInput => ({
  entries: [],
  log: LOG,
  period: {},
  generated: '2026-11-10T12:00:00.000Z',
  ...over,
});

/** Checks that every figure of the page shows report.json's value, and returns how many there are. */
function figuresMatch(report: ReportData): number {
  const figures = pageFigures(renderReportHtml(report));
  for (const f of figures) expect(figureValue(f), f.path).toEqual(expectedValue(report, f));
  return figures.length;
}

describe('buildReport', () => {
  it('reports an empty log: no period, no buckets, every table empty, and a page that says so', () => {
    const r = buildReport(input({}));
    expect(r.v).toBe(1);
    expect(r.period).toEqual({ since: null, until: null, first: null, last: null, unit: 'day' });
    expect(r.timeline).toEqual([]);
    expect(Object.keys(r.totals)).toHaveLength(8);
    expect(new Set(Object.values(r.totals))).toEqual(new Set([0]));
    for (const k of ['destinations', 'observed', 'reasons', 'recipients', 'models', 'lists', 'policySets'] as const)
      expect(r[k], k).toEqual([]);
    expect(r.log).toEqual({ ...LOG, problem: null });
    const html = renderReportHtml(r);
    expect(html).toContain('no traces on record');
    expect(html).toContain('Log not checked');
    expect(figuresMatch(r)).toBeGreaterThan(10);
  });

  it('reports one allowed release in every table it belongs to', () => {
    const e = released('2026-11-10T09:00:00.000Z', 'acme-labs', 'allow', 'policy', { destination: 'de' });
    const r = buildReport(input({ entries: indexed([e]) }));
    expect(r.totals).toMatchObject({ entries: 1, allowed: 1, denied: 0, exports: 0 });
    expect(r.timeline).toEqual([{ start: '2026-11-10', exports: 0, allowed: 1, denied: 0, refused: 0 }]);
    expect(r.destinations).toEqual([{ country: 'DE', allowed: 1, denied: 0 }]);
    // Logged before the service located requests: the observed country is not recorded (null), not unknown ("").
    expect(r.observed).toEqual([{ country: null, allowed: 1, denied: 0 }]);
    expect(r.reasons).toEqual([]);
    expect(r.recipients).toEqual([{ recipient: 'acme-labs', exports: 0, allowed: 1, denied: 0, destinations: ['DE'] }]);
    expect(r.models).toEqual([
      {
        model: MODEL,
        names: [],
        exports: 0,
        allowed: 1,
        denied: 0,
        destinations: ['DE'],
        recipients: ['acme-labs'],
      },
    ]);
    expect(r.policySets).toEqual([
      { ref: POLICY, first: '2026-11-10T09:00:00.000Z', last: '2026-11-10T09:00:00.000Z', count: 1 },
    ]);
    figuresMatch(r);
  });

  it('keeps empty buckets of the period, by day, week or month by its length (UTC, weeks from Monday)', () => {
    const entries = indexed([
      exported('2026-11-02T23:59:59.999Z', 'acme-labs'),
      released('2026-11-05T00:00:00.000Z', 'acme-labs', 'deny', 'destination-not-licensed'),
      refused('2026-11-05T08:00:00.000Z', { 'bad-signature': 3 }),
    ]);
    const days = buildReport(input({ entries, period: { since: '2026-11-01', until: '2026-11-08' } }));
    expect(days.period.unit).toBe('day');
    expect(days.timeline.map((b) => b.start)).toEqual([1, 2, 3, 4, 5, 6, 7].map((d) => `2026-11-0${d}`));
    expect(days.timeline.map((b) => [b.exports, b.allowed, b.denied, b.refused])).toEqual([
      [0, 0, 0, 0],
      [1, 0, 0, 0],
      [0, 0, 0, 0],
      [0, 0, 0, 0],
      [0, 0, 1, 3],
      [0, 0, 0, 0],
      [0, 0, 0, 0],
    ]);
    const weeks = buildReport(input({ entries, period: { since: '2026-10-01', until: '2026-12-01' } }));
    expect(weeks.period.unit).toBe('week');
    // 2026-10-01 is a Thursday: the first week starts on Monday 2026-09-28; 2026-11-30 is the last Monday.
    expect(weeks.timeline[0]!.start).toBe('2026-09-28');
    expect(weeks.timeline.at(-1)!.start).toBe('2026-11-30');
    expect(weeks.timeline).toHaveLength(10);
    expect(weeks.timeline.find((b) => b.start === '2026-11-02')).toMatchObject({ exports: 1, denied: 1, refused: 3 });
    expect(weeks.timeline.filter((b) => b.exports + b.denied + b.refused === 0)).toHaveLength(9);
    const months = buildReport(input({ entries, period: { since: '2026-01-01', until: '2027-01-01' } }));
    expect(months.period.unit).toBe('month');
    expect(months.timeline.map((b) => b.start)).toEqual(
      Array.from({ length: 12 }, (_, m) => `2026-${String(m + 1).padStart(2, '0')}-01`),
    );
    expect(months.timeline[10]).toEqual({ start: '2026-11-01', exports: 1, allowed: 0, denied: 1, refused: 3 });
    // Without --until the period runs to when the report was made.
    const open = buildReport(input({ entries, period: { since: '2026-11-01' } }));
    expect(open.timeline.at(-1)!.start).toBe('2026-11-10');
    figuresMatch(weeks);
  });

  it('counts denials by reason, destinations and observed countries, per recipient and per model', () => {
    const observed = (country: string) => ({
      observed: { address: '198.51.100.1', country, network: '' as const, database: '', ageDays: 1, stale: false },
    });
    const entries = indexed([
      exported('2026-11-01T00:00:00.000Z', 'acme-labs', { fingerprint: 'fp-1', model: 'demo-model' }),
      exported('2026-11-01T00:00:01.000Z', 'globex', { model: 'demo-model-v2' }),
      released('2026-11-02T00:00:00.000Z', 'acme-labs', 'allow', 'policy', {
        artifact: COPY,
        model: MODEL,
        ...observed('de'),
      }),
      released('2026-11-03T00:00:00.000Z', 'acme-labs', 'deny', 'destination-not-licensed', {
        destination: 'CN',
        ...observed(''),
      }),
      released('2026-11-03T00:00:00.000Z', 'ООО Ромашка', 'deny', 'embargo', { destination: 'IR', ...observed('IR') }),
      released('2026-11-04T00:00:00.000Z', null, 'deny', 'unknown-recipient', { artifact: null, destination: null }),
      refused('2026-11-05T00:00:00.000Z', { embargo: 2, 'bad-signature': 4 }),
    ]);
    const r = buildReport(input({ entries }));
    expect(r.totals).toMatchObject({ exports: 2, allowed: 1, denied: 3, refused: 6 });
    expect(r.reasons).toEqual([
      { reason: 'bad-signature', releases: 0, refused: 4, total: 4 },
      { reason: 'embargo', releases: 1, refused: 2, total: 3 },
      { reason: 'destination-not-licensed', releases: 1, refused: 0, total: 1 },
      { reason: 'unknown-recipient', releases: 1, refused: 0, total: 1 },
    ]);
    expect(r.destinations).toEqual([
      { country: '', allowed: 0, denied: 1 },
      { country: 'CN', allowed: 0, denied: 1 },
      { country: 'DE', allowed: 1, denied: 0 },
      { country: 'IR', allowed: 0, denied: 1 },
    ]);
    expect(r.observed).toEqual([
      { country: '', allowed: 0, denied: 1 },
      { country: 'DE', allowed: 1, denied: 0 },
      { country: 'IR', allowed: 0, denied: 1 },
      { country: null, allowed: 0, denied: 1 },
    ]);
    expect(r.recipients).toEqual([
      { recipient: 'acme-labs', exports: 1, allowed: 1, denied: 1, destinations: ['CN', 'DE'] },
      { recipient: 'globex', exports: 1, allowed: 0, denied: 0, destinations: [] },
      { recipient: 'ООО Ромашка', exports: 0, allowed: 0, denied: 1, destinations: ['IR'] },
      { recipient: null, exports: 0, allowed: 0, denied: 1, destinations: [''] },
    ]);
    // The fingerprinted copy's release counts for the model its stanza names.
    expect(r.models[0]).toEqual({
      model: MODEL,
      names: ['demo-model', 'demo-model-v2'],
      exports: 2,
      allowed: 1,
      denied: 2,
      destinations: ['CN', 'DE', 'IR'],
      recipients: ['acme-labs', 'globex', 'ООО Ромашка'],
    });
    expect(r.models[1]).toMatchObject({ model: null, denied: 1, recipients: [] });
    figuresMatch(r);
  });

  it('lists the screening lists and policy sets in force, traces, overrides and grants on record', () => {
    const screening = (lists: string[]) => ({
      screening: { decision: 'clear' as const, lists, stale: [], best: null },
    });
    const older = 'sample@sha256:' + '0'.repeat(64);
    const entries = indexed([
      released('2026-11-03T00:00:00.000Z', 'a', 'allow', 'policy', screening([older])),
      overridden('2026-11-04T00:00:00.000Z', 'b'),
      released('2026-11-05T00:00:00.000Z', 'a', 'allow', 'policy', { ...screening([LIST]), policySet: 'f'.repeat(64) }),
      released('2026-11-02T00:00:00.000Z', 'a', 'allow', 'policy', screening([older])),
      traced('2026-11-06T00:00:00.000Z', ['acme-labs']),
      traced('2026-11-07T00:00:00.000Z', []),
      granted('2026-11-08T00:00:00.000Z', 'acme-labs'),
    ]);
    const r = buildReport(input({ entries }));
    expect(r.lists).toEqual([
      { ref: older, first: '2026-11-02T00:00:00.000Z', last: '2026-11-03T00:00:00.000Z', count: 2 },
      { ref: LIST, first: '2026-11-04T00:00:00.000Z', last: '2026-11-05T00:00:00.000Z', count: 2 },
    ]);
    expect(r.policySets.map((p) => [p.ref, p.count])).toEqual([
      [POLICY, 2],
      ['f'.repeat(64), 1],
    ]);
    expect(r.traces).toHaveLength(2);
    expect(r.traces[0]).toMatchObject({ index: 4, original: MODEL, derived: true, recipients: 3 });
    expect(r.traces[0]!.accused).toEqual([
      { recipient: 'acme-labs', copy: 'copy-0', z: '9.5', threshold: '4.75', log10Bound: '-9' },
    ]);
    expect(r.traces[1]!.accused).toEqual([]);
    expect(r.overrides).toEqual([
      {
        index: 1,
        time: '2026-11-04T00:00:00.000Z',
        recipient: 'b',
        org: 'Org',
        screening: 'review',
        entities: ['sample:e-1'],
        reason: 'a namesake',
        decidedBy: 'officer',
      },
    ]);
    expect(r.grants).toMatchObject([{ index: 6, recipient: 'acme-labs', grant: 'g-1', operations: ['Decrypt'] }]);
    expect(r.totals).toMatchObject({ traces: 2, overrides: 1, grants: 1, allowed: 3 });
    figuresMatch(r);
  });

  it('gives the same JSON for the same input, whatever the order of keys in the entries', () => {
    const events = [
      released('2026-11-02T00:00:00.000Z', 'b', 'deny', 'x'),
      released('2026-11-02T00:00:00.000Z', 'a', 'deny', 'y'),
    ];
    const reversed = events.map((e) => Object.fromEntries(Object.entries(e).reverse()) as typeof e);
    const a = JSON.stringify(buildReport(input({ entries: indexed(events) })));
    expect(JSON.stringify(buildReport(input({ entries: indexed(reversed) })))).toBe(a);
    expect(JSON.stringify(buildReport(input({ entries: indexed(events) })))).toBe(a);
    expect(renderReportHtml(buildReport(input({ entries: indexed(events) })))).toBe(
      renderReportHtml(buildReport(input({ entries: indexed(events) }))),
    );
  });

  it('rejects a period bound that is not a time', () => {
    expect(() => buildReport(input({ period: { since: 'yesterday' } }))).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });
});

describe('renderReportHtml', () => {
  const hostile = '<script>alert(1)</script>';
  const quotes = `"'><img src=x onerror=alert(2)>`;

  it('escapes every string from the log and renders names in any script as written', () => {
    const entries = indexed([
      exported('2026-11-01T00:00:00.000Z', hostile, { model: quotes }),
      released('2026-11-02T00:00:00.000Z', quotes, 'deny', hostile, { destination: '<b>' }),
      released('2026-11-02T00:00:00.000Z', 'مختبر القاهرة', 'allow', 'policy'),
      released('2026-11-02T00:00:00.000Z', '北京实验室', 'allow', 'policy'),
      refused('2026-11-03T00:00:00.000Z', { [quotes]: 1 }),
      traced('2026-11-04T00:00:00.000Z', [hostile]),
    ]);
    const r = buildReport(input({ entries, log: { ...LOG, origin: quotes, verified: false, problem: hostile } }));
    const html = renderReportHtml(r);
    expect(html).not.toMatch(/<script|<img|<b>|onerror=alert\(2\)>/i);
    expect(html).toContain('&#60;script&#62;alert(1)&#60;/script&#62;');
    expect(html).toContain('<td dir="auto"><span data-figure="recipients.');
    expect(html).toContain('مختبر القاهرة');
    expect(html).toContain('北京实验室');
    expect(html).toContain('LOG NOT VERIFIED');
    // Every figure, hostile strings included, reads back as report.json has it.
    const n = figuresMatch(r);
    expect(n).toBeGreaterThan(60);
  });

  it('is one self-contained page: a CSP forbidding scripts and loads, UTF-8, no external resource', () => {
    const html = renderReportHtml(buildReport(input({ entries: indexed([exported('2026-11-01T00:00:00Z', 'a')]) })));
    expect(html).toContain('<meta charset="utf-8">');
    const csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:".replace(/'/g, '&#39;');
    expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="${csp}">`);
    expect(html).not.toMatch(/<script|<link|<iframe|<img|<object|\bsrc=|\bhref=|@import|url\(/i);
    // The only URL is SVG's namespace name, which is never fetched.
    expect(new Set([...html.matchAll(/https?:\/\/[^"\s]+/g)].map((m) => m[0]))).toEqual(
      new Set(['http://www.w3.org/2000/svg']),
    );
    const print = html.slice(html.indexOf('@media print'));
    expect(print).toContain('section { break-before: page; }');
    expect(print).toContain('tr, svg.chart, .card, .verdict { break-inside: avoid; }');
    expect(html).toMatch(/<svg [^>]*role="img"[^>]*><title id="chart-releases-t">/);
  });
});

describe('buildReport: inference calls', () => {
  it('counts calls allowed and denied by reason over time, tokens and FLOPs per recipient and model, top risks', () => {
    const r = buildReport(input({ entries: indexed(inferenceStory()), period: { since: '2026-11-01T00:00:00Z' } }));
    const x = r.inference;
    expect(x.totals).toEqual({
      allowed: 3,
      denied: 3,
      settled: 2,
      open: 1,
      promptTokens: 54,
      completionTokens: 110,
      estimatedTokens: 40,
      estimatedShare: 0.244,
      flops: '328000',
    });
    // The release figures are the release service's: gateway calls are not key releases.
    expect(r.totals).toMatchObject({ entries: 8, allowed: 0, denied: 0 });
    const day = (d: number) => x.timeline.find((b) => b.start === `2026-11-${String(d).padStart(2, '0')}`);
    expect([day(5), day(10), day(17)]).toEqual([
      { start: '2026-11-05', allowed: 1, denied: 0 },
      { start: '2026-11-10', allowed: 0, denied: 1 },
      { start: '2026-11-17', allowed: 1, denied: 0 },
    ]);
    expect(x.reasons.map((o) => [o.reason, o.denied, o.buckets.reduce((a, b) => a + b, 0)])).toEqual([
      ['embargoed-nationality', 1, 1],
      ['extraction-risk', 1, 1],
      ['unauthenticated', 1, 1],
    ]);
    expect(x.reasons[0]!.buckets).toHaveLength(x.timeline.length);
    expect(x.recipients.map((u) => u.recipient)).toEqual(['acme-labs', 'مختبر القاهرة', 'Лаборатория Волга', null]);
    expect(x.recipients[0]).toEqual({
      recipient: 'acme-labs',
      allowed: 2,
      denied: 1,
      settled: 1,
      promptTokens: 24,
      completionTokens: 100,
      estimatedTokens: 0,
      estimatedShare: 0,
      share: 0.756,
      flops: '248000',
      maxRisk: 910,
    });
    expect(x.recipients[1]).toMatchObject({ estimatedTokens: 40, estimatedShare: 1, share: 0.244, flops: '80000' });
    expect(x.models.map((m) => [m.model, m.artifacts, m.allowed, m.denied, m.settled])).toEqual([
      ['tiny-llama', [`sha256:${'a'.repeat(64)}`], 2, 3, 2],
      ['other-model', [], 1, 0, 0],
    ]);
    expect(x.risks.map((c) => [c.risk, c.decision, c.reason])).toEqual([
      [910, 'deny', 'extraction-risk'],
      [640, 'allow', 'licensed'],
      [300, 'deny', 'embargoed-nationality'],
      [120, 'allow', 'licensed'],
      [50, 'allow', 'licensed'],
      [0, 'deny', 'unauthenticated'],
    ]);
    // The policy set and lists the admissions were decided under are in force.
    expect(r.policySets).toMatchObject([{ ref: POLICY, count: 6 }]);
    expect(r.lists.map((l) => l.count)).toEqual([6]);
  });

  it('shows every inference figure on the page, with its report.json path', () => {
    const r = buildReport(input({ entries: indexed(inferenceStory()) }));
    const html = renderReportHtml(r);
    expect(figuresMatch(r)).toBeGreaterThan(100);
    const paths = pageFigures(html).map((f) => f.path);
    const expected = ['totals.allowed', 'totals.flops', 'timeline.0.denied', 'reasons.2.buckets.6'].concat([
      'recipients.3.recipient',
      'recipients.0.estimatedShare',
      'models.0.artifacts.0',
      'risks.5.reason',
    ]);
    expect(paths).toEqual(expect.arrayContaining(expected.map((p) => `inference.${p}`)));
    expect(html).toContain('id="chart-inference-t"');
    expect(html).toContain('not authenticated');
  });

  it('keeps only the ten highest risk scores of a long log, the earliest first among equals', () => {
    const calls = Array.from({ length: 500 }, (_, i) =>
      admit(i.toString(16).padStart(32, '0'), { time: '2026-11-05T11:00:00.000Z', risk: (i * 37) % 1000 }),
    );
    const r = buildReport(input({ entries: indexed(calls) }));
    const expected = calls
      .map((c, index) => ({ index, risk: c.risk }))
      .sort((a, b) => b.risk - a.risk || a.index - b.index)
      .slice(0, 10);
    expect(r.inference.risks.map(({ index, risk }) => ({ index, risk }))).toEqual(expected);
  });
});
