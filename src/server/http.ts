/**
 * `modelseal serve`: the release API (docs/API.md) and the log's read side as C2SP tlog-tiles
 * (/checkpoint, /tile/<L>/<N>[.p/<W>], /tile/entries/<N>[.p/<W>]) over node:http, or https when
 * given a certificate and key. Logs no request bodies and no keys.
 */
// node:http and node:https are imported when a server starts: at every start of the CLI, whatever
// the command, they cost ~9 ms.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { isModelsealError } from '../errors.js';
import type { TransparencyLog } from '../log/log.js';
import { fail, MAX_BODY_BYTES, parseJson, readBody, send, type Exchange, type ExchangeRecord } from './exchange.js';
import { acceptsGzip, parseTilePath, printable, targetPath } from './paths.js';
import type { ReleaseService, ServiceReply } from './service.js';

export { MAX_BODY_BYTES, fail, parseJson, readBody, send, type Exchange, type ExchangeRecord } from './exchange.js';
export { acceptsGzip, parseTilePath } from './paths.js';

export interface ServeOptions {
  host?: string;
  port?: number;
  tls?: { cert: string | Buffer; key: string | Buffer };
  /**
   * The path of the log's URL prefix (C2SP tlog-tiles), e.g. "/log" for https://releases.example/log:
   * the read side is served under it as well as at the root.
   */
  logPrefix?: string;
  /** Hears every answered exchange (docs/SERVER.md, "The service log"). */
  onExchange?: (r: ExchangeRecord) => void;
  /** Longest a request may take to arrive, headers and body, in ms (default 30,000). */
  requestTimeoutMs?: number;
  /**
   * Routes served on the same listener before the release API's (`modelseal gate`): answers the
   * exchange and resolves true, or resolves false to leave it to the release API.
   */
  routes?: (req: IncomingMessage, x: Exchange) => Promise<boolean>;
  /**
   * With `tls`: ask clients for a certificate issued by one of these CAs (PEM). A client without one
   * still connects; the route sees whether its certificate was verified (mutual TLS is optional).
   */
  clientCa?: string | Buffer;
}

export interface RunningServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

async function handle(
  service: ReleaseService,
  log: TransparencyLog,
  opts: ServeOptions,
  req: IncomingMessage,
  x: Exchange,
): Promise<void> {
  if (opts.routes && (await opts.routes(req, x))) return;
  const path = targetPath(req.url);
  if (path === null) {
    fail(service, x, 400, 'INVALID_ARGUMENT', 'bad-target', 'the request target is not a path');
    return;
  }
  if (req.method === 'POST' && path === '/v1/release') return release(service, req, x);
  if (req.method === 'POST' && path === '/v1/export')
    return publisherCall(service, req, x, 'entry', (b) => service.recordExports(b));
  if (req.method === 'POST' && path === '/v1/licenses/check')
    return publisherCall(service, req, x, 'none', (b) => service.checkLicense(b));
  if (req.method === 'POST' && path === '/v1/records')
    return publisherCall(service, req, x, 'none', (b) => service.answerRecords(b));
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    fail(
      service,
      x,
      405,
      'METHOD_NOT_ALLOWED',
      'method-not-allowed',
      `${printable(req.method ?? '')} is not supported here`,
      { allow: 'GET, HEAD, POST' },
    );
    return;
  }
  if (path === '/v1/info') {
    send(x, 200, service.info(), { 'cache-control': 'no-store' });
    return;
  }
  if (path === '/v1/checkpoints') {
    await log.store.refresh?.();
    return streamCheckpoints(log, x);
  }
  // The read side, at the root and under the log's URL prefix.
  const read = opts.logPrefix && path.startsWith(`${opts.logPrefix}/`) ? path.slice(opts.logPrefix.length) : path;
  if (read === '/checkpoint') {
    // Replicas sharing a PostgreSQL log learn of each other's appends here.
    await log.store.refresh?.();
    send(x, 200, await log.checkpoint, { 'cache-control': 'public, max-age=2' });
    return;
  }
  const tile = read.startsWith('/tile/') ? parseTilePath(read) : null;
  if (tile) {
    const data =
      tile.level === 'entries'
        ? await log.entryBundle(tile.n, tile.width)
        : await log.tile(tile.level, tile.n, tile.width);
    if (!data) {
      fail(service, x, 404, 'NOT_FOUND', 'not-found', 'no such tile in the log (yet)');
      return;
    }
    const cache = tile.width === 256 ? 'public, max-age=31536000, immutable' : 'public, max-age=60';
    if (tile.level === 'entries' && acceptsGzip(req.headers['accept-encoding'])) {
      send(x, 200, gzipSync(data), {
        'cache-control': cache,
        'content-encoding': 'gzip',
        vary: 'Accept-Encoding',
      });
      return;
    }
    send(x, 200, data, {
      'cache-control': cache,
      ...(tile.level === 'entries' ? { vary: 'Accept-Encoding' } : {}),
    });
    return;
  }
  fail(service, x, 404, 'NOT_FOUND', 'not-found', 'no such resource');
}

/**
 * A publisher's POST (/v1/export, /v1/licenses/check, /v1/records): the body read within its limit and handed
 * to `answer`; a refusal is on the service log, under the source's limits.
 */
async function publisherCall(
  service: ReleaseService,
  req: IncomingMessage,
  x: Exchange,
  /** Where an answer that is no refusal is on the record: its log entries (exports), or nowhere (a read). */
  logged: 'entry' | 'none',
  answer: (body: unknown) => Promise<{ status: number; body: object }>,
): Promise<void> {
  const body = await readBody(req);
  if (body.kind === 'oversized') {
    fail(service, x, 413, 'INVALID_ARGUMENT', 'oversized-body', `the body is larger than ${MAX_BODY_BYTES} bytes`, {
      connection: 'close',
    });
    return;
  }
  if (body.kind === 'incomplete') {
    fail(service, x, 400, 'INVALID_ARGUMENT', 'incomplete-body', 'the body ended early');
    return;
  }
  const reply = await answer(parseJson(body.bytes) ?? null);
  const error = 'error' in reply.body ? (reply.body as { error: { code: string; message: string } }).error : null;
  if (error && reply.status < 500) {
    fail(service, x, reply.status, error.code, error.code.toLowerCase().replace(/_/g, '-'), error.message);
    return;
  }
  send(
    x,
    reply.status,
    reply.body,
    { 'cache-control': 'no-store' },
    { reason: error?.code ?? null, logged: error ? 'service-log' : logged },
  );
}

/** POST /v1/release: every outcome is a log entry (or counted in a summary), with the exchange's id. */
async function release(service: ReleaseService, req: IncomingMessage, x: Exchange): Promise<void> {
  const body = await readBody(req);
  let reply: ServiceReply;
  if (body.kind === 'ok') {
    x.id = service.exchangeId(body.bytes);
    const parsed = parseJson(body.bytes);
    reply =
      parsed === undefined
        ? await service.reject('malformed-json', x.ip, x.id, x.observed)
        : await service.release(parsed, x.ip, x.id, x.observed);
  } else {
    const reason = body.kind === 'oversized' ? 'oversized-body' : 'incomplete-body';
    reply = await service.reject(reason, x.ip, x.id, x.observed);
  }
  const answer = reply.body as { reason?: string; error?: { code: string } };
  const logged = reply.status === 429 ? 'summary' : 'error' in reply.body ? 'service-log' : 'entry';
  const headers: Record<string, string> = {
    'cache-control': 'no-store',
    ...(reply.retryAfter ? { 'retry-after': String(reply.retryAfter) } : {}),
    ...(body.kind === 'oversized' ? { connection: 'close' } : {}),
  };
  send(x, reply.status, reply.body, headers, { reason: answer.reason ?? answer.error?.code ?? null, logged });
}

/**
 * The last resort: whatever a handler throws is answered (503 when the log or ledger is down, 500
 * otherwise) with the exchange's id, and put on the record: a release request as a logged
 * `internal-error` denial when the log takes it, everything on the service log.
 */
async function guard(service: ReleaseService, e: unknown, x: Exchange, isRelease: boolean): Promise<void> {
  const down = isModelsealError(e, 'LOG_UNAVAILABLE');
  const error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  if (isRelease && !down && !x.done) {
    try {
      const reply = await service.reject('internal-error', x.ip, x.id, x.observed);
      send(
        x,
        reply.status,
        reply.body,
        { 'cache-control': 'no-store' },
        { reason: 'internal-error', logged: reply.status === 429 ? 'summary' : 'entry', error },
      );
      return;
    } catch {
      /* answered below */
    }
  }
  const code = down ? 'LOG_UNAVAILABLE' : 'INTERNAL';
  const body = {
    id: x.id,
    error: { code, message: `${down ? 'the release ledger is unavailable' : 'internal error'}; nothing was released` },
  };
  if (!x.done) send(x, down ? 503 : 500, body, {}, { reason: code.toLowerCase(), logged: 'service-log', error });
  else if (!x.res.writableEnded) x.res.destroy();
}

/** Every stored checkpoint, oldest first, each prefixed by its big-endian uint32 length (docs/API.md). */
async function streamCheckpoints(log: TransparencyLog, x: Exchange): Promise<void> {
  const { res } = x;
  x.done = true;
  x.onExchange?.({ id: x.id, ip: x.ip, method: x.method, path: x.path, status: 200, reason: null, logged: 'none' });
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'cache-control': 'no-store', 'x-request-id': x.id });
  for await (const note of log.store.checkpoints()) {
    const record = Buffer.from(`\0\0\0\0${note}`, 'utf8');
    record.writeUInt32BE(record.length - 4, 0);
    if (!res.write(record)) await new Promise((r) => (res.once('drain', r), res.once('close', r)));
    if (res.destroyed) return;
  }
  res.end();
}

export async function startServer(
  service: ReleaseService,
  log: TransparencyLog,
  opts: ServeOptions = {},
): Promise<RunningServer> {
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    let x: Exchange;
    try {
      // The client behind trusted proxies (X-Forwarded-For, Forwarded), and where it is.
      const { client, observed } = service.locateSource(req.socket.remoteAddress ?? 'unknown', {
        'x-forwarded-for': req.headersDistinct['x-forwarded-for'],
        forwarded: req.headersDistinct.forwarded,
      });
      x = {
        id: service.exchangeId(),
        ip: client.address,
        observed,
        method: printable(req.method ?? ''),
        path: printable(req.url ?? ''),
        res,
        onExchange: opts.onExchange,
        done: false,
      };
    } catch {
      res.destroy();
      return;
    }
    const isRelease = req.method === 'POST' && targetPath(req.url) === '/v1/release';
    handle(service, log, opts, req, x)
      .catch((e: unknown) => guard(service, e, x, isRelease))
      .catch(() => res.destroy());
  };
  // A request trickled in (or never finished) is cut off: its body is then logged as incomplete.
  const requestTimeout = opts.requestTimeoutMs ?? 30_000;
  const timeouts = {
    requestTimeout,
    headersTimeout: Math.min(requestTimeout, 20_000),
    connectionsCheckingInterval: Math.min(1_000, requestTimeout / 2),
  };
  const server = opts.tls
    ? (await import('node:https')).createServer(
        {
          cert: opts.tls.cert,
          key: opts.tls.key,
          ...(opts.clientCa !== undefined && { ca: opts.clientCa, requestCert: true, rejectUnauthorized: false }),
          ...timeouts,
        },
        listener,
      )
    : (await import('node:http')).createServer(timeouts, listener);
  server.keepAliveTimeout = 5000;
  // Bytes that are not HTTP never reach a handler: answered 400 with an id, on the service log (or counted).
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    // A net.Socket (or its TLS subclass) typed as a Duplex: read the address it has.
    const ip = (socket as { remoteAddress?: string }).remoteAddress ?? 'unknown';
    const id = service.exchangeId();
    const reason = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'request-timeout' : 'malformed-http';
    const admitted = service.admitFailure(ip, reason);
    opts.onExchange?.({
      id,
      ip,
      method: '',
      path: '',
      status: reason === 'request-timeout' ? 408 : 400,
      reason,
      logged: admitted.ok ? 'service-log' : 'summary',
    });
    if (socket.writable && !(err.code === 'ECONNRESET'))
      socket.end(
        `HTTP/1.1 ${reason === 'request-timeout' ? '408 Request Timeout' : '400 Bad Request'}\r\n` +
          `connection: close\r\ncontent-length: 0\r\nx-request-id: ${id}\r\n\r\n`,
      );
    else socket.destroy();
  });
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
