/**
 * The paths of the release service: its data directory's folders, and its request targets (tile
 * paths, C2SP tlog-tiles), content coding, paths for the log.
 */
import { join } from 'node:path';
import { policySetsDir } from '../policy/archive.js';

/** The folders of data directory `data` (docs/SERVER.md). */
export function dataPaths(data: string) {
  return {
    log: join(data, 'log'),
    policy: join(data, 'policy'),
    recipients: join(data, 'recipients'),
    publishers: join(data, 'publishers'),
    /** The recipients' API keys for the gateway, one file each, secrets hashed (docs/GATE.md). */
    apiKeys: join(data, 'api-keys'),
    /** The gateway's files: quotas.json (docs/GATE.md, "Quotas"). */
    gate: join(data, 'gate'),
    /** Records kept for the retention period: archived policy sets (docs/POLICY.md). */
    policySets: policySetsDir(data),
  };
}

/** C2SP tile index: path elements "x001/x234/067" → 1234067; null unless canonical (no "x000" lead). */
function tileIndex(parts: string[]): number | null {
  if (parts.length === 0 || (parts.length > 1 && parts[0] === 'x000')) return null;
  let n = 0;
  for (let i = 0; i < parts.length; i++) {
    const last = i === parts.length - 1;
    const m = (last ? /^(\d{3})$/ : /^x(\d{3})$/).exec(parts[i]!);
    if (!m) return null;
    n = n * 1000 + Number(m[1]);
  }
  return Number.isSafeInteger(n) ? n : null;
}

/**
 * Parses /tile/<L>/<N...>[.p/<W>] and /tile/entries/<N...>[.p/<W>] in their one canonical form
 * (C2SP tlog-tiles: L 0–63 and W 1–255 without leading zeros, N in 3-digit elements, no "x000"
 * lead); null for anything else, so every tile has one URL.
 */
export function parseTilePath(path: string): { level: number | 'entries'; n: number; width: number } | null {
  const m = /^\/tile\/(entries|0|[1-9]\d?)\/((?:x\d{3}\/)*\d{3})(?:\.p\/([1-9]\d{0,2}))?$/.exec(path);
  if (!m) return null;
  const level = m[1] === 'entries' ? 'entries' : Number(m[1]);
  const n = tileIndex(m[2]!.split('/'));
  const width = m[3] ? Number(m[3]) : 256;
  if (n === null || (typeof level === 'number' && level > 63) || (m[3] !== undefined && width > 255)) return null;
  return { level, n, width };
}

/** Whether the client takes gzip (Accept-Encoding, RFC 9110 §12.5.3; "q=0" refuses). */
export function acceptsGzip(header: string | string[] | undefined): boolean {
  const v = Array.isArray(header) ? header.join(',') : (header ?? '');
  return v.split(',').some((part) => {
    const [coding = '', ...params] = part.trim().toLowerCase().split(';');
    if (coding.trim() !== 'gzip' && coding.trim() !== 'x-gzip') return false;
    const q = params.map((p) => /^\s*q\s*=\s*([0-9.]+)\s*$/.exec(p)).find(Boolean);
    return !q || Number(q[1]) > 0;
  });
}

/** The path of a request target, without the query; null for a target that is not a path. */
export function targetPath(url: string | undefined): string | null {
  if (!url?.startsWith('/')) return null;
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

/** A request path for the service log: at most 200 characters, control characters escaped. */
export const printable = (p: string) =>
  p
    .slice(0, 200)
    // eslint-disable-next-line no-control-regex -- matching control characters is the point: they get escaped
    .replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
