/**
 * Text in the report page: every string from the log goes through `esc`, and every figure is marked
 * with the path of its value in report.json (`data-figure`), so a test can read the page back.
 */

/** `s` escaped for HTML text and attribute values (quoted with " or '). */
export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * One figure: an element whose text is the value at `path` of report.json — a number or a non-empty
 * string as is; null, a boolean or "" as `shown` (default: the value as text) with the value's JSON in
 * `data-value`. `name` marks text written by people (recipients, organisations) so that it renders
 * in its own direction (Arabic, Hebrew) within the page; `cls` is the element's class.
 */
export function fig(
  path: string,
  value: string | number | boolean | null,
  opts: { shown?: string; tag?: string; cls?: string; name?: boolean } = {},
): string {
  const tag = opts.tag ?? 'span';
  const dir = (opts.name ? ' dir="auto"' : '') + (opts.cls ? ` class="${esc(opts.cls)}"` : '');
  const plain = typeof value === 'number' || (typeof value === 'string' && value !== '');
  const data = plain ? '' : ` data-value="${esc(JSON.stringify(value))}"`;
  const text = plain ? String(value) : (opts.shown ?? String(value));
  return `<${tag} data-figure="${esc(path)}"${data}${dir}>${esc(text)}</${tag}>`;
}

let regions: Intl.DisplayNames | undefined;

/**
 * A country for people: "DE Germany" (English name from the runtime's CLDR data), "unknown" for "",
 * "not recorded" for null; a code the runtime does not know stays a code.
 */
export function countryName(code: string | null): string {
  if (code === null) return 'not recorded';
  if (code === '') return 'unknown';
  if (!/^[A-Z]{2}$/.test(code)) return code;
  regions ??= new Intl.DisplayNames(['en'], { type: 'region', fallback: 'code' });
  const name = regions.of(code);
  return name && name !== code ? name : code;
}
