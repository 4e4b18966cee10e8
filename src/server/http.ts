/**
 * `modelseal serve`: the release API (docs/API.md) and the log's read side as C2SP tlog-tiles
 * (/checkpoint, /tile/<L>/<N>[.p/<W>], /tile/entries/<N>[.p/<W>]) over node:http, or https when
 * given a certificate and key. Logs no request bodies and no keys.
 */
// node:http and node:https are imported when a server starts: at every start of the CLI, whatever
// the command, they cost ~9 ms.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isModelsealError } from '../errors.js';
import type { TransparencyLog } from '../log/log.js';
import type { ReleaseService, ServiceReply } from './service.js';

/** Release request bodies are a few kilobytes; anything larger is refused (and logged). */
export const MAX_BODY_BYTES = 64 * 1024;

export interface ServeOptions {
  host?: string;
  port?: number;
  tls?: { cert: string | Buffer; key: string | Buffer };
}

export interface RunningServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : Buffer.isBuffer(body) ? 'application/octet-stream' : 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

const notFound = (res: ServerResponse) => send(res, 404, { error: { code: 'NOT_FOUND', message: 'no such resource' } });

/** Reads the body up to the limit; null when it is larger. */
function readBody(req: IncomingMessage): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_BODY_BYTES) {
      req.resume();
      resolve(null);
      return;
    }
    const parts: Buffer[] = [];
    let n = 0;
    req.on('data', (b: Buffer) => {
      n += b.length;
      if (n > MAX_BODY_BYTES) {
        req.removeAllListeners('data');
        req.resume();
        resolve(null);
      } else parts.push(b);
    });
    req.on('end', () => resolve(n > MAX_BODY_BYTES ? null : Buffer.concat(parts)));
    req.on('error', reject);
  });
}

/** C2SP tile index: path elements "x001/x234/067" → 1234067. */
function tileIndex(parts: string[]): number | null {
  if (parts.length === 0) return null;
  let n = 0;
  for (let i = 0; i < parts.length; i++) {
    const last = i === parts.length - 1;
    const m = (last ? /^(\d{3})$/ : /^x(\d{3})$/).exec(parts[i]!);
    if (!m) return null;
    n = n * 1000 + Number(m[1]);
  }
  return n;
}

/** Parses /tile/<L>/<N...>[.p/<W>] and /tile/entries/<N...>[.p/<W>]. */
export function parseTilePath(path: string): { level: number | 'entries'; n: number; width: number } | null {
  const m = /^\/tile\/(entries|0|[1-9]\d?)\/((?:x\d{3}\/)*\d{3})(?:\.p\/([1-9]\d{0,2}))?$/.exec(path);
  if (!m) return null;
  const level = m[1] === 'entries' ? 'entries' : Number(m[1]);
  const n = tileIndex(m[2]!.split('/'));
  const width = m[3] ? Number(m[3]) : 256;
  if (n === null || (typeof level === 'number' && level > 63) || (m[3] !== undefined && width > 255)) return null;
  return { level, n, width };
}

async function handle(service: ReleaseService, log: TransparencyLog, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://x');
  const path = url.pathname;
  const ip = req.socket.remoteAddress ?? 'unknown';
  if (req.method === 'POST' && path === '/v1/release') {
    const raw = await readBody(req);
    let reply: ServiceReply;
    if (raw === null) reply = await service.reject('oversized-body', Buffer.alloc(0), ip);
    else {
      let body: unknown;
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        reply = await service.reject('malformed-json', raw, ip);
        return send(res, reply.status, reply.body, { 'cache-control': 'no-store' });
      }
      reply = await service.release(body, ip);
    }
    return send(res, reply.status, reply.body, { 'cache-control': 'no-store' });
  }
  if (req.method === 'POST' && path === '/v1/export') {
    const raw = await readBody(req);
    if (raw === null) return send(res, 413, { error: { code: 'INVALID_ARGUMENT', message: `the body is larger than ${MAX_BODY_BYTES} bytes` } });
    let body: unknown = null;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {}
    const reply = await service.recordExports(body);
    return send(res, reply.status, reply.body, { 'cache-control': 'no-store' });
  }
  if (req.method !== 'GET') return send(res, 405, { error: { code: 'METHOD_NOT_ALLOWED', message: `${req.method} is not supported here` } });
  if (path === '/v1/info') return send(res, 200, service.info());
  // Replicas sharing a PostgreSQL log learn of each other's appends here.
  if (path === '/checkpoint' || path === '/v1/checkpoints') await log.store.refresh?.();
  if (path === '/checkpoint') return send(res, 200, log.checkpoint, { 'cache-control': 'max-age=2' });
  if (path === '/v1/checkpoints') return streamCheckpoints(log, res);
  const tile = path.startsWith('/tile/') ? parseTilePath(path) : null;
  if (tile) {
    const data = tile.level === 'entries' ? await log.entryBundle(tile.n, tile.width) : await log.tile(tile.level, tile.n, tile.width);
    if (!data) return notFound(res);
    return send(res, 200, data, { 'cache-control': tile.width === 256 ? 'public, max-age=31536000, immutable' : 'max-age=60' });
  }
  return notFound(res);
}

/** Every stored checkpoint, oldest first, each prefixed by its big-endian uint32 length (docs/API.md). */
async function streamCheckpoints(log: TransparencyLog, res: ServerResponse): Promise<void> {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'cache-control': 'no-store' });
  for await (const note of log.store.checkpoints()) {
    const record = Buffer.from(`\0\0\0\0${note}`, 'utf8');
    record.writeUInt32BE(record.length - 4, 0);
    if (!res.write(record)) await new Promise((r) => (res.once('drain', r), res.once('close', r)));
    if (res.destroyed) return;
  }
  res.end();
}

export async function startServer(service: ReleaseService, log: TransparencyLog, opts: ServeOptions = {}): Promise<RunningServer> {
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    handle(service, log, req, res).catch((e) => {
      // A shared ledger (PostgreSQL) that cannot be reached is the log's kind of failure: retryable.
      const down = isModelsealError(e, 'LOG_UNAVAILABLE');
      if (!res.headersSent) send(res, down ? 503 : 500, { error: { code: down ? 'LOG_UNAVAILABLE' : 'INTERNAL', message: `${down ? 'the release ledger is unavailable' : 'internal error'}; nothing was released` } });
      else res.destroy();
    });
  };
  const server = opts.tls ? (await import('node:https')).createServer({ cert: opts.tls.cert, key: opts.tls.key }, listener) : (await import('node:http')).createServer(listener);
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 7411, opts.host ?? '127.0.0.1', () => resolve());
  });
  const a = server.address() as AddressInfo;
  const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return {
    url: `${opts.tls ? 'https' : 'http'}://${host}:${a.port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
