/**
 * The HTTP core of the OCI client: one request with the registry's auth challenge answered
 * (distribution token flow or basic) and retries with backoff on 429/5xx and dropped connections
 * (Retry-After honoured). Uses Node's fetch; `fetch` and `sleep` are injectable for recorded exchanges.
 */
import { ModelsealError } from '../../errors.js';
import { basicAuthorization, dockerCredential, IDENTITY_TOKEN, parseChallenge, type Credential } from './auth.js';
import { isLoopback, type OciReference } from './reference.js';
import { MAX_RETRY_WAIT_MS, retryableStatus, retryAfterMs } from '../retry.js';

/** Options of the OCI client that every command shares. */
export interface OciOptions {
  /** Speak plain HTTP: refused unless the registry is on a loopback address or this is set explicitly. */
  plainHttp?: boolean;
  /** The Docker config directory (default $DOCKER_CONFIG or ~/.docker). */
  dockerConfig?: string;
  /** Credentials to use instead of the Docker config's (never logged). */
  credential?: Credential;
  /** Attempts after the first on 429, 5xx and dropped connections (default 5). */
  retries?: number;
  /** The fetch to use (default Node's). */
  fetch?: typeof fetch;
  /** How to wait between retries (default a timer); tests pass a recorder. */
  sleep?: (ms: number) => Promise<void>;
  /** Bytes per PATCH of a chunked upload (default 8 MiB): the upload's buffer. */
  chunkBytes?: number;
  /** Aborts requests in flight. */
  signal?: AbortSignal;
}

/** What one request expects: the method, headers, a body (re-sent as is on a retry). */
export interface RequestInit {
  method?: string;
  headers?: Record<string, string>;
  body?: Uint8Array;
}

/** Whether a fetch failure is TLS refusing the certificate (never a reason to fall back to plain HTTP). */
function isCertificateError(e: unknown): boolean {
  const code = (e as { cause?: { code?: string } }).cause?.code ?? '';
  return /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|HOSTNAME|ALTNAME/.test(code);
}

/** The low-level reason of a fetch failure ("fetch failed" says nothing): its cause's code or message. */
function reason(e: unknown): string {
  const c = (e as { cause?: { code?: string; message?: string } }).cause;
  return c?.code ?? c?.message ?? (e as Error).message;
}

/** A one-chunk stream of `b` (not copied). */
function streamOf(b: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      c.enqueue(b);
      c.close();
    },
  });
}

/** A client for one repository of one registry; it keeps the token the registry last handed out. */
export class RegistryHttp {
  readonly ref: OciReference;
  readonly #o: OciOptions;
  readonly #fetch: typeof fetch;
  #scheme: 'https' | 'http';
  #fallbackTried = false;
  #authorization: string | null = null;
  #credential: Credential | null | undefined;

  constructor(ref: OciReference, o: OciOptions = {}) {
    this.ref = ref;
    this.#o = o;
    this.#fetch = o.fetch ?? fetch;
    this.#scheme = o.plainHttp ? 'http' : 'https';
    // Loopback registries are tried over HTTPS first and fall back to HTTP, as docker does for localhost.
    this.#fallbackTried = !!o.plainHttp || !isLoopback(ref.registry);
  }

  /** The URL of `path` under /v2/<repository>/ (or an absolute URL a registry handed back, e.g. Location). */
  url(path: string): string {
    if (/^https?:\/\//.test(path)) return path;
    if (path.startsWith('/')) return `${this.#scheme}://${this.ref.registry}${path}`;
    return `${this.#scheme}://${this.ref.registry}/v2/${this.ref.repository}/${path}`;
  }

  /** Sends one request; answers auth challenges and retries 429/5xx. Other statuses are the caller's to judge. */
  async send(path: string, init: RequestInit, what: string): Promise<Response> {
    const retries = this.#o.retries ?? 5;
    let attempt = 0;
    let authAnswered = false;
    for (;;) {
      let res: Response;
      const url = this.url(path);
      try {
        res = await this.#fetch(url, {
          method: init.method ?? 'GET',
          headers: { ...init.headers, ...(this.#authorization ? { authorization: this.#authorization } : {}) },
          // A stream of the caller's bytes: fetch copies an ArrayBufferView body (8 MiB of garbage a PATCH), a
          // stream it writes to the socket as is. Made anew for each attempt.
          ...(init.body ? { body: streamOf(init.body), duplex: 'half' } : {}),
          redirect: 'follow',
          ...(this.#o.signal ? { signal: this.#o.signal } : {}),
        });
      } catch (cause) {
        if (this.#o.signal?.aborted) throw new ModelsealError('INTERRUPTED', `${what}: interrupted`, { cause });
        if (!this.#fallbackTried && this.#scheme === 'https' && !isCertificateError(cause)) {
          this.#fallbackTried = true;
          this.#scheme = 'http';
          if (!/^https?:\/\//.test(path)) continue;
        }
        // A certificate TLS refuses stays refused: no retry.
        if (!isCertificateError(cause) && attempt++ < retries) {
          await this.#wait(attempt, null);
          continue;
        }
        throw new ModelsealError(
          'REGISTRY_ERROR',
          `${what}: cannot reach ${this.ref.registry} (${reason(cause)}); check the address, ` +
            'pass --plain-http for a registry without TLS, or NODE_EXTRA_CA_CERTS=<ca.pem> for a private CA',
          { cause },
        );
      }
      this.#fallbackTried = true;
      if (res.status === 401 && !authAnswered) {
        await res.body?.cancel();
        authAnswered = true;
        await this.#answerChallenge(res.headers.get('www-authenticate'), what);
        continue;
      }
      if (res.status === 401 || res.status === 403) {
        await res.body?.cancel();
        throw new ModelsealError(
          'REGISTRY_AUTH',
          `${what}: ${this.ref.registry} refused (${res.status}); log in with \`docker login ${this.ref.registry}\` ` +
            'or check your rights to ' +
            this.ref.repository,
          { details: { status: res.status } },
        );
      }
      if (retryableStatus(res.status) && attempt < retries) {
        attempt++;
        await res.body?.cancel();
        await this.#wait(attempt, retryAfterMs(res.headers.get('retry-after')));
        continue;
      }
      if (res.status === 429 || res.status >= 500) {
        await res.body?.cancel();
        throw new ModelsealError(
          'REGISTRY_ERROR',
          `${what}: ${this.ref.registry} answered ${res.status} after ${attempt + 1} attempts; try again later`,
          { details: { status: res.status } },
        );
      }
      return res;
    }
  }

  /** Sends and insists on one of `ok`: a 404 is REGISTRY_NOT_FOUND, anything else REGISTRY_ERROR (with its code). */
  async expect(path: string, init: RequestInit, ok: readonly number[], what: string): Promise<Response> {
    const res = await this.send(path, init, what);
    if (ok.includes(res.status)) return res;
    const body = await res.text().catch(() => '');
    const code = /"code"\s*:\s*"([A-Z_]+)"/.exec(body)?.[1];
    throw new ModelsealError(
      res.status === 404 ? 'REGISTRY_NOT_FOUND' : 'REGISTRY_ERROR',
      `${what}: ${this.ref.registry} answered ${res.status}${code ? ` ${code}` : ''}` +
        (res.status === 404 ? `; check that ${this.ref.repository} holds it` : ''),
      { details: { status: res.status, ...(code ? { registryCode: code } : {}) } },
    );
  }

  async #wait(attempt: number, asked: number | null): Promise<void> {
    const ms = asked ?? Math.min(250 * 2 ** (attempt - 1), MAX_RETRY_WAIT_MS);
    await (this.#o.sleep ?? ((t: number) => new Promise<void>((r) => setTimeout(r, t))))(ms);
  }

  async #credentials(): Promise<Credential | null> {
    if (this.#credential === undefined)
      this.#credential = this.#o.credential ?? (await dockerCredential(this.ref.registry, this.#o.dockerConfig));
    return this.#credential;
  }

  /** Answers a 401: a bearer token from the realm (with basic credentials when we have some), or basic auth. */
  async #answerChallenge(header: string | null, what: string): Promise<void> {
    const c = header ? parseChallenge(header) : null;
    const cred = await this.#credentials();
    const noCred = () =>
      new ModelsealError(
        'REGISTRY_AUTH',
        `${what}: ${this.ref.registry} wants credentials and none were found; run \`docker login ` +
          `${this.ref.registry}\` or set DOCKER_CONFIG`,
      );
    if (c?.scheme === 'basic') {
      if (!cred) throw noCred();
      this.#authorization = basicAuthorization(cred);
      return;
    }
    if (c?.scheme !== 'bearer' || !c.params.realm)
      throw new ModelsealError(
        'REGISTRY_AUTH',
        `${what}: ${this.ref.registry} sent a challenge modelseal cannot answer`,
      );
    this.#authorization = `Bearer ${await this.#token(c.params, cred, what)}`;
  }

  /** The distribution token flow: GET realm?service=…&scope=… (basic auth when we have credentials). */
  async #token(p: Record<string, string>, cred: Credential | null, what: string): Promise<string> {
    const u = new URL(p.realm!);
    if (cred?.username !== IDENTITY_TOKEN) {
      if (p.service) u.searchParams.set('service', p.service);
      for (const s of (p.scope ?? '').split(' ').filter(Boolean)) u.searchParams.append('scope', s);
    }
    let res: Response;
    try {
      res = await this.#fetch(u, { ...tokenRequest(p, cred), ...(this.#o.signal ? { signal: this.#o.signal } : {}) });
    } catch (cause) {
      throw new ModelsealError('REGISTRY_AUTH', `${what}: cannot reach the token service ${u.origin}`, { cause });
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new ModelsealError(
        'REGISTRY_AUTH',
        `${what}: the token service ${u.origin} refused (${res.status}); ` +
          (cred ? 'check the credentials in your Docker config' : `run \`docker login ${this.ref.registry}\``),
        { details: { status: res.status } },
      );
    }
    const j = (await res.json().catch(() => ({}))) as { token?: string; access_token?: string };
    const token = j.token ?? j.access_token;
    if (!token) throw new ModelsealError('REGISTRY_AUTH', `${what}: the token service ${u.origin} sent no token`);
    return token;
  }
}

/**
 * The token request: a GET with basic credentials, or with an identity token (a refresh token from
 * `docker login` to OAuth2 registries) the OAuth2 POST of the distribution token spec.
 */
function tokenRequest(
  p: Record<string, string>,
  cred: Credential | null,
): { method?: string; headers: Record<string, string>; body?: string } {
  if (cred?.username !== IDENTITY_TOKEN) return { headers: cred ? { authorization: basicAuthorization(cred) } : {} };
  const form = new URLSearchParams({
    grant_type: 'refresh_token',
    refresh_token: cred.password,
    client_id: 'modelseal',
  });
  if (p.service) form.set('service', p.service);
  if (p.scope) form.set('scope', p.scope);
  return { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() };
}
