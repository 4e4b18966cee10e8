/**
 * The report page's section on the gateway's calls: calls allowed and denied by reason over time,
 * tokens and FLOPs per recipient and per model (with the share of tokens estimated), and the
 * highest extraction-risk scores at admission. Every figure marked with its report.json path.
 */
import type { InferenceUsage, ReportData } from './data.js';
import { COLORS, section, table } from './sections.js';
import { barChart, columnChart, type Series } from './svg.js';
import { esc, fig } from './text.js';

/** Colours of the denial reasons' series, in order of frequency; the rest share the last. */
const REASON_COLORS = ['#c62828', '#ad1457', '#6a1b9a', '#4e342e', '#37474f', '#795548'];

const num = (path: string, v: number | string) => `<td class="n">${fig(path, v)}</td>`;
const code = (path: string, v: string) => `<td class="code">${fig(path, v)}</td>`;
const who = (path: string, v: string | null) =>
  `<td dir="auto">${fig(path, v, { shown: 'not authenticated', name: true })}</td>`;

/** The usage columns of a recipient or model row. */
const USAGE_HEADERS = ['allowed', 'denied', 'settled', 'prompt tokens', 'completion tokens', 'FLOPs', 'share'];
const usage = (p: string, u: InferenceUsage) =>
  `${num(`${p}.allowed`, u.allowed)}${num(`${p}.denied`, u.denied)}${num(`${p}.settled`, u.settled)}` +
  `${num(`${p}.promptTokens`, u.promptTokens)}${num(`${p}.completionTokens`, u.completionTokens)}` +
  `${num(`${p}.flops`, u.flops)}${num(`${p}.share`, u.share)}` +
  `${num(`${p}.estimatedShare`, u.estimatedShare)}${num(`${p}.maxRisk`, u.maxRisk)}`;

/** Calls allowed, and denied by reason, per bucket: a stacked column chart and its table. */
function overTime(r: ReportData): string {
  const x = r.inference;
  const labels = x.timeline.map((b) => b.start);
  const series: Series[] = [
    { label: 'allowed', color: COLORS.allowed, values: x.timeline.map((b) => b.allowed) },
    ...x.reasons.map((reason, j) => ({
      label: `denied: ${reason.reason}`,
      color: REASON_COLORS[Math.min(j, REASON_COLORS.length - 1)]!,
      values: reason.buckets,
    })),
  ];
  const rows = x.timeline.map(
    (b, i) =>
      `<td>${fig(`inference.timeline.${i}.start`, b.start)}</td>${num(`inference.timeline.${i}.allowed`, b.allowed)}` +
      num(`inference.timeline.${i}.denied`, b.denied) +
      x.reasons.map((_, j) => num(`inference.reasons.${j}.buckets.${i}`, x.reasons[j]!.buckets[i]!)).join(''),
  );
  const reasons = x.reasons.map(
    (reason, j) =>
      `<td>${fig(`inference.reasons.${j}.reason`, reason.reason)}</td>` +
      num(`inference.reasons.${j}.denied`, reason.denied),
  );
  return (
    columnChart('chart-inference', `Inference calls per ${r.period.unit}, denied by reason`, labels, series) +
    table(
      `Inference calls per ${r.period.unit}, from the day shown`,
      [r.period.unit, 'allowed', 'denied', ...x.reasons.map((reason) => `denied: ${reason.reason}`)],
      rows,
      'no period: the log holds no entries',
    ) +
    table('Denied inference calls by reason', ['reason', 'denied'], reasons, 'no inference calls denied')
  );
}

/** Tokens and compute per recipient and per served model. */
function usageTables(r: ReportData): string {
  const x = r.inference;
  const recipients = x.recipients.map(
    (u, i) => who(`inference.recipients.${i}.recipient`, u.recipient) + usage(`inference.recipients.${i}`, u),
  );
  const models = x.models.map((u, i) => {
    const artifacts = u.artifacts.map((a, j) => fig(`inference.models.${i}.artifacts.${j}`, a)).join(', ') || '-';
    return (
      `<td dir="auto">${fig(`inference.models.${i}.model`, u.model, { name: true })}</td>` +
      `<td class="code">${artifacts}</td>${usage(`inference.models.${i}`, u)}`
    );
  });
  const tokens: Series[] = [
    { label: 'prompt tokens', color: COLORS.exports, values: x.recipients.map((u) => u.promptTokens) },
    { label: 'completion tokens', color: COLORS.allowed, values: x.recipients.map((u) => u.completionTokens) },
  ];
  const names = x.recipients.map((u) => u.recipient ?? 'not authenticated');
  const headers = [...USAGE_HEADERS, 'estimated share', 'highest risk'];
  return (
    barChart('chart-inference-recipients', 'Tokens per recipient', names, tokens) +
    table('Inference per recipient (as logged)', ['recipient', ...headers], recipients, 'no inference calls') +
    table('Inference per served model', ['model', 'root digest', ...headers], models, 'no inference calls')
  );
}

/** The calls admitted or refused with the highest risk scores. */
function risks(r: ReportData): string {
  const rows = r.inference.risks.map((c, i) => {
    const p = `inference.risks.${i}`;
    return (
      `${num(`${p}.index`, c.index)}<td>${fig(`${p}.time`, c.time)}</td>${who(`${p}.recipient`, c.recipient)}` +
      `<td dir="auto">${fig(`${p}.model`, c.model, { name: true })}</td>${num(`${p}.risk`, c.risk)}` +
      `<td>${fig(`${p}.decision`, c.decision)}</td>${code(`${p}.reason`, c.reason)}`
    );
  });
  return table(
    'Highest extraction-risk scores at admission (per mille)',
    ['entry', 'time', 'recipient', 'model', 'risk', 'decision', 'reason'],
    rows,
    'no inference calls',
  );
}

/** The whole section: totals, then over time, usage and risk. */
export function inferenceSection(r: ReportData): string {
  const t = r.inference.totals;
  const row = (label: string, key: keyof typeof t) =>
    `<tr><th scope="row">${esc(label)}</th>${num(`inference.totals.${key}`, t[key])}</tr>`;
  const totals =
    '<table><caption>Totals of the period</caption><tbody>\n' +
    [
      row('calls allowed', 'allowed'),
      row('calls denied', 'denied'),
      row('calls settled', 'settled'),
      row('calls open (allowed, not settled in the period)', 'open'),
      row('prompt tokens', 'promptTokens'),
      row('completion tokens', 'completionTokens'),
      row('tokens estimated by the gateway', 'estimatedTokens'),
      row('share of tokens estimated', 'estimatedShare'),
      row('FLOPs (2 × parameters × tokens)', 'flops'),
    ].join('\n') +
    '\n</tbody></table>';
  return section('inference', 'Inference calls (modelseal gate)', totals + overTime(r) + usageTables(r) + risks(r));
}
