/**
 * The report as one self-contained HTML page: no script, no external resource (its
 * Content-Security-Policy forbids both), inline SVG charts, and print CSS so it prints to PDF with
 * one section per page and no row cut in two.
 */
import type { ReportData } from './data.js';
import { inferenceSection } from './inference-section.js';
import { onRecordSection } from './on-record.js';
import {
  countriesSection,
  inForceSection,
  partiesSection,
  reasonsSection,
  section,
  timelineSection,
} from './sections.js';
import { esc, fig } from './text.js';

const CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

const CSS = `
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, "Segoe UI", "Noto Sans", "Noto Sans Arabic", "Noto Sans CJK SC", sans-serif;
  color: #111; max-width: 1040px; margin: 1.5em auto; padding: 0 1em; }
h1 { font-size: 1.7em; margin: 0 0 .2em; }
h2 { font-size: 1.3em; border-bottom: 2px solid #333; padding-bottom: .15em; margin-top: 1.8em; }
h3 { font-size: 1.05em; margin: 1.2em 0 .3em; }
.meta { color: #444; }
.verdict { font-size: 2em; font-weight: 700; text-align: center; padding: .4em; margin: .6em 0; border: 4px solid; }
.verdict.no { color: #b71c1c; border-color: #b71c1c; background: #ffebee; font-size: 2.6em; }
.verdict.yes { color: #1b5e20; border-color: #1b5e20; background: #e8f5e9; }
.verdict.unchecked { color: #6d4c00; border-color: #e0a800; background: #fff8e1; }
.verdict small { display: block; font-size: .45em; font-weight: 400; }
.cards { display: flex; flex-wrap: wrap; gap: .8em; margin: 1em 0; }
.card { border: 1px solid #bbb; border-radius: 4px; padding: .4em .9em; min-width: 8em; }
.card .v { display: block; font-size: 1.8em; font-weight: 700; }
table { border-collapse: collapse; width: 100%; margin: .6em 0 1.2em; }
caption { text-align: left; font-weight: 600; padding: .2em 0; }
th, td { border: 1px solid #bbb; padding: .25em .5em; text-align: start; vertical-align: top; }
th { background: #f2f2f2; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
td.none { color: #666; font-style: italic; }
.code { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: .85em; word-break: break-all; }
svg.chart { width: 100%; height: auto; display: block; margin: .5em 0; }
svg .lbl { font: 12px system-ui, "Noto Sans", sans-serif; fill: #222; }
svg .grid { stroke: #ddd; }
@page { margin: 14mm; }
@media print {
  body { max-width: none; margin: 0; padding: 0; font-size: 10.5px; }
  section { break-before: page; }
  h2, h3, caption { break-after: avoid; }
  tr, svg.chart, .card, .verdict { break-inside: avoid; }
  thead { display: table-header-group; }
  th, .verdict, .card { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
`;

/** The verdict on the log, in large letters: verified, NOT verified (with the problem), or not checked. */
function verdict(r: ReportData): string {
  const v = r.log.verified;
  const cls = v === true ? 'yes' : v === false ? 'no' : 'unchecked';
  const text = v === true ? 'Log verified' : v === false ? 'LOG NOT VERIFIED' : 'Log not checked';
  const why =
    v === false
      ? `Do not rely on these figures: ${r.log.problem ?? 'the log did not verify'}`
      : v === true
        ? 'every entry and checkpoint was recomputed and its signature checked'
        : 'the figures are as stored: check the log with modelseal audit verify (a pack with audit verify-export)';
  const shown = v === true ? 'yes' : v === false ? 'no' : 'not checked';
  return (
    `<div class="verdict ${cls}" id="verdict">${esc(text)} ` +
    `<small>verified: ${fig('log.verified', v, { shown })} — ${esc(why)}</small></div>`
  );
}

/** The headline numbers. */
function cards(r: ReportData): string {
  const card = (key: keyof ReportData['totals'], label: string) =>
    `<div class="card">${fig(`totals.${key}`, r.totals[key], { cls: 'v' })}${esc(label)}</div>`;
  const inferenceCard = (key: 'allowed' | 'denied', label: string) =>
    `<div class="card">${fig(`inference.totals.${key}`, r.inference.totals[key], { cls: 'v' })}${esc(label)}</div>`;
  return (
    '<div class="cards">' +
    card('allowed', 'releases allowed') +
    card('denied', 'releases denied') +
    card('refused', 'refused by rate limits') +
    card('exports', 'exports') +
    card('traces', 'traces') +
    card('overrides', 'screening overrides') +
    card('grants', 'KMS grants') +
    inferenceCard('allowed', 'inference calls allowed') +
    inferenceCard('denied', 'inference calls denied') +
    card('entries', 'entries reported') +
    '</div>'
  );
}

/** The log's health: size, last checkpoint, verified, and the period the report covers. */
function logSection(r: ReportData): string {
  const c = r.log.checkpoint;
  const code = (path: string, v: string) => `<span class="code">${fig(path, v)}</span>`;
  const span = (a: string, b: string, from: string | null, to: string | null, open: [string, string]) =>
    `${fig(a, from, { shown: open[0] })} to ${fig(b, to, { shown: open[1] })}`;
  const row = (label: string, value: string) => `<tr><th scope="row">${esc(label)}</th><td>${value}</td></tr>`;
  const rows = [
    row('origin', code('log.origin', r.log.origin)),
    row('entries in the log', fig('log.size', r.log.size)),
    row(
      'last checkpoint',
      c
        ? `size ${fig('log.checkpoint.size', c.size)}, root ${code('log.checkpoint.root', c.root)}`
        : fig('log.checkpoint', null, { shown: 'none' }),
    ),
    row(
      'verified',
      fig('log.verified', r.log.verified, {
        shown: r.log.verified === true ? 'yes' : r.log.verified === false ? 'no' : 'not checked',
      }),
    ),
    row('problem', fig('log.problem', r.log.problem, { shown: '-' })),
    row('period asked', span('period.since', 'period.until', r.period.since, r.period.until, ['start', 'now'])),
    row('first and last entry', span('period.first', 'period.last', r.period.first, r.period.last, ['-', '-'])),
  ];
  return section('log', 'Log health', `<table><tbody>\n${rows.join('\n')}\n</tbody></table>`);
}

/** The report as one self-contained HTML page. */
export function renderReportHtml(r: ReportData): string {
  const flag = r.log.verified === false ? 'UNVERIFIED — ' : '';
  const head =
    '<!DOCTYPE html>\n<html lang="en" dir="ltr"><head><meta charset="utf-8">' +
    `<meta http-equiv="Content-Security-Policy" content="${esc(CSP)}">` +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    `<title>${esc(`${flag}modelseal audit report — ${r.log.origin}`)}</title><style>${CSS}</style></head>\n`;
  const intro =
    '<header><h1>Export audit report</h1>' +
    `<p class="meta">Log <span class="code">${esc(r.log.origin)}</span>` +
    ` · made ${fig('generated', r.generated)} · report format v${fig('v', r.v)}</p>` +
    `${verdict(r)}${cards(r)}</header>`;
  const body = [
    intro,
    timelineSection(r),
    countriesSection(r),
    reasonsSection(r),
    partiesSection(r),
    inForceSection(r),
    inferenceSection(r),
    onRecordSection(r),
    logSection(r),
  ];
  return `${head}<body>\n${body.join('\n')}\n</body></html>\n`;
}
