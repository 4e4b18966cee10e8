/**
 * `modelseal gate`: an OpenAI-compatible reverse proxy in front of a model server, under the release
 * service's export control (docs/GATE.md). Each call to /v1/chat/completions, /v1/completions or
 * /v1/embeddings is identified, decided (Cedar action `Infer`), reserved against the quotas, and
 * logged (the admit entry durable before anything is forwarded: fail closed), then forwarded and
 * settled with a second entry whatever way it ends. Served on the release service's own listener
 * (src/server/http.ts `routes`), so one process writes one log.
 */
import type { IncomingMessage } from 'node:http';
import { isModelsealError } from '../errors.js';
import { parseJson, readBody, send, type Exchange } from '../server/http.js';
import type { ReleaseServiceSetup } from '../server/setup.js';
import { admit, baseEvent, type AdmissionParts, type Admitted, type Refused } from './admit.js';
import { forwardStream, forwardWhole, upstreamBody, upstreamFailed, type CallHead, type Metered } from './forward.js';
import { identify, isCaller } from './identify.js';
import {
  ENDPOINTS,
  errorBody,
  MAX_REQUEST_BYTES,
  readInferRequest,
  type ApiError,
  type InferRequest,
} from './openai.js';
import { inferenceFlops } from './meter.js';
import { GateRecord } from './record.js';
import { Upstream, type UpstreamTimeouts } from './upstream.js';

/** Options of {@link Gateway.open}. */
export interface GatewayOptions extends Omit<AdmissionParts, 'setup'> {
  setup: Pick<
    ReleaseServiceSetup,
    'service' | 'log' | 'policy' | 'recipients' | 'screening' | 'licenseRequired' | 'pseudonyms'
  >;
  /** The model server's base URL (its /v1/… paths are under it). */
  upstream: string;
  timeouts?: Partial<UpstreamTimeouts>;
  now?: () => Date;
}

const RECEIPTS = /^\/v1\/gate\/receipts\/([0-9a-f]{32})$/;

const notAllowed = (method: string): ApiError => ({
  status: 405,
  type: 'invalid_request_error',
  code: 'method_not_allowed',
  message: `${method} is not supported here`,
});

export class Gateway {
  readonly upstream: Upstream;
  readonly record: GateRecord;
  readonly #o: GatewayOptions;
  readonly #parts: AdmissionParts;
  /** Calls being answered or settled: close() waits for them, so that each gets its settle entry. */
  readonly #inflight = new Set<Promise<void>>();

  private constructor(o: GatewayOptions, record: GateRecord) {
    this.#o = o;
    this.record = record;
    this.upstream = new Upstream(o.upstream, o.timeouts);
    this.#parts = { ...o, setup: o.setup, loggedAs: (name) => record.pseudonym(name) };
  }

  /** The gateway over a release service's setup; the monitor learns the log's earlier inference entries. */
  static async open(o: GatewayOptions): Promise<Gateway> {
    const record = new GateRecord(o.setup.log, o.setup.pseudonyms, o.monitor);
    const g = new Gateway(o, record);
    await record.replay();
    return g;
  }

  #now(): Date {
    return this.#o.now?.() ?? new Date();
  }

  /** The route hook of the release service's listener: answers the gate's paths, leaves the rest. */
  routes = async (req: IncomingMessage, x: Exchange): Promise<boolean> => {
    const path = (req.url ?? '').split('?')[0]!;
    const endpoint = ENDPOINTS[path];
    if (endpoint !== undefined) {
      if (req.method !== 'POST') this.#fail(x, notAllowed(req.method ?? ''), { allow: 'POST' });
      else await this.#track(this.#infer(req, x, endpoint));
      return true;
    }
    if (path === '/v1/models') {
      await this.#models(req, x);
      return true;
    }
    const m = RECEIPTS.exec(path);
    if (m || path.startsWith('/v1/gate/')) {
      await this.#receipts(req, x, m?.[1] ?? null);
      return true;
    }
    return false;
  };

  /** A refusal that is no log entry (a read, a wrong method): on the service log, under the source's limits. */
  #fail(x: Exchange, e: ApiError, more: Record<string, string> = {}): void {
    const admitted = this.#o.setup.service.admitFailure(x.ip, e.code);
    if (!admitted.ok) {
      const limited: ApiError = {
        status: 429,
        type: 'rate_limit_error',
        code: 'rate_limited',
        message: `too many failing requests from this source; retry in ${admitted.retryAfter} s`,
      };
      send(
        x,
        429,
        errorBody(limited),
        { 'retry-after': String(admitted.retryAfter) },
        { reason: e.code, logged: 'summary' },
      );
      return;
    }
    send(x, e.status, errorBody(e), more, { reason: e.code, logged: 'service-log' });
  }

  /** The identified caller of a read (GET /v1/models, receipts); null when it is not one (answered 401). */
  async #caller(req: IncomingMessage, x: Exchange) {
    const who = await identify(req, this.#o.keys, this.#o.setup.recipients, this.#now());
    if (isCaller(who)) return who;
    this.#fail(x, { status: 401, type: 'authentication_error', code: 'invalid_api_key', message: 'not authenticated' });
    return null;
  }

  /** GET /v1/models: the served model, to an identified caller. */
  async #models(req: IncomingMessage, x: Exchange): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      this.#fail(x, notAllowed(req.method ?? ''), { allow: 'GET' });
      return;
    }
    const who = await this.#caller(req, x);
    if (!who) return;
    const created = Math.floor(Date.parse(who.recipient.created) / 1000) || 0;
    send(x, 200, {
      object: 'list',
      data: [{ id: this.#o.model.name, object: 'model', created, owned_by: 'modelseal' }],
    });
  }

  /** GET /v1/gate/receipts/<id>: the receipts of a call, to the caller that made it (docs/GATE.md, "The record"). */
  async #receipts(req: IncomingMessage, x: Exchange, id: string | null): Promise<void> {
    if (req.method !== 'GET') {
      this.#fail(x, notAllowed(req.method ?? ''), { allow: 'GET' });
      return;
    }
    const who = await this.#caller(req, x);
    if (!who) return;
    const entries = id === null ? null : this.record.entries(id, who.recipient.name);
    if (!entries) {
      this.#fail(x, {
        status: 404,
        type: 'invalid_request_error',
        code: 'not_found',
        message: 'no call of yours with that id is known to this gateway (receipts are kept for its recent calls)',
      });
      return;
    }
    const log = this.record.log;
    const admitProof = (await log.receipt(entries.admit)).proof;
    const settleProof = entries.settle === null ? null : (await log.receipt(entries.settle)).proof;
    send(x, 200, {
      id,
      admit: { index: entries.admit, proof: admitProof },
      settle: settleProof && { index: entries.settle, proof: settleProof },
    });
  }

  /** One inference call: read, admit, log, forward, settle. */
  async #infer(req: IncomingMessage, x: Exchange, endpoint: string): Promise<void> {
    const started = performance.now();
    const body = await readBody(req, MAX_REQUEST_BYTES);
    let request: InferRequest | ApiError;
    if (body.kind === 'ok') {
      const parsed = parseJson(body.bytes);
      request =
        parsed === undefined
          ? {
              status: 400,
              type: 'invalid_request_error',
              code: 'invalid_json',
              message: 'the request body is not JSON',
            }
          : readInferRequest(endpoint, parsed);
    } else
      request =
        body.kind === 'oversized'
          ? {
              status: 413,
              type: 'invalid_request_error',
              code: 'request_too_large',
              message: `the body is larger than ${MAX_REQUEST_BYTES} bytes`,
            }
          : {
              status: 400,
              type: 'invalid_request_error',
              code: 'incomplete_body',
              message: 'the request body ended early',
            };
    const facts = { id: x.id, ip: x.ip, observed: x.observed, endpoint, request, time: this.#now() };
    let a: Admitted | Refused;
    try {
      a = await admit(this.#parts, facts, req);
    } catch (e) {
      // Deny on any error: logged when the log takes it.
      this.#o.onError?.(`call ${x.id}: admission failed`, e);
      const event = baseEvent(
        this.#parts,
        { ...facts, request: { status: 500, type: '', code: '', message: '' } },
        req,
      );
      a = {
        allow: false,
        event: { ...event, reason: 'internal-error' },
        error: {
          status: 500,
          type: 'server_error',
          code: 'internal_error',
          message: 'the gateway failed on this call; nothing was forwarded',
        },
      };
    }
    if (!a.allow) return this.#refuse(x, a);
    let logged: { index: number; proof: string };
    try {
      logged = await this.record.admit(a.event);
    } catch (e) {
      await this.#o.quotas.settle(a.reservation, { requests: 0, tokens: 0, flops: 0n }, this.#now()).catch(() => {});
      this.#logDown(x, e);
      return;
    }
    x.done = true;
    x.onExchange?.({ id: x.id, ip: x.ip, method: x.method, path: x.path, status: 200, reason: null, logged: 'entry' });
    const receipt = Buffer.from(logged.proof, 'utf8').toString('base64');
    const m = await this.#forward(req, x, a, { id: x.id, receipt, started });
    await this.#settle(a, logged.index, m, started);
  }

  /** A refused call: its admit entry logged (within the source's limits for failures), then the error. */
  async #refuse(x: Exchange, a: Refused): Promise<void> {
    const admitted = this.#o.setup.service.admitFailure(x.ip, a.event.reason);
    if (!admitted.ok) {
      const limited: ApiError = {
        status: 429,
        type: 'rate_limit_error',
        code: 'rate_limited',
        message:
          `too many failing requests from this source (this one: ${a.event.reason}); ` +
          `retry in ${admitted.retryAfter} s`,
      };
      send(
        x,
        429,
        errorBody(limited),
        { 'retry-after': String(admitted.retryAfter) },
        { reason: a.event.reason, logged: 'summary' },
      );
      return;
    }
    let proof: string;
    try {
      proof = (await this.record.admit(a.event)).proof;
    } catch (e) {
      this.#logDown(x, e);
      return;
    }
    const more: Record<string, string> = {
      'x-modelseal-receipt': Buffer.from(proof, 'utf8').toString('base64'),
      ...(a.retryAfter !== undefined && { 'retry-after': String(a.retryAfter) }),
      ...(a.error.status === 413 && { connection: 'close' }),
    };
    send(x, a.error.status, errorBody(a.error), more, { reason: a.event.reason, logged: 'entry' });
  }

  /** The log did not take the admit entry: 503, nothing forwarded (fail closed). */
  #logDown(x: Exchange, e: unknown): void {
    const error: ApiError = {
      status: 503,
      type: 'server_error',
      code: 'log_unavailable',
      message: 'the transparency log could not record the call, so nothing was forwarded; retry later',
    };
    const why = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    send(
      x,
      503,
      errorBody(error),
      { 'retry-after': '1' },
      { reason: isModelsealError(e) ? e.code.toLowerCase() : 'log_unavailable', logged: 'service-log', error: why },
    );
  }

  /** Forwards an admitted call; whatever happens, resolves with what it used. */
  async #forward(req: IncomingMessage, x: Exchange, a: Admitted, h: CallHead): Promise<Metered> {
    const res = x.res;
    const abort = new AbortController();
    const gone = () => {
      if (!res.writableFinished) abort.abort();
    };
    res.on('close', gone);
    req.on('close', () => req.complete || gone());
    try {
      const up = await this.upstream.call(
        'POST',
        req.url!.split('?')[0]!,
        upstreamBody(a, this.#o.model.name),
        abort.signal,
      );
      const stream =
        a.request.stream && up.statusCode === 200 && (up.headers['content-type'] ?? '').startsWith('text/event-stream');
      return stream
        ? await forwardStream(this.upstream, up, res, h, a, abort.signal)
        : await forwardWhole(this.upstream, up, res, h, a, abort.signal);
    } catch (e) {
      if (abort.signal.aborted)
        return {
          outcome: 'client-disconnect',
          status: 499,
          tokens: { prompt: a.promptTokens, completion: 0 },
          estimated: true,
          output: null,
        };
      return upstreamFailed(res, h, a, e, {});
    } finally {
      res.off('close', gone);
    }
  }

  /** Settles the call's reservation with what it used, and logs the settle entry. */
  async #settle(a: Admitted, admitIndex: number, m: Metered, started: number): Promise<void> {
    const tokens = m.tokens.prompt + m.tokens.completion;
    const flops = inferenceFlops(this.#o.model.parameters, tokens);
    const now = this.#now();
    try {
      await this.#o.quotas.settle(a.reservation, { requests: 1, tokens, flops }, now);
    } catch (e) {
      this.#o.onError?.(`call ${a.event.id}: its quota could not be settled (the reservation stays counted)`, e);
    }
    try {
      await this.record.settle({
        v: 1,
        type: 'infer-settle',
        time: now.toISOString(),
        id: a.event.id,
        admit: admitIndex,
        recipient: a.caller.recipient.name,
        model: this.#o.model.name,
        outcome: m.outcome,
        status: m.status,
        tokens: m.tokens,
        estimated: m.estimated,
        flops: flops.toString(),
        durationMs: Math.round(performance.now() - started),
        ...(m.firstTokenMs !== undefined && { firstTokenMs: m.firstTokenMs }),
        output: m.output,
        stream: a.request.stream,
      });
    } catch (e) {
      this.#o.onError?.(`call ${a.event.id}: its settle entry could not be logged`, e);
    }
  }

  async #track(call: Promise<void>): Promise<void> {
    this.#inflight.add(call);
    try {
      await call;
    } finally {
      this.#inflight.delete(call);
    }
  }

  /**
   * Waits for the calls in flight to end and be settled (close the listener first: their clients are
   * then gone, and each is settled as a disconnect), then lets go of the model server's connections.
   */
  async close(): Promise<void> {
    await Promise.allSettled([...this.#inflight]);
    this.upstream.close();
  }
}
