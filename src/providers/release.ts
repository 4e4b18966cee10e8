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
import { verifyProof } from '../log/checkpoint.js';
import { decodeEvent, encodeEvent, type ExportEvent } from '../log/events.js';
import type { NoteVerifier } from '../log/note.js';
import {
  newEphemeral,
  requestId,
  signExports,
  signRequest,
  stanzaToJson,
  unwrapFromService,
  type ReleaseRequest,
} from '../server/protocol.js';
import type { Identity, Recipient, ReleaseContext, WrappedKey } from './types.js';
import type { Signer } from '../crypto/signer.js';

export const RELEASE = 'release';

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
    return { args: [this.service, this.#inner.type, this.#inner.id, ...w.args], body: w.body };
  }
}

/** The stanza the service's own key wrote, inside a release stanza (for the service to unwrap). */
export function innerStanza(s: Stanza): Stanza | null {
  if (s.type !== RELEASE || s.args.length < 3) return null;
  return {
    type: s.args[1]!,
    recipient: s.args[2]!,
    license: s.license,
    policy: s.policy,
    args: s.args.slice(3),
    body: s.body,
  };
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

export interface ServiceInfo {
  origin: string;
  logKey: string;
  /** The recipient string of the service's own key: packages for it are wrapped to this. */
  wrap: string;
  /** The policy-set hash in force. */
  policySet: string;
  /** Whether the policy files on disk validate ("invalid": the last good set, `policySet`, stays in force). */
  policy?: { status: 'ok' | 'invalid'; since: string; error?: string };
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
      `the release service at ${new URL(url).origin} cannot be reached; check --server and that \`modelseal serve\` runs there`,
      { cause },
    );
  }
}

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
  events: ExportEvent[],
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
  return events.map((e, i) => verifyProof(String(body.receipts![i]), encodeEvent(e), logKey).index);
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

export interface ReleaseAnswer {
  decision: 'allow' | 'deny';
  requestId: string;
  reason?: string;
  message?: string;
  policies?: string[];
  receipt?: string;
  key?: { ephemeral: string; wrapped: string };
}

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
    if (!answer || (answer.decision !== 'allow' && answer.decision !== 'deny') || typeof answer.receipt !== 'string') {
      throw new ModelsealError(
        'PROVIDER_UNAVAILABLE',
        `the release service at ${server} answered HTTP ${res.status} without a logged decision${answer?.message ? `: ${answer.message}` : ''}; nothing was released`,
      );
    }
    // The decision counts only once it is in the log: check the receipt first.
    const proof = verifyProof(answer.receipt, undefined, this.#o.logKey);
    const event = decodeEvent(proof.entry) as { type?: string; request?: string; decision?: string } | null;
    if (event?.type !== 'release' || event.request !== id || event.decision !== answer.decision) {
      throw new ModelsealError(
        'LOG_INVALID',
        `the release service's receipt is for another request or decision (request ${id}); nothing was used`,
      );
    }
    if (answer.decision === 'deny' && answer.reason === 'provider-unavailable') {
      throw new ModelsealError(
        'PROVIDER_UNAVAILABLE',
        `the release service's key provider is unavailable (request ${id}, logged); nothing was released, retry later`,
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
