/**
 * A small client of the MLflow tracking server's REST API 2.0 (registered models, model versions,
 * aliases, runs, and the artifact proxy), over fetch. Authenticates as MLflow's own clients do:
 * MLFLOW_TRACKING_TOKEN (Bearer), else MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD (Basic);
 * credentials never appear in messages. Retries on 429 and 5xx with backoff (Retry-After honoured).
 */
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { ModelsealError } from '../../errors.js';
import { retryableStatus, retryAfterMs } from '../retry.js';

/** Where the tracking server is and how to reach it. */
export interface MlflowClientOptions {
  /** The tracking server, e.g. http://127.0.0.1:5000 (a path prefix is kept). */
  trackingUri: string;
  /** Environment to read the credentials from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Attempts per request, the first included (default 5). */
  attempts?: number;
  /** First backoff delay in milliseconds, doubled each retry (default 500). */
  backoffMs?: number;
}

/** An MLflow API error answer: `{ error_code, message }`. */
interface MlflowErrorBody {
  error_code?: string;
  message?: string;
}

const REQUEST_TIMEOUT_MS = 60_000;

/** The Authorization header MLflow's clients would send, from the environment; undefined when none is set. */
export function mlflowAuthorization(env: NodeJS.ProcessEnv): string | undefined {
  const token = env.MLFLOW_TRACKING_TOKEN;
  if (token) return `Bearer ${token}`;
  const user = env.MLFLOW_TRACKING_USERNAME;
  const password = env.MLFLOW_TRACKING_PASSWORD;
  if (user && password !== undefined) return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  return undefined;
}

/** The tracking URI checked: an http(s) URL without credentials in it, trailing slashes removed. */
function baseUrl(uri: string): string {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    throw new ModelsealError('INVALID_ARGUMENT', `--tracking-uri ${JSON.stringify(uri)}: expected an http(s) URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `--tracking-uri: expected an http(s) URL of a tracking server (got ${u.protocol}); MLflow's file and database ` +
        'stores have no REST API: run `mlflow server` in front of them',
    );
  if (u.username || u.password)
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      '--tracking-uri: put no credentials in the URL; set MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and ' +
        'MLFLOW_TRACKING_PASSWORD',
    );
  return `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The MLflow tracking server at one URI. */
export class MlflowClient {
  readonly base: string;
  readonly #auth: string | undefined;
  readonly #attempts: number;
  readonly #backoff: number;

  constructor(o: MlflowClientOptions) {
    this.base = baseUrl(o.trackingUri);
    this.#auth = mlflowAuthorization(o.env ?? process.env);
    this.#attempts = Math.max(1, o.attempts ?? 5);
    this.#backoff = o.backoffMs ?? 500;
  }

  /** Calls a REST 2.0 endpoint (`path` under /api/2.0/mlflow/) and returns its JSON answer; throws MLFLOW_* errors. */
  async call<T>(method: 'GET' | 'POST', path: string, body?: Record<string, unknown>): Promise<T> {
    let url = `${this.base}/api/2.0/mlflow/${path}`;
    if (method === 'GET' && body) url += `?${new URLSearchParams(body as Record<string, string>).toString()}`;
    const res = await this.#send(method, url, () => ({
      headers: { ...this.#headers(), ...(method === 'POST' ? { 'content-type': 'application/json' } : {}) },
      ...(method === 'POST' ? { body: JSON.stringify(body ?? {}) } : {}),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    }));
    return (await res.json()) as T;
  }

  /** Streams the file at `file` to the artifact proxy at `artifactPath` (mlflow-artifacts:/ relative path). */
  async uploadArtifact(artifactPath: string, file: string, size: number): Promise<void> {
    const rel = artifactPath.split('/').map(encodeURIComponent).join('/');
    await this.#send('PUT', `${this.base}/api/2.0/mlflow-artifacts/artifacts/${rel}`, () => ({
      headers: { ...this.#headers(), 'content-type': 'application/octet-stream', 'content-length': String(size) },
      body: Readable.toWeb(createReadStream(file)) as ReadableStream<Uint8Array>,
      duplex: 'half',
    }));
  }

  #headers(): Record<string, string> {
    return this.#auth ? { authorization: this.#auth } : {};
  }

  /** Sends a request with retries; returns a 2xx answer or throws. `init` is made per attempt (bodies are streams). */
  async #send(method: string, url: string, init: () => RequestInit): Promise<Response> {
    const what = `${method} ${url.replace(/\?.*$/, '')}`;
    for (let attempt = 1; ; attempt++) {
      const last = attempt >= this.#attempts;
      let res: Response;
      try {
        res = await fetch(url, { ...init(), method });
      } catch (cause) {
        if (last) throw unreachable(this.base, cause);
        await sleep(this.#backoff * 2 ** (attempt - 1));
        continue;
      }
      if (res.ok) return res;
      if (!retryableStatus(res.status)) throw await rejected(what, res);
      if (last) throw await unavailable(this.base, what, res, attempt);
      const after = retryAfterMs(res.headers.get('retry-after'));
      await res.body?.cancel();
      await sleep(after ?? this.#backoff * 2 ** (attempt - 1));
    }
  }
}

/** A server that could not be reached at all (refused, reset, no route, timed out). */
function unreachable(base: string, cause: unknown): ModelsealError {
  const why = cause instanceof Error ? (cause.cause instanceof Error ? cause.cause.message : cause.message) : '';
  return new ModelsealError(
    'MLFLOW_UNAVAILABLE',
    `the MLflow tracking server at ${base} could not be reached (${why || 'network error'}); check --tracking-uri ` +
      'and that `mlflow server` runs, then retry',
    { cause },
  );
}

/** The MLflow error of an answer, `{error_code, message}`, or its start as text. */
async function errorOf(res: Response): Promise<MlflowErrorBody> {
  const text = await res.text().catch(() => '');
  try {
    const j = JSON.parse(text) as MlflowErrorBody;
    if (typeof j === 'object') return j;
  } catch {
    // not JSON: a proxy's page
  }
  return { message: text.slice(0, 200).trim() };
}

/** A refusal (4xx): the server understood and said no; retrying the same request will not help. */
async function rejected(what: string, res: Response): Promise<ModelsealError> {
  const e = await errorOf(res);
  const hint =
    res.status === 401 || res.status === 403
      ? 'set MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, to an account ' +
        'allowed to register models'
      : 'check the arguments';
  return new ModelsealError(
    'MLFLOW_REJECTED',
    `MLflow refused ${what}: HTTP ${res.status}${e.error_code ? ` ${e.error_code}` : ''}` +
      `${e.message ? `: ${e.message}` : ''}; ${hint}`,
    { details: { status: res.status, ...(e.error_code ? { errorCode: e.error_code } : {}) } },
  );
}

/** A server that kept failing (429/5xx) through every attempt. */
async function unavailable(base: string, what: string, res: Response, attempts: number): Promise<ModelsealError> {
  const e = await errorOf(res);
  return new ModelsealError(
    'MLFLOW_UNAVAILABLE',
    `the MLflow tracking server at ${base} answered ${what} with HTTP ${res.status} ${attempts} times` +
      `${e.message ? ` (${e.message})` : ''}; retry later`,
    { details: { status: res.status } },
  );
}

/** Whether `e` is MLflow's answer that the resource does not exist (HTTP 404 RESOURCE_DOES_NOT_EXIST). */
export function isNotFound(e: unknown): boolean {
  return (
    e instanceof ModelsealError &&
    e.code === 'MLFLOW_REJECTED' &&
    (e.details?.errorCode === 'RESOURCE_DOES_NOT_EXIST' || e.details?.status === 404)
  );
}

/** Whether `e` is MLflow's answer that the resource exists already (RESOURCE_ALREADY_EXISTS). */
export function isAlreadyExists(e: unknown): boolean {
  return e instanceof ModelsealError && e.details?.errorCode === 'RESOURCE_ALREADY_EXISTS';
}
