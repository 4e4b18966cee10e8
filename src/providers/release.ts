/**
 * `release`: the data key can only be had from the release service (docs/SERVER.md).
 *
 * Sealing (`--to release:<service URL>#<recipient>`) wraps the data key for the service's own key
 * (its x25519 public key, from GET /v1/info) under the release context naming the recipient and
 * the license; nobody, the recipient included, can unwrap it without the service.
 * Stanza: type "release", recipient = the registered recipient, args [service URL, inner type,
 * inner recipient id, ...inner args], body = the inner wrap.
 *
 * Opening (`open --server`): a signed request to the service, which decides by policy, logs the
 * request and only then answers; the client checks the log receipt before it uses the key.
 */
import { randomBytes, type KeyObject } from 'node:crypto';
import { ModelsealError } from '../errors.js';
import { toB64, toHex } from '../format/encoding.js';
import type { Stanza } from '../format/header.js';
import type { PublisherEvent } from '../log/events.js';
import type { NoteVerifier } from '../log/note.js';
import { signExports } from '../release/exports.js';
import { signLicenseCheck, type LicenseCheck, type LicenseCheckAnswer } from '../release/license-check.js';
import { checkExportReceipts, checkReleaseReceipt } from '../release/receipt.js';
import { requestId, signRequest, type ReleaseRequest } from '../release/request.js';
import { newEphemeral, unwrapFromService, type ReleaseAnswer, type ServiceInfo } from '../release/response.js';
import { RELEASE, releaseStanzaArgs, stanzaToJson } from '../release/stanza.js';
import type { Identity, Recipient, ReleaseContext, WrappedKey } from './types.js';
import type { Signer } from '../crypto/signer.js';

export { RELEASE };

/** Seals for a registered recipient of a release service: the data key goes to the service's own key. */
export class ReleaseRecipient implements Recipient {
  readonly type = RELEASE;
  /** The registered recipient the key is released to. */
  readonly id: string;
  readonly service: string;
  readonly #inner: Recipient;

  constructor(service: string, recipient: string, inner: Recipient) {
    this.service = service;
    this.id = recipient;
    this.#inner = inner;
  }

  async wrapDataKey(dataKey: Uint8Array, context: ReleaseContext): Promise<WrappedKey> {
    const w = await this.#inner.wrapDataKey(dataKey, context);
    return { args: releaseStanzaArgs(this.service, this.#inner.type, this.#inner.id, w.args), body: w.body };
  }
}

/** Parses `release:<service URL>#<recipient>`. */
export function parseReleaseRecipient(value: string): { service: string; recipient: string } {
  const m = /^release:(https?:\/\/[^#\s]+)#([a-z0-9][a-z0-9._-]{0,63})$/.exec(value.trim());
  if (!m)
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `${value}: expected release:<service URL>#<recipient name>, e.g. release:http://127.0.0.1:7411#acme-labs`,
    );
  return { service: m[1]!.replace(/\/+$/, ''), recipient: m[2]! };
}

async function call(url: string, init?: RequestInit): Promise<Response> {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    // parsed stays undefined
  }
  if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `${JSON.stringify(url.replace(/\/v1\/.*$/, ''))} is not a release service URL; give its http(s) address, e.g. --server https://release.example:7411`,
    );
  }
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(30_000) });
  } catch (cause) {
    throw new ModelsealError(
      'PROVIDER_UNAVAILABLE',
      `the release service at ${new URL(url).origin} cannot be reached; check --server and that \`modelseal serve\` ` +
        `runs there`,
      { cause },
    );
  }
}

/** GET /v1/info of a release service; PROVIDER_UNAVAILABLE when it does not answer as one. */
export async function serviceInfo(service: string): Promise<ServiceInfo> {
  const res = await call(`${service}/v1/info`);
  const body = (await res.json().catch(() => null)) as ServiceInfo | null;
  if (!res.ok || !body || typeof body.wrap !== 'string')
    throw new ModelsealError(
      'PROVIDER_UNAVAILABLE',
      `${service}/v1/info did not answer as a modelseal release service (HTTP ${res.status})`,
    );
  return body;
}

/**
 * `seal --log <service URL>`: sends the export events, signed by the publisher, to the service's
 * log, and checks each receipt (under the log's key, and that it carries that very event) before
 * the package may be written. Returns the entries' indexes.
 */
export async function logExports(
  service: string,
  events: PublisherEvent[],
  publisher: Signer,
  logKey: NoteVerifier,
): Promise<number[]> {
  const base = service.replace(/\/+$/, '');
  const res = await call(`${base}/v1/export`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(await signExports(events, publisher)),
  });
  const body = (await res.json().catch(() => null)) as {
    receipts?: unknown[];
    error?: { code?: string; message?: string };
  } | null;
  if (!res.ok || !body || !Array.isArray(body.receipts) || body.receipts.length !== events.length) {
    const why = body?.error?.message ?? `HTTP ${res.status}`;
    throw new ModelsealError(
      'LOG_UNAVAILABLE',
      `the log at ${base} did not record the export (${why}); the package was not written`,
    );
  }
  return checkExportReceipts(body.receipts, events, logKey);
}

/**
 * A publisher's signed POST to the release service at `base` (`path`: /v1/licenses/check,
 * /v1/records), its JSON answer checked by `wellFormed`. Throws UNTRUSTED_SIGNER when the service
 * does not answer this publisher key, PROVIDER_UNAVAILABLE when it cannot be asked or answers
 * anything else; `what` names the call in those messages.
 */
export async function publisherPost<T>(
  base: string,
  path: string,
  signed: unknown,
  what: string,
  wellFormed: (body: Partial<T>) => boolean,
): Promise<T> {
  const res = await call(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(signed),
  });
  const body = (await res.json().catch(() => null)) as
    (Partial<T> & { error?: { code?: string; message?: string } }) | null;
  if (res.status === 403 && body?.error?.code === 'UNTRUSTED_SIGNER')
    throw new ModelsealError(
      'UNTRUSTED_SIGNER',
      `the release service at ${base} does not answer this publisher key: ${body.error.message ?? ''}; ` +
        "its operator adds the key's .pub file to <data>/publishers",
    );
  if (!res.ok || !body || !wellFormed(body))
    throw new ModelsealError(
      'PROVIDER_UNAVAILABLE',
      `the release service at ${base} did not answer ${what} (${body?.error?.message ?? `HTTP ${res.status}`})`,
    );
  return body as T;
}

/**
 * Asks the release service whether license `check.license` covers `check` (POST /v1/licenses/check),
 * signed by the publisher. Throws LICENSE_NOT_COVERED naming each term that fails, UNTRUSTED_SIGNER
 * when the service does not answer this publisher, PROVIDER_UNAVAILABLE when it cannot be asked.
 */
export async function requireLicense(
  service: string,
  check: Omit<LicenseCheck, 'v' | 'time'>,
  publisher: Signer,
): Promise<LicenseCheckAnswer> {
  const base = service.replace(/\/+$/, '');
  const full: LicenseCheck = { v: 1, ...check, time: new Date().toISOString() };
  const answer = await publisherPost(
    base,
    '/v1/licenses/check',
    await signLicenseCheck(full, publisher),
    'the license check',
    (b: Partial<LicenseCheckAnswer>) => typeof b.covered === 'boolean' && Array.isArray(b.failures),
  );
  if (!answer.covered)
    throw new ModelsealError(
      'LICENSE_NOT_COVERED',
      `license ${check.license} at ${base} does not cover this package: ` +
        answer.failures.map((f) => f.message).join('; '),
      { details: { license: check.license, service: base, failures: answer.failures.map((f) => f.reason) } },
    );
  return answer;
}

export interface ReleaseClientOptions {
  /** The service to ask; default: the URL recorded in the stanza. */
  server?: string;
  /** The registered recipient and its signing key. */
  name: string;
  key: KeyObject;
  /** Where the weights go (ISO 3166 alpha-2). */
  destination: string;
  /** The log's verifier key: the receipt must verify under it before the key is used. */
  logKey: NoteVerifier;
  /** Receives the receipt of a release (C2SP tlog-proof) to store next to the output. */
  onReceipt?: (receipt: string, requestId: string) => void;
}

/** Opens a release stanza by a signed request to the service, trusting the answer only with its log receipt. */
export class ReleaseIdentity implements Identity {
  readonly description: string;
  readonly #o: ReleaseClientOptions;

  constructor(o: ReleaseClientOptions) {
    this.#o = o;
    this.description = `release service client ${o.name}${o.server ? ` (${o.server})` : ''}`;
  }

  async unwrapDataKey(stanza: Stanza, context: ReleaseContext): Promise<Uint8Array | null> {
    if (stanza.type !== RELEASE || stanza.recipient !== this.#o.name) return null;
    const server = (this.#o.server ?? stanza.args[0] ?? '').replace(/\/+$/, '');
    const eph = newEphemeral();
    const request: ReleaseRequest = {
      v: 1,
      package: toHex(context.packageId),
      artifact: `sha256:${toHex(context.artifactDigest)}`,
      stanza: stanzaToJson(stanza),
      ephemeral: eph.public,
      nonce: toB64(randomBytes(16)),
      time: new Date().toISOString(),
      destination: this.#o.destination,
      recipient: this.#o.name,
    };
    const id = requestId(request);
    const res = await call(`${server}/v1/release`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ request, signature: signRequest(request, this.#o.key) }),
    });
    const answer = (await res.json().catch(() => null)) as ReleaseAnswer | null;
    const decision: unknown = answer?.decision; // the server's JSON: any value until checked
    if (!answer || (decision !== 'allow' && decision !== 'deny') || typeof answer.receipt !== 'string') {
      throw new ModelsealError(
        'PROVIDER_UNAVAILABLE',
        `the release service at ${server} answered HTTP ${res.status} without a logged ` +
          `decision${answer?.message ? `: ${answer.message}` : ''}; nothing was released`,
      );
    }
    // The decision counts only once it is in the log: check the receipt first.
    checkReleaseReceipt(answer.receipt, id, answer.decision, this.#o.logKey);
    // Outages at the service (its key provider, its screening lists): logged, nothing released, worth a retry.
    if (
      answer.decision === 'deny' &&
      (answer.reason === 'provider-unavailable' || answer.reason === 'screening-unavailable')
    ) {
      const what = answer.reason === 'provider-unavailable' ? 'key provider' : 'screening of the recipient';
      throw new ModelsealError(
        'PROVIDER_UNAVAILABLE',
        `the release service's ${what} is unavailable (request ${id}, logged); nothing was released, retry later`,
        {
          details: { requestId: id, reason: answer.reason },
        },
      );
    }
    if (answer.decision === 'deny') {
      throw new ModelsealError(
        'RELEASE_DENIED',
        `the release service denied request ${id}: ${answer.message ?? answer.reason ?? 'denied'}`,
        {
          details: { requestId: id, reason: answer.reason, policies: answer.policies ?? [] },
        },
      );
    }
    const dek = answer.key ? unwrapFromService(answer.key, eph, id) : null;
    if (!dek) throw new ModelsealError('DECRYPTION_FAILED', 'the key from the release service failed authentication');
    this.#o.onReceipt?.(answer.receipt, id);
    return dek;
  }
}
