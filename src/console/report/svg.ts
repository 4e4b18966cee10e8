/**
 * The report's charts as inline SVG, drawn here (no script, no library): stacked columns over time
 * and horizontal bars by category. Each chart has a <title> and <desc>, each bar a <title> with its
 * numbers, and text labels, so it reads without colour and prints as vectors.
 */
import { esc } from './text.js';

/** One stacked series: its name, colour and a value per column or row. */
export interface Series {
  label: string;
  color: string;
  values: readonly number[];
}

/** The opening of an accessible chart `id` (unique in its page): role img, labelled by its title and description. */
function open(id: string, width: number, height: number, title: string, desc: string): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" role="img" ` +
    `aria-labelledby="${id}-t ${id}-d" class="chart">` +
    `<title id="${id}-t">${esc(title)}</title><desc id="${id}-d">${esc(desc)}</desc>`
  );
}

/** A legend line: a swatch and the label of each series, from (x, y). */
function legend(series: readonly Series[], x: number, y: number): string {
  return series
    .map((s, i) => {
      const lx = x + i * 150;
      return (
        `<rect x="${lx}" y="${y - 10}" width="12" height="12" fill="${s.color}"/>` +
        `<text x="${lx + 16}" y="${y}" class="lbl">${esc(s.label)}</text>`
      );
    })
    .join('');
}

/** "2 allowed, 1 denied": a bar's numbers for its <title>. */
function numbers(series: readonly Series[], i: number): string {
  return series.map((s) => `${s.values[i] ?? 0} ${s.label}`).join(', ');
}

/** A rectangle of colour `fill`; nothing for an empty one. */
function rect(x: number, y: number, w: number, h: number, fill: string): string {
  if (w <= 0 || h <= 0) return '';
  const [a, b, c, d] = [x, y, w, h].map((v) => v.toFixed(1));
  return `<rect x="${a}" y="${b}" width="${c}" height="${d}" fill="${fill}"/>`;
}

/** A text label at (x, y), anchored at its start, middle or end; `text` is escaped. */
function text(x: number, y: number, value: string | number, anchor: 'start' | 'middle' | 'end' = 'start'): string {
  const a = anchor === 'start' ? '' : ` text-anchor="${anchor}"`;
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" class="lbl"${a}>${esc(String(value))}</text>`;
}

/** The sum of every series at position `i`. */
const total = (series: readonly Series[], i: number) => series.reduce((a, s) => a + (s.values[i] ?? 0), 0);

/**
 * Stacked columns, one per label (a time bucket), each series stacked bottom-up in the order
 * given; the total above each column when the columns are few enough to label.
 */
export function columnChart(id: string, title: string, labels: readonly string[], series: readonly Series[]): string {
  const [W, H, left, top, bottom] = [800, 260, 44, 34, 40];
  const plotH = H - top - bottom;
  const n = labels.length;
  const max = Math.max(1, ...labels.map((_, i) => total(series, i)));
  const step = (W - left - 10) / Math.max(1, n);
  const bar = Math.max(1, step * 0.8);
  const y = (v: number) => top + plotH - (v / max) * plotH;
  const every = Math.max(1, Math.ceil(n / 12));
  const desc = `${n} periods from ${labels[0] ?? '-'} to ${labels.at(-1) ?? '-'}; the highest column is ${max}.`;
  const parts = [open(id, W, H, title, desc), legend(series, left, 16)];
  for (const v of [0, Math.round(max / 2), max])
    parts.push(
      `<line x1="${left}" x2="${W - 10}" y1="${y(v)}" y2="${y(v)}" class="grid"/>`,
      text(left - 6, y(v) + 4, v, 'end'),
    );
  labels.forEach((label, i) => {
    const x = left + i * step + (step - bar) / 2;
    let base = 0;
    const rects = series.map((s) => {
      const v = s.values[i] ?? 0;
      base += v;
      return rect(x, y(base), bar, (v / max) * plotH, s.color);
    });
    parts.push(`<g><title>${esc(`${label}: ${numbers(series, i)}`)}</title>${rects.join('')}</g>`);
    if (n <= 31 && base > 0) parts.push(text(x + bar / 2, y(base) - 3, base, 'middle'));
    if (i % every === 0) parts.push(text(x + bar / 2, H - bottom + 16, label, 'middle'));
  });
  parts.push('</svg>');
  return parts.join('');
}

/** A label cut to `n` characters (whole graphemes, whatever the script), with an ellipsis when cut. */
function cut(label: string, n: number): string {
  const chars = Array.from(new Intl.Segmenter('en', { granularity: 'grapheme' }).segment(label), (g) => g.segment);
  return chars.length > n ? chars.slice(0, n - 1).join('') + '…' : label;
}

/** Horizontal stacked bars, one row per label, most rows first as given; at most `limit` rows (the table has all). */
export function barChart(
  id: string,
  title: string,
  labels: readonly string[],
  series: readonly Series[],
  limit = 15,
): string {
  const rows = labels.slice(0, limit);
  const [W, rowH, left, top] = [800, 22, 220, 28];
  const H = top + Math.max(1, rows.length) * rowH + 8;
  const plotW = W - left - 60;
  const max = Math.max(1, ...rows.map((_, i) => total(series, i)));
  const shown =
    rows.length < labels.length ? `the first ${rows.length} of ${labels.length} rows` : `${rows.length} rows`;
  const parts = [open(id, W, H, title, `${shown}; the longest bar is ${max}.`), legend(series, left, 16)];
  if (rows.length === 0) parts.push(text(left, top + 14, 'nothing in this period'));
  rows.forEach((label, i) => {
    const yy = top + i * rowH;
    let base = 0;
    const rects = series.map((s) => {
      const v = s.values[i] ?? 0;
      base += v;
      return rect(left + ((base - v) / max) * plotW, yy + 3, (v / max) * plotW, rowH - 6, s.color);
    });
    parts.push(
      `<g><title>${esc(`${label}: ${numbers(series, i)}`)}</title>${text(left - 6, yy + 15, cut(label, 32), 'end')}` +
        `${rects.join('')}${text(left + (base / max) * plotW + 4, yy + 15, base)}</g>`,
    );
  });
  parts.push('</svg>');
  return parts.join('');
}
