/**
 * Forwarding an admitted call to the model server and metering it (docs/GATE.md, "Quotas and
 * metering"): a non-streamed answer whole (its `usage`), a stream event by event as it comes, never
 * buffered, waiting on a slow client, with the usage chunk asked for upstream and stripped when the
 * client did not ask for it. Every way a call ends — completed, client gone, model server failed or
 * silent, reservation used up mid-stream — comes back as the call's {@link Metered} use.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { InferSettleEvent } from '../log/events.js';
import type { Admitted } from './admit.js';
import { estimateTextTokens } from './meter.js';
import { answerText, chunkText, errorBody, textDigest, usageOf, type ApiError } from './openai.js';
import { dataEvent, eventJson, SseSplitter } from './sse.js';
import { UpstreamFailure, type Upstream } from './upstream.js';
import { createHash } from 'node:crypto';

/** Non-streamed answers larger than this are an upstream error (embeddings of long inputs fit well within). */
export const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

/** How a call ended and what it used: the settle entry's fields that forwarding knows. */
export interface Metered {
  outcome: InferSettleEvent['outcome'];
  status: number;
  tokens: { prompt: number; completion: number };
  estimated: boolean;
  output: string | null;
  firstTokenMs?: number;
}

/** The head of an answer to the client: what the gateway adds to every answer of a call. */
export interface CallHead {
  id: string;
  receipt: string;
  started: number;
}

/** The body forwarded upstream: the client's, for the served model, with the usage asked for on streams. */
export function upstreamBody(a: Admitted, model: string): Buffer {
  const body: Record<string, unknown> = { ...a.request.body, model };
  if (a.request.stream) {
    const opts = (a.request.body.stream_options ?? {}) as Record<string, unknown>;
    body.stream_options = { ...opts, include_usage: true };
  } else if (a.request.maxTokens === null && a.request.endpoint !== 'embeddings') {
    // A non-streamed answer cannot be cut where its reservation ends: the model server is told where.
    body.max_tokens = a.allowance;
  }
  return Buffer.from(JSON.stringify(body), 'utf8');
}

const headers = (h: CallHead, more: Record<string, string>) => ({
  'x-request-id': h.id,
  'x-modelseal-receipt': h.receipt,
  'cache-control': 'no-store',
  ...more,
});

/** Answers the client with an OpenAI error (when nothing was sent yet). */
export function answerError(res: ServerResponse, h: CallHead, e: ApiError, more: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(errorBody(e));
  res.writeHead(
    e.status,
    headers(h, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...more }),
  );
  res.end(text);
}

/** The model server failed or went silent: 502 or 504 to a client still waiting, and the outcome. */
export function upstreamFailed(
  res: ServerResponse,
  h: CallHead,
  a: Admitted,
  e: unknown,
  sent: Partial<Metered>,
): Metered {
  const timeout = e instanceof UpstreamFailure && e.kind === 'upstream-timeout';
  const status = res.headersSent ? res.statusCode : timeout ? 504 : 502;
  const error: ApiError = {
    status,
    type: 'server_error',
    code: timeout ? 'upstream_timeout' : 'upstream_error',
    message: e instanceof UpstreamFailure ? e.message : 'the model server failed',
  };
  if (res.headersSent) {
    if (!res.destroyed && !res.writableEnded) res.end(dataEvent(errorBody(error)));
  } else answerError(res, h, error);
  return {
    outcome: timeout ? 'upstream-timeout' : 'upstream-error',
    status,
    tokens: sent.tokens ?? { prompt: a.promptTokens, completion: 0 },
    estimated: sent.estimated ?? true,
    output: sent.output ?? null,
    ...(sent.firstTokenMs !== undefined && { firstTokenMs: sent.firstTokenMs }),
  };
}

/** A non-streamed answer (or a stream's error answer): read whole within bounds, metered, passed on. */
export async function forwardWhole(
  upstream: Upstream,
  up: IncomingMessage,
  res: ServerResponse,
  h: CallHead,
  a: Admitted,
  signal: AbortSignal,
): Promise<Metered> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const b of upstream.body(up, signal)) {
    n += b.length;
    if (n > MAX_ANSWER_BYTES) throw new UpstreamFailure('upstream-error', 'the model server sent too large an answer');
    parts.push(b);
  }
  if (signal.aborted) return disconnected(a, null);
  const bytes = Buffer.concat(parts);
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    json = undefined;
  }
  const status = up.statusCode ?? 502;
  const ok = status >= 200 && status < 300;
  if (ok && json === undefined) throw new UpstreamFailure('upstream-error', 'the model server sent no JSON');
  const usage = usageOf(json);
  const text = ok ? answerText(a.request.endpoint, json) : null;
  // A model server's 5xx is answered as a 502 of the gateway; its 4xx (the call was not one it takes) as it is.
  const answerStatus = status >= 500 ? 502 : status;
  const out = answerStatus === status ? bytes : Buffer.from(JSON.stringify(upstreamError(json, status)));
  res.writeHead(answerStatus, headers(h, { 'content-type': 'application/json', 'content-length': String(out.length) }));
  res.end(out);
  return {
    outcome: ok ? 'completed' : 'upstream-error',
    status: answerStatus,
    tokens: usage ?? { prompt: a.promptTokens, completion: text === null ? 0 : estimateTextTokens(text) },
    estimated: usage === null,
    output: text === null ? null : textDigest(text),
  };
}

/** What a 5xx of the model server becomes: an OpenAI error naming its status and message. */
function upstreamError(json: unknown, status: number) {
  const m = (json as { error?: { message?: unknown } } | undefined)?.error?.message;
  return errorBody({
    status: 502,
    type: 'server_error',
    code: 'upstream_error',
    message: `the model server failed (${status})${typeof m === 'string' ? `: ${m.slice(0, 200)}` : ''}`,
  });
}

/** The use of a call whose client left: what was sent so far (the prompt, at least). */
function disconnected(a: Admitted, sent: Partial<Metered> | null): Metered {
  return {
    outcome: 'client-disconnect',
    status: sent?.status ?? 499,
    tokens: sent?.tokens ?? { prompt: a.promptTokens, completion: 0 },
    estimated: sent?.estimated ?? true,
    output: sent?.output ?? null,
    ...(sent?.firstTokenMs !== undefined && { firstTokenMs: sent.firstTokenMs }),
  };
}

/** The running count of a stream: tokens, the output's hash, the usage the model server reported. */
class StreamMeter {
  readonly #hash = createHash('sha256');
  #any = false;
  completion = 0;
  usage: { prompt: number; completion: number } | null = null;
  firstTokenMs: number | undefined;

  constructor(
    readonly a: Admitted,
    readonly started: number,
  ) {}

  /** Counts one event's text (one chunk with text: one token), and its usage if it has one. */
  add(text: string, usage: { prompt: number; completion: number } | null): void {
    if (usage) this.usage = usage;
    if (text === '') return;
    this.#hash.update(text, 'utf8');
    this.#any = true;
    this.completion++;
    this.firstTokenMs ??= Math.round(performance.now() - this.started);
  }

  get exhausted(): boolean {
    return this.a.request.maxTokens === null && this.completion > this.a.allowance;
  }

  metered(outcome: Metered['outcome'], status: number): Metered {
    const counted = { prompt: this.a.promptTokens, completion: this.completion };
    return {
      outcome,
      status,
      tokens: this.usage ?? counted,
      estimated: this.usage === null,
      output: this.#any ? `sha256:${this.#hash.copy().digest('hex')}` : null,
      ...(this.firstTokenMs !== undefined && { firstTokenMs: this.firstTokenMs }),
    };
  }
}

/** Writes `b` and waits while the client's buffer is full (backpressure); false when the client left. */
async function write(res: ServerResponse, b: Buffer): Promise<boolean> {
  if (res.destroyed) return false;
  if (res.write(b)) return true;
  await new Promise<void>((r) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      r();
    };
    res.on('drain', done);
    res.on('close', done);
  });
  return !res.destroyed;
}

/** A streamed answer, passed through event by event (usage chunk stripped unless asked for). */
export async function forwardStream(
  upstream: Upstream,
  up: IncomingMessage,
  res: ServerResponse,
  h: CallHead,
  a: Admitted,
  signal: AbortSignal,
): Promise<Metered> {
  const meter = new StreamMeter(a, h.started);
  const split = new SseSplitter();
  res.writeHead(200, headers(h, { 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive' }));
  res.flushHeaders();
  try {
    for await (const chunk of upstream.body(up, signal)) {
      for (const e of split.push(chunk)) {
        const json = eventJson(e);
        const usage = json && usageOf(json);
        meter.add(json ? chunkText(a.request.endpoint, json) : '', usage);
        if (meter.exhausted) return cutStream(res, meter);
        let out = e.raw;
        if (usage && !a.request.includeUsage) {
          const choices = json.choices;
          if (!Array.isArray(choices) || choices.length === 0) continue; // the usage-only chunk
          const { usage: _dropped, ...rest } = json;
          out = dataEvent(rest);
        }
        if (!(await write(res, out))) return disconnected(a, meter.metered('client-disconnect', 200));
      }
    }
    const last = split.end();
    if (last && !(await write(res, last.raw))) return disconnected(a, meter.metered('client-disconnect', 200));
  } catch (e) {
    if (signal.aborted || res.destroyed) return disconnected(a, meter.metered('client-disconnect', 200));
    return upstreamFailed(res, h, a, e, meter.metered('upstream-error', 200));
  }
  if (signal.aborted || res.destroyed) return disconnected(a, meter.metered('client-disconnect', 200));
  res.end();
  return meter.metered('completed', 200);
}

/** The reservation is used up mid-stream: an error event, the end of the stream, and the outcome. */
function cutStream(res: ServerResponse, meter: StreamMeter): Metered {
  const error: ApiError = {
    status: 429,
    type: 'rate_limit_error',
    code: 'quota_exhausted',
    message: `the tokens reserved for this call (${meter.a.allowance}) are used up: set max_tokens within your quota`,
  };
  if (!res.destroyed) res.end(Buffer.concat([dataEvent(errorBody(error)), Buffer.from('data: [DONE]\n\n')]));
  return meter.metered('quota-exhausted', 200);
}
