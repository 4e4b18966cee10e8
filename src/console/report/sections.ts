/**
 * The report page's sections, one function each: a heading, a chart where one helps, and a table
 * holding every figure (marked with its report.json path). Strings from the log are escaped by
 * `fig`/`esc`; names written by people carry dir="auto".
 */
import type { CountryRow, ReportData } from './data.js';
import { barChart, columnChart, type Series } from './svg.js';
import { countryName, esc, fig } from './text.js';

export const COLORS = { allowed: '#2e7d32', denied: '#c62828', refused: '#ef6c00', exports: '#1565c0' };

/** A table cell holding a number figure. */
const num = (path: string, v: number) => `<td class="n">${fig(path, v)}</td>`;
/** A table cell holding a digest, id or other code-like figure. */
const code = (path: string, v: string | null, shown = '-') => `<td class="code">${fig(path, v, { shown })}</td>`;
/** A table cell holding a name as logged, in its own direction. */
const name = (path: string, v: string | null, shown = '-') =>
  `<td dir="auto">${fig(path, v, { shown, name: true })}</td>`;
/** A table cell listing the strings of an array figure; "" shows as `empty`. */
const list = (path: string, values: readonly string[], empty = '-', names = false) =>
  `<td${names ? ' dir="auto"' : ''}>${
    values.map((v, i) => fig(`${path}.${i}`, v, { shown: empty, name: names })).join(', ') || '-'
  }</td>`;

/** A table with its caption, header row, body rows (each a string of cells), and what to say when there are none. */
export function table(caption: string, headers: readonly string[], rows: readonly string[], none: string): string {
  const head = `<thead><tr>${headers.map((h) => `<th scope="col">${esc(h)}</th>`).join('')}</tr></thead>`;
  const body = rows.length
    ? rows.map((r) => `<tr>${r}</tr>`).join('\n')
    : `<tr><td colspan="${headers.length}" class="none">${esc(none)}</td></tr>`;
  return `<table><caption>${esc(caption)}</caption>${head}<tbody>\n${body}\n</tbody></table>`;
}

/** A section of the page: `id` is its anchor and DOM handle. */
export function section(id: string, title: string, body: string): string {
  return `<section id="${id}"><h2>${esc(title)}</h2>\n${body}\n</section>`;
}

/** Releases (allowed, denied, refused) and exports over time: two column charts and the buckets' table. */
export function timelineSection(r: ReportData): string {
  const t = r.timeline;
  const labels = t.map((b) => b.start);
  const releases: Series[] = [
    { label: 'allowed', color: COLORS.allowed, values: t.map((b) => b.allowed) },
    { label: 'denied', color: COLORS.denied, values: t.map((b) => b.denied) },
    { label: 'refused (rate limits)', color: COLORS.refused, values: t.map((b) => b.refused) },
  ];
  const exports: Series[] = [{ label: 'exports', color: COLORS.exports, values: t.map((b) => b.exports) }];
  const rows = t.map(
    (b, i) =>
      `<td>${fig(`timeline.${i}.start`, b.start)}</td>${num(`timeline.${i}.exports`, b.exports)}` +
      `${num(`timeline.${i}.allowed`, b.allowed)}${num(`timeline.${i}.denied`, b.denied)}` +
      num(`timeline.${i}.refused`, b.refused),
  );
  return section(
    'timeline',
    `Over time (by ${r.period.unit}, UTC)`,
    columnChart('chart-releases', `Key releases per ${r.period.unit}`, labels, releases) +
      columnChart('chart-exports', `Exports (packages sealed) per ${r.period.unit}`, labels, exports) +
      table(
        `Per ${r.period.unit}, from the day shown`,
        [r.period.unit, 'exports', 'allowed', 'denied', 'refused'],
        rows,
        'no period: the log holds no entries',
      ),
  );
}

/** Release requests by country: a bar chart and the table (code, English name, allowed, denied). */
function countryBlock(key: 'destinations' | 'observed', rows: readonly CountryRow[], title: string): string {
  const labels = rows.map((c) => (c.country ? `${c.country} ${countryName(c.country)}` : countryName(c.country)));
  const series: Series[] = [
    { label: 'allowed', color: COLORS.allowed, values: rows.map((c) => c.allowed) },
    { label: 'denied', color: COLORS.denied, values: rows.map((c) => c.denied) },
  ];
  const cells = rows.map(
    (c, i) =>
      `${code(`${key}.${i}.country`, c.country, '-')}<td>${esc(countryName(c.country))}</td>` +
      `${num(`${key}.${i}.allowed`, c.allowed)}${num(`${key}.${i}.denied`, c.denied)}`,
  );
  return (
    `<h3>${esc(title)}</h3>` +
    barChart(`chart-${key}`, title, labels, series) +
    table(title, ['code', 'country', 'allowed', 'denied'], cells, 'no release requests')
  );
}

/** Release requests by declared destination and by observed country. */
export function countriesSection(r: ReportData): string {
  return section(
    'countries',
    'By country',
    countryBlock('destinations', r.destinations, 'Declared destination') +
      countryBlock('observed', r.observed, 'Observed country (where the request came from)'),
  );
}

/** Denied requests by reason: entries of their own and rate-limited refusals. */
export function reasonsSection(r: ReportData): string {
  const labels = r.reasons.map((x) => x.reason);
  const series: Series[] = [
    { label: 'denied', color: COLORS.denied, values: r.reasons.map((x) => x.releases) },
    { label: 'refused (rate limits)', color: COLORS.refused, values: r.reasons.map((x) => x.refused) },
  ];
  const rows = r.reasons.map(
    (x, i) =>
      `<td>${fig(`reasons.${i}.reason`, x.reason)}</td>${num(`reasons.${i}.releases`, x.releases)}` +
      `${num(`reasons.${i}.refused`, x.refused)}${num(`reasons.${i}.total`, x.total)}`,
  );
  return section(
    'reasons',
    'Denials by reason',
    barChart('chart-reasons', 'Denied requests by reason', labels, series) +
      table('Denials by reason', ['reason', 'denied', 'refused', 'total'], rows, 'no denials'),
  );
}

/** Per recipient and per model: allowed, denied, destinations. */
export function partiesSection(r: ReportData): string {
  const recipients = r.recipients.map((x, i) => {
    const p = `recipients.${i}`;
    return (
      name(`${p}.recipient`, x.recipient, 'no registered recipient') +
      `${num(`${p}.exports`, x.exports)}${num(`${p}.allowed`, x.allowed)}${num(`${p}.denied`, x.denied)}` +
      list(`${p}.destinations`, x.destinations, 'none declared')
    );
  });
  const models = r.models.map((m, i) => {
    const p = `models.${i}`;
    return (
      code(`${p}.model`, m.model, 'no model named') +
      list(`${p}.names`, m.names, '-', true) +
      `${num(`${p}.exports`, m.exports)}${num(`${p}.allowed`, m.allowed)}${num(`${p}.denied`, m.denied)}` +
      list(`${p}.destinations`, m.destinations, 'none declared') +
      list(`${p}.recipients`, m.recipients, '-', true)
    );
  });
  return section(
    'parties',
    'Per recipient and per model',
    table(
      'Per recipient (as logged: names, or pseudonyms)',
      ['recipient', 'exports', 'allowed', 'denied', 'destinations'],
      recipients,
      'no recipients',
    ) +
      table(
        'Per model (fingerprinted copies count for their original)',
        ['model', 'names', 'exports', 'allowed', 'denied', 'destinations', 'recipients'],
        models,
        'no models',
      ),
  );
}

/** Screening list snapshots and policy sets in force. */
export function inForceSection(r: ReportData): string {
  const rows = (key: 'lists' | 'policySets') =>
    r[key].map(
      (x, i) =>
        `${code(`${key}.${i}.ref`, x.ref)}<td>${fig(`${key}.${i}.first`, x.first)}</td>` +
        `<td>${fig(`${key}.${i}.last`, x.last)}</td>${num(`${key}.${i}.count`, x.count)}`,
    );
  const headers = ['snapshot', 'first seen', 'last seen', 'entries'];
  return section(
    'in-force',
    'Screening lists and policies in force',
    table('Screening list snapshots', headers, rows('lists'), 'no screening recorded') +
      table('Policy sets (hash)', ['policy set', ...headers.slice(1)], rows('policySets'), 'no decisions recorded'),
  );
}
