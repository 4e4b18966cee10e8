/**
 * The key-release service: checks who asks, decides by policy, writes the decision to the
 * transparency log, and only then answers — with the data key re-wrapped to the requester's
 * ephemeral key when allowed. Every request, allowed or denied, becomes a log entry; if the log
 * cannot take it, the answer is an error and no key (fail closed). docs/SERVER.md, docs/API.md.
 */
import { createHash } from 'node:crypto';
import { ModelsealError } from '../errors.js';
import { fromHex } from '../format/encoding.js';
import { encodeEvent, type ReleaseEvent } from '../log/events.js';
import type { TransparencyLog } from '../log/log.js';
import type { PolicyWatcher } from '../policy/engine.js';
import { Decider } from './decider.js';
import { innerStanza, type ReleaseAnswer, type ServiceInfo } from '../providers/release.js';
import type { Identity } from '../providers/types.js';
import { verifyMessage } from '../crypto/signer.js';
import { toHex } from '../format/encoding.js';
import { exportBytes, requestBytes, requestId, stanzaFromJson, verifyRequest, type ExportSubmission, type ReleaseRequest, type SignedRequest } from './protocol.js';
import type { Pseudonymizer } from '../log/pseudonym.js';
import { MemoryLedger, type ReleaseLedger } from './ledger.js';
import type { RecipientRegistry } from './recipients.js';

/** Why a request was denied before or by the policy (the policy's own reasons are its forbid ids). */
export const DENIALS = {
  'malformed-json': 'the request body is not JSON',
  'oversized-body': 'the request body is larger than the service accepts',
  'malformed-request': 'the request does not have the fields of a modelseal release request',
  'unknown-identity': 'no recipient of that name is registered',
  'revoked-identity': "the recipient's registration was revoked",
  'bad-signature': "the request signature does not verify under the recipient's registered key",
  'stale-timestamp': "the request time is outside the service's accepted clock skew",
  'replayed-nonce': 'this request (its nonce) was already used',
  'stanza-not-for-recipient': 'the stanza is for another recipient',
  'unknown-license': 'the license named in the stanza is not among the licenses of the service',
  'stanza-not-for-package': 'the stanza does not belong to this package, this license or this service',
  'no-permit': 'the license does not cover this recipient or this model',
  'unusable-ephemeral-key': "the request's ephemeral X25519 key cannot be used (a low-order point); make a fresh key pair",
  'evaluation-error': 'the policy could not be evaluated',
} as const;

export interface ReleaseServiceOptions {
  log: TransparencyLog;
  /** The policy directory, re-read when the operator edits it. */
  policy: PolicyWatcher;
  /** Decides and wraps the key on a worker thread (`serve`); default: on the calling thread. */
  decider?: Decider;
  recipients: RecipientRegistry;
  /** The service's own key, which unwraps release stanzas, and its recipient string (for /v1/info). */
  identity: Identity;
  wrap: string;
  /** Nonces and release counts shared by replicas (PostgreSQL); default: in memory, rebuilt from the log. */
  ledger?: ReleaseLedger;
  /** Publisher keys (SPKI DER) whose export events the service logs (`seal --log <service URL>`). */
  publishers?: readonly Uint8Array[];
  /** Logs recipient names and source addresses as keyed hashes (docs/LOG.md, personal data). */
  pseudonyms?: Pseudonymizer;
  /** Accepted difference between a request's time and the service's clock, in seconds (default 300). */
  skewSeconds?: number;
  now?: () => Date;
}

export interface ServiceReply {
  status: number;
  body: ReleaseAnswer | { receipts: string[] } | { error: { code: string; message: string } };
}

const isString = (v: unknown, max = 512): v is string => typeof v === 'string' && v.length > 0 && v.length <= max;

function wellFormed(b: unknown): b is SignedRequest {
  const o = b as Partial<SignedRequest> | null;
  const r = o?.request as Partial<ReleaseRequest> | undefined;
  const s = r?.stanza;
  return (
    !!r &&
    isString(o!.signature, 2048) &&
    r.v === 1 &&
    /^[0-9a-f]{64}$/.test(String(r.package)) &&
    /^sha256:[0-9a-f]{64}$/.test(String(r.artifact)) &&
    /^[A-Za-z0-9_-]{43}$/.test(String(r.ephemeral)) &&
    /^[A-Za-z0-9_-]{22}$/.test(String(r.nonce)) &&
    isString(r.time, 40) &&
    !Number.isNaN(Date.parse(r.time)) &&
    /^[A-Z]{2}$/.test(String(r.destination)) &&
    isString(r.recipient, 64) &&
    !!s &&
    isString(s.type, 32) &&
    isString(s.recipient, 512) &&
    isString(s.license, 512) &&
    isString(s.policy, 512) &&
    Array.isArray(s.args) &&
    s.args.length <= 16 &&
    s.args.every((a) => isString(a, 2048)) &&
    isString(s.body, 4096)
  );
}

const EXPORT_FIELDS = ['time', 'package', 'artifact', 'model', 'recipient', 'provider', 'license', 'policy', 'publisher'] as const;
/** Events in one export submission at most (a package has at most this many recipient stanzas). */
export const MAX_EXPORT_EVENTS = 256;

function wellFormedExports(b: unknown): b is ExportSubmission {
  const o = b as Partial<ExportSubmission> | null;
  return (
    !!o &&
    isString(o.publisher, 1024) &&
    isString(o.signature, 1024) &&
    Array.isArray(o.events) &&
    o.events.length >= 1 &&
    o.events.length <= MAX_EXPORT_EVENTS &&
    o.events.every(
      (e) =>
        !!e &&
        e.v === 1 &&
        e.type === 'export' &&
        EXPORT_FIELDS.every((f) => isString(e[f], 2048)) &&
        (e.fingerprint === null || isString(e.fingerprint, 256)) &&
        Object.keys(e).length === EXPORT_FIELDS.length + 3,
    )
  );
}

export class ReleaseService {
  readonly #o: ReleaseServiceOptions;
  readonly #skewMs: number;
  readonly #ledger: ReleaseLedger;
  readonly #decider: Decider;

  private constructor(o: ReleaseServiceOptions, ledger: ReleaseLedger, skewMs: number) {
    this.#o = o;
    this.#decider = o.decider ?? new Decider({ thread: false });
    this.#skewMs = skewMs;
    this.#ledger = ledger;
  }

  /**
   * Starts the service. Without a shared `ledger` (PostgreSQL replicas), nonces and release counts
   * are kept in memory, rebuilt from the log: every allowed release, every nonce inside the window.
   */
  static async open(o: ReleaseServiceOptions): Promise<ReleaseService> {
    const skewMs = (o.skewSeconds ?? 300) * 1000;
    const ledger = o.ledger ?? (await MemoryLedger.fromLog(o.log.store, (o.now?.() ?? new Date()).getTime(), 2 * skewMs));
    return new ReleaseService(o, ledger, skewMs);
  }

  #now(): Date {
    return this.#o.now?.() ?? new Date();
  }

  info(): ServiceInfo {
    return { origin: this.#o.log.origin, logKey: this.#o.log.verifierKey, wrap: this.#o.wrap, policySet: this.#o.policy.engine.hash };
  }

  /** Releases made under a license so far (allowed requests in the log, plus any in flight). */
  used(license: string): Promise<number> {
    return this.#ledger.used(license);
  }

  /**
   * Logs a publisher's export events (one entry each) and answers with their receipts. Only events
   * signed by a trusted publisher key, and naming that key, are logged: the log is no open mailbox.
   */
  async recordExports(body: unknown): Promise<ServiceReply> {
    const refuse = (status: number, code: string, message: string): ServiceReply => ({ status, body: { error: { code, message } } });
    if (!wellFormedExports(body)) return refuse(400, 'INVALID_ARGUMENT', 'the body is not a modelseal export submission');
    const spki = Buffer.from(body.publisher, 'base64');
    const id = `sha256:${toHex(createHash('sha256').update(spki).digest())}`;
    if (!(this.#o.publishers ?? []).some((p) => Buffer.from(p).equals(spki))) return refuse(403, 'UNTRUSTED_SIGNER', `publisher ${id} is not among the publishers this service logs exports for`);
    if (!body.events.every((e) => e.publisher === id)) return refuse(403, 'UNTRUSTED_SIGNER', 'the events name another publisher than the one that signed them');
    if (!verifyMessage(spki, exportBytes(body.events), Buffer.from(body.signature, 'base64'))) return refuse(403, 'SIGNATURE_INVALID', "the submission's signature does not verify under its publisher key");
    try {
      const receipts = await Promise.all(body.events.map((e) => this.#o.log.append(encodeEvent(e))));
      return { status: 200, body: { receipts: receipts.map((r) => r.proof) } };
    } catch (e) {
      return refuse(503, e instanceof ModelsealError ? e.code : 'LOG_UNAVAILABLE', 'the transparency log could not record the export; do not ship the package, retry later');
    }
  }

  /** A request that is not one (no JSON, too big, missing fields): logged as a denial all the same. */
  async reject(reason: 'malformed-json' | 'oversized-body' | 'malformed-request', raw: Uint8Array, ip: string): Promise<ServiceReply> {
    const id = createHash('sha256').update(raw).digest('hex').slice(0, 32);
    return this.#decide(
      {
        request: id,
        recipient: null,
        org: null,
        country: null,
        certificate: null,
        artifact: null,
        package: null,
        license: null,
        destination: null,
        nonce: null,
        ip,
      },
      reason,
    );
  }

  async release(body: unknown, ip: string): Promise<ServiceReply> {
    if (!wellFormed(body)) return this.reject('malformed-request', Buffer.from(JSON.stringify(body ?? null)), ip);
    const { request: r, signature } = body;
    const bytes = requestBytes(r);
    const id = requestId(r, bytes);
    const base = { request: id, recipient: r.recipient, org: null as string | null, country: null as string | null, certificate: null as string | null, artifact: r.artifact, package: r.package, license: r.stanza.license, destination: r.destination, nonce: r.nonce, ip };
    const found = await this.#o.recipients.getWithKey(r.recipient);
    if (!found) return this.#decide(base, 'unknown-identity');
    const rec = found.record;
    Object.assign(base, { certificate: rec.fingerprint, org: rec.org, country: rec.country });
    if (rec.revoked) return this.#decide(base, 'revoked-identity');
    if (!verifyRequest(r, signature, found.key, bytes)) return this.#decide(base, 'bad-signature');
    const now = this.#now();
    if (Math.abs(now.getTime() - Date.parse(r.time)) > this.#skewMs) return this.#decide(base, 'stale-timestamp');
    if (!(await this.#ledger.claimNonce(r.nonce, now.getTime() + 2 * this.#skewMs, now.getTime()))) return this.#decide(base, 'replayed-nonce');
    const stanza = stanzaFromJson(r.stanza);
    if (stanza.recipient !== r.recipient) return this.#decide(base, 'stanza-not-for-recipient');
    const policy = await this.#o.policy.current();
    const license = policy.license(stanza.license);
    if (!license) return this.#decide(base, 'unknown-license');
    const inner = innerStanza(stanza);
    let dek: Uint8Array | null = null;
    try {
      dek = inner
        ? await this.#o.identity.unwrapDataKey(inner, {
            packageId: fromHex(r.package, 'package id', 32),
            artifactDigest: fromHex(r.artifact.slice(7), 'artifact digest', 32),
            recipient: stanza.recipient,
            license: stanza.license,
            policy: stanza.policy,
          })
        : null;
    } catch {
      dek = null;
    }
    if (!dek) return this.#decide(base, 'stanza-not-for-package');
    try {
      const question = {
        recipient: { name: rec.name, org: rec.org, country: rec.country, nationality: rec.nationality },
        artifact: r.artifact,
        license,
        used: await this.#ledger.used(license.id),
        destination: r.destination,
        time: now,
        package: r.package,
      };
      const { decision: d, key } = await this.#decider.decide(policy, question, { dek, ephemeral: r.ephemeral, request: id });
      if (d.decision === 'deny') return this.#decide(base, d.reason, d.policies, 'deny', policy.hash);
      if (!key) return this.#decide(base, 'unusable-ephemeral-key', [], 'deny', policy.hash);
      // Reserve the release before it is final: atomic in the ledger, so concurrent requests (or
      // replicas) that all saw the last free release cannot all have it.
      if (!(await this.#ledger.reserve(license.id, license.maxReleases))) return this.#decide(base, 'license-quota-used', ['license-quota-used'], 'deny', policy.hash);
      let reply: ServiceReply;
      try {
        reply = await this.#decide(base, 'licensed', d.policies, 'allow', policy.hash);
      } catch (e) {
        await this.#ledger.unreserve(license.id);
        throw e;
      }
      if (reply.status !== 200) {
        await this.#ledger.unreserve(license.id);
        return reply;
      }
      (reply.body as ReleaseAnswer).key = key;
      return reply;
    } finally {
      dek.fill(0);
    }
  }

  /** Logs the decision; answers only once it is durable. A log failure is an error and no key. */
  async #decide(
    base: Omit<ReleaseEvent, 'v' | 'type' | 'time' | 'decision' | 'reason' | 'policies' | 'policySet'>,
    reason: string,
    policies: string[] = [],
    decision: 'allow' | 'deny' = 'deny',
    policySet = this.#o.policy.engine.hash,
  ): Promise<ServiceReply> {
    const event: ReleaseEvent = { v: 1, type: 'release', time: this.#now().toISOString(), ...base, decision, reason, policies, policySet };
    const p = this.#o.pseudonyms;
    if (p) Object.assign(event, { recipient: event.recipient === null ? null : p.of(event.recipient), ip: p.of(event.ip) });
    let receipt: string;
    try {
      receipt = (await this.#o.log.append(encodeEvent(event))).proof;
    } catch (e) {
      const code = e instanceof ModelsealError ? e.code : 'LOG_UNAVAILABLE';
      return { status: 503, body: { error: { code, message: 'the transparency log could not record the request, so nothing was released; retry later' } } };
    }
    if (decision === 'allow') return { status: 200, body: { decision, requestId: base.request, policies, receipt } };
    const status = reason === 'malformed-json' || reason === 'malformed-request' ? 400 : reason === 'oversized-body' ? 413 : 403;
    const message = (DENIALS as Record<string, string>)[reason] ?? `denied by policy ${policies.join(', ')}`;
    return { status, body: { decision, requestId: base.request, reason, message, policies, receipt } };
  }
}
