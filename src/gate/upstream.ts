/**
 * The model server behind the gateway: one request per call over a keep-alive agent, with three
 * timeouts (connect, first byte of the answer, idle between its bytes), and a stream of its body
 * that waits while the client is slow (backpressure) instead of buffering.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { ModelsealError } from '../errors.js';

/** Timeouts of a call to the model server, in ms. */
export interface UpstreamTimeouts {
  connectMs: number;
  firstByteMs: number;
  idleMs: number;
}

export const DEFAULT_UPSTREAM_TIMEOUTS: UpstreamTimeouts = { connectMs: 5_000, firstByteMs: 120_000, idleMs: 60_000 };

/** Why a call to the model server failed: no answer in time, or no usable connection. */
export class UpstreamFailure extends Error {
  constructor(
    readonly kind: 'upstream-timeout' | 'upstream-error',
    message: string,
  ) {
    super(message);
  }
}

/** The model server at a base URL ("http://127.0.0.1:8080"), called with paths under it. */
export class Upstream {
  readonly base: URL;
  readonly timeouts: UpstreamTimeouts;
  readonly #agent: HttpAgent;

  constructor(base: string, timeouts: Partial<UpstreamTimeouts> = {}) {
    let url: URL;
    try {
      url = new URL(base);
    } catch {
      url = new URL('invalid:');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new ModelsealError('INVALID_ARGUMENT', `--upstream ${JSON.stringify(base)}: expected an http(s) URL`);
    this.base = url;
    this.timeouts = { ...DEFAULT_UPSTREAM_TIMEOUTS, ...timeouts };
    const agentOptions = { keepAlive: true, maxSockets: 256, scheduling: 'lifo' as const };
    this.#agent = url.protocol === 'https:' ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions);
  }

  /**
   * POSTs (or GETs, without a body) `path` and resolves with the answer's head once its first byte
   * came. `abort` cancels it (the client left); failures reject with an {@link UpstreamFailure}.
   */
  call(method: 'GET' | 'POST', path: string, body: Buffer | null, signal: AbortSignal): Promise<IncomingMessage> {
    const t = this.timeouts;
    const target = new URL(this.base.pathname.replace(/\/+$/, '') + path, this.base);
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const fail = (e: UpstreamFailure) => {
        clearTimeout(timer);
        req.destroy();
        reject(e);
      };
      const arm = (ms: number, what: string) => {
        clearTimeout(timer);
        timer = setTimeout(() => fail(new UpstreamFailure('upstream-timeout', `${what} within ${ms} ms`)), ms);
      };
      const req = send(target, {
        method,
        agent: this.#agent,
        signal,
        headers: {
          accept: 'application/json, text/event-stream',
          ...(body && { 'content-type': 'application/json', 'content-length': String(body.length) }),
        },
      });
      req.on('socket', (s) => {
        if (s.connecting) {
          arm(t.connectMs, 'the model server did not accept the connection');
          s.once('connect', () => arm(t.firstByteMs, 'the model server did not answer'));
        } else arm(t.firstByteMs, 'the model server did not answer');
      });
      req.on('response', (res) => {
        clearTimeout(timer);
        resolve(res);
      });
      req.on('error', (e) => {
        clearTimeout(timer);
        reject(new UpstreamFailure('upstream-error', `the model server could not be reached: ${e.message}`));
      });
      req.end(body ?? undefined);
    });
  }

  /**
   * The chunks of an answer's body as they come, each within the idle timeout; stops early when
   * `signal` aborts. Pull-based: nothing more is read while the consumer waits (backpressure).
   */
  async *body(res: IncomingMessage, signal: AbortSignal): AsyncGenerator<Buffer> {
    const idle = this.timeouts.idleMs;
    const it = res[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    try {
      for (;;) {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new UpstreamFailure('upstream-timeout', `the model server sent nothing for ${idle} ms`)),
            idle,
          );
        });
        let next: IteratorResult<Buffer>;
        try {
          next = await Promise.race([it.next(), timeout]);
        } catch (e) {
          if (e instanceof UpstreamFailure) throw e;
          if (signal.aborted) return;
          throw new UpstreamFailure('upstream-error', `the model server's answer broke off: ${(e as Error).message}`);
        } finally {
          clearTimeout(timer);
        }
        if (next.done) {
          if (!res.complete)
            throw new UpstreamFailure('upstream-error', "the model server's answer broke off before its end");
          return;
        }
        yield next.value;
      }
    } finally {
      res.destroy();
    }
  }

  close(): void {
    this.#agent.destroy();
  }
}
