/**
 * One HTTP exchange of the release service: reading a request's body within its limit, and
 * answering it once, with the record of where the answer is logged (docs/SERVER.md, "The service log").
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ReleaseService } from './service.js';
import type { GeoObservation } from '../compliance/types.js';

/** Release request bodies are a few kilobytes; anything larger is refused (and logged). */
export const MAX_BODY_BYTES = 64 * 1024;

/**
 * One answered request. `logged` says where it is on the record: its own log entry, a summary
 * entry (refused by the limits), the service log (a failure outside the release API, which
 * `serve` writes to stderr), or nowhere (a successful read).
 */
export interface ExchangeRecord {
  id: string;
  ip: string;
  method: string;
  /** The request path, at most 200 characters, control characters escaped. */
  path: string;
  status: number;
  reason: string | null;
  logged: 'entry' | 'summary' | 'service-log' | 'none';
  /** For a 5xx outside the log: what failed (never secret: no bodies, no keys). */
  error?: string;
}

/** One request being answered, and where its answer is recorded. */
export interface Exchange {
  id: string;
  /** The client's address: the TCP peer, or the rightmost untrusted hop behind trusted proxies. */
  ip: string;
  /** Where the client is (docs/GEOFENCING.md). */
  observed: GeoObservation;
  method: string;
  path: string;
  res: ServerResponse;
  onExchange: ((r: ExchangeRecord) => void) | undefined;
  /** Set once the answer has been recorded. */
  done: boolean;
}

/** Answers `x` (once), telling onExchange what was answered and where it is on the record. */
export function send(
  x: Exchange,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
  record: { reason?: string | null; logged?: ExchangeRecord['logged']; error?: string } = {},
): void {
  const { res } = x;
  if (!x.done) {
    x.done = true;
    x.onExchange?.({
      id: x.id,
      ip: x.ip,
      method: x.method,
      path: x.path,
      status,
      reason: record.reason ?? null,
      logged: record.logged ?? 'none',
      ...(record.error ? { error: record.error } : {}),
    });
  }
  if (res.headersSent || res.destroyed || res.writableEnded) return;
  const text = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  res.writeHead(status, {
    'content-type':
      typeof body === 'string'
        ? 'text/plain; charset=utf-8'
        : Buffer.isBuffer(body)
          ? 'application/octet-stream'
          : 'application/json',
    'content-length': String(Buffer.byteLength(text)),
    'x-request-id': x.id,
    ...(status >= 400 ? { 'cache-control': 'no-store' } : {}),
    ...headers,
  });
  res.end(text);
}

/**
 * A failure outside the release API (no such path, a bad export...): on the service log, under
 * the source's limits; refused with 429 (and counted for the summary entry) beyond them.
 */
export function fail(
  service: ReleaseService,
  x: Exchange,
  status: number,
  code: string,
  reason: string,
  message: string,
  headers: Record<string, string> = {},
): void {
  const admitted = service.admitFailure(x.ip, reason);
  if (!admitted.ok) {
    tooMany(x, reason, admitted.retryAfter);
    return;
  }
  send(x, status, { id: x.id, error: { code, message } }, headers, { reason, logged: 'service-log' });
}

/** Refuses `x` with 429: the source is over its limits; counted for the summary entry. */
export function tooMany(x: Exchange, reason: string, retryAfter: number): void {
  send(
    x,
    429,
    {
      id: x.id,
      error: {
        code: 'RATE_LIMITED',
        message: `too many failing requests from this source (this one: ${reason}); retry in ${retryAfter} s`,
      },
    },
    { 'retry-after': String(retryAfter) },
    { reason, logged: 'summary' },
  );
}

/** A request body as read: whole, over the limit, or cut off. */
export type Body = { kind: 'ok'; bytes: Buffer } | { kind: 'oversized' } | { kind: 'incomplete' };

/** Reads the body up to the limit (default {@link MAX_BODY_BYTES}); never waits past the end of the connection. */
export function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Body> {
  return new Promise((resolve) => {
    const declared = req.headers['content-length'];
    if (declared !== undefined && !(Number(declared) <= limit)) {
      req.resume();
      resolve({ kind: 'oversized' });
      return;
    }
    const parts: Buffer[] = [];
    let n = 0;
    let settled = false;
    const settle = (b: Body) => {
      if (settled) return;
      settled = true;
      resolve(b);
    };
    req.on('data', (b: Buffer) => {
      if (settled) return;
      n += b.length;
      if (n > limit) {
        parts.length = 0;
        req.resume();
        settle({ kind: 'oversized' });
      } else parts.push(b);
    });
    req.on('end', () => settle({ kind: 'ok', bytes: Buffer.concat(parts) }));
    req.on('error', () => settle({ kind: 'incomplete' }));
    req.on('close', () => settle(req.complete ? { kind: 'ok', bytes: Buffer.concat(parts) } : { kind: 'incomplete' }));
  });
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** JSON of a body: undefined when it is not UTF-8 JSON. */
export function parseJson(raw: Buffer): unknown {
  try {
    return JSON.parse(strictUtf8.decode(raw)) as unknown;
  } catch {
    return undefined;
  }
}
