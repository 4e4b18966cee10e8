/**
 * The key-release service: checks who asks, decides by policy, writes the decision to the
 * transparency log, and only then answers — with the data key re-wrapped to the requester's
 * ephemeral key when allowed. Every request, allowed or denied, becomes a log entry; if the log
 * cannot take it, the answer is an error and no key (fail closed). docs/SERVER.md, docs/API.md.
 */
import { createHash, randomBytes } from 'node:crypto';
import { isModelsealError, ModelsealError } from '../errors.js';
import { fromHex } from '../format/encoding.js';
import { encodeEvent, type DenialsEvent, type ReleaseEvent } from '../log/events.js';
import type { PartyScreening } from '../compliance/types.js';
import type { TransparencyLog } from '../log/log.js';
import type { PolicyWatcher } from '../policy/watcher.js';
import type { License, PolicyDecision } from '../policy/engine.js';
import { Decider } from './decider.js';
import { innerStanza, stanzaFromJson } from '../release/stanza.js';
import type { ReleaseAnswer, RetentionStatus, ServiceInfo } from '../release/response.js';
import type { Identity } from '../providers/types.js';
import { requestBytes, requestId, verifyRequest } from '../release/request.js';
import type { Pseudonymizer } from '../log/pseudonym.js';
import { MemoryLedger, type ReleaseLedger } from './ledger.js';
import { recipientNationalities, type RecipientRegistry } from './recipients.js';
import { screenRecipient } from './screening.js';
import { DenialTally, FailureLimiter, sourceOf, type DeniedTally, type RateLimits } from './ratelimit.js';
import { wellFormed } from './shapes.js';
import { DENIALS, DENIAL_STATUS, type RejectReason, type ServiceReply } from './replies.js';
import { recordExports } from './exports.js';
import { SourceLocator, type ForwardingHeaders, type SourceObservation } from '../compliance/geo/index.js';
import { unknownObservation, type GeoObservation } from '../compliance/types.js';
import { answerLicenseCheck, type LicenseCheckReply } from './licenses.js';
import { answerRecordsQuery, type RecordsReply } from './records-query.js';
import type { EvidenceRecords } from '../compliance/records.js';
import { classificationAnswer, type LicenseRequiredFor } from './classification.js';

export { MAX_EXPORT_EVENTS } from './shapes.js';
export { DENIALS, type RejectReason, type ServiceReply } from './replies.js';

/** Errors of an identity that mean "this stanza is not one you can open", not "the provider is down". */
const NOT_THIS_STANZA = new Set([
  'DECRYPTION_FAILED',
  'MALFORMED_PACKAGE',
  'INVALID_ARGUMENT',
  'NO_MATCHING_IDENTITY',
  'UNSAFE_PATH',
  'STANZA_TOO_LARGE',
]);

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
  /** Finds each request's client behind trusted proxies and locates it (docs/GEOFENCING.md); default: the peer. */
  sources?: SourceLocator;
  /**
   * Screens the recipient at every release against the active lists (src/compliance/lists); without
   * it, every recipient is clear against no lists (docs/SERVER.md, "Screening").
   */
  screening?: PartyScreening;
  /**
   * Whether a US-EAR classification needs a license for a country (docs/POLICY.md, "Classification");
   * default: the rule packs' country groups (src/compliance/rules licenseRequiredFor).
   */
  licenseRequired?: LicenseRequiredFor;
  /** The records logged decisions rest on, for POST /v1/records (src/server/records.ts); default: none kept. */
  records?: EvidenceRecords;
  /** Logs recipient names and source addresses as keyed hashes (docs/LOG.md, personal data). */
  pseudonyms?: Pseudonymizer;
  /** Accepted difference between a request's time and the service's clock, in seconds (default 300). */
  skewSeconds?: number;
  /** Per-source limits on failing requests (docs/SERVER.md, "Limits"); default DEFAULT_RATE_LIMITS. */
  rateLimits?: Partial<RateLimits>;
  /** How often the refused requests are summarised into the log, in milliseconds (default 60,000). */
  summaryIntervalMs?: number;
  /** Hears failures the answer does not carry: a provider outage's cause, a summary that could not be logged. */
  onError?: (what: string, e: unknown) => void;
  now?: () => Date;
}

/** What the limits say about one failing request: go ahead and log it, or refuse it (429) and only count it. */
export type Admission = { ok: true } | { ok: false; retryAfter: number };

export class ReleaseService {
  readonly #o: ReleaseServiceOptions;
  readonly #skewMs: number;
  readonly #ledger: ReleaseLedger;
  readonly #decider: Decider;
  readonly #limiter: FailureLimiter;
  readonly #tally = new DenialTally();
  readonly #sources: SourceLocator;
  readonly #summaries: NodeJS.Timeout;
  /** Exchange ids: SHA-256 over this process's random nonce, a sequence number and the body (docs/API.md). */
  readonly #idNonce = randomBytes(16);
  #seq = 0n;
  /** What `serve --retain` found at start (GET /v1/info); undefined without it. */
  retention: RetentionStatus | undefined;

  private constructor(o: ReleaseServiceOptions, ledger: ReleaseLedger, skewMs: number) {
    this.#o = o;
    this.#decider = o.decider ?? new Decider({ thread: false });
    this.#skewMs = skewMs;
    this.#ledger = ledger;
    this.#limiter = new FailureLimiter(o.rateLimits);
    this.#sources = o.sources ?? new SourceLocator();
    this.#summaries = setInterval(() => void this.flushDenials(), o.summaryIntervalMs ?? 60_000);
    this.#summaries.unref();
  }

  /** The per-source limits in force (docs/SERVER.md). */
  get rateLimits(): RateLimits {
    return this.#limiter.limits;
  }

  /** A new id for one exchange, unique whatever the body (two identical bodies get two ids). */
  exchangeId(body: Uint8Array = new Uint8Array(0)): string {
    const seq = Buffer.alloc(8);
    seq.writeBigUInt64BE(this.#seq++);
    const digest = createHash('sha256').update(body).digest();
    return createHash('sha256')
      .update('modelseal/v1 exchange\n')
      .update(this.#idNonce)
      .update(seq)
      .update(digest)
      .digest('hex')
      .slice(0, 32);
  }

  /**
   * Takes a token for a failing request from `ip`'s bucket. When there is none, the request is
   * counted under `reason` for the next summary entry and must be answered 429.
   */
  admitFailure(ip: string, reason: string): Admission {
    const now = this.#now().getTime();
    const taken = this.#limiter.take(sourceOf(ip), now);
    if (taken.ok) return { ok: true };
    // Counted under the bucket's key, so that the tallies (and summary entries) stay as bounded as the buckets.
    this.#tally.count(taken.key, reason, now);
    return { ok: false, retryAfter: taken.retryAfter };
  }

  /** Requests refused since the last summary. */
  get pendingDenials(): number {
    return this.#tally.pending;
  }

  /**
   * Writes one summary entry per source of the requests refused since the last one (docs/LOG.md).
   * Tallies whose entry could not be logged are kept for the next summary.
   */
  async flushDenials(): Promise<number> {
    const tallies = this.#tally.drain();
    if (tallies.length === 0) return 0;
    const policySet = this.#o.policy.engine.hash;
    const p = this.#o.pseudonyms;
    const results = await Promise.allSettled(
      tallies.map((t) => {
        const event: DenialsEvent = {
          v: 1,
          type: 'denials',
          time: this.#now().toISOString(),
          since: new Date(t.since).toISOString(),
          until: new Date(t.until).toISOString(),
          ip: p ? p.of(t.source) : t.source,
          count: t.count,
          reasons: t.reasons,
          policySet,
        };
        return this.#o.log.append(encodeEvent(event));
      }),
    );
    const failed: DeniedTally[] = tallies.filter((_, i) => results[i]!.status === 'rejected');
    if (failed.length) {
      this.#tally.restore(failed);
      this.#o.onError?.(
        'the summary of refused requests could not be logged; it is kept for the next one',
        results.find((r) => r.status === 'rejected')!.reason,
      );
    }
    return tallies.length - failed.length;
  }

  /** Stops the summary timer and logs what is still counted. */
  async close(): Promise<void> {
    clearInterval(this.#summaries);
    await this.flushDenials();
  }

  /**
   * Starts the service. Without a shared `ledger` (PostgreSQL replicas), nonces and release counts
   * are kept in memory, rebuilt from the log: every allowed release, every nonce inside the window.
   */
  static async open(o: ReleaseServiceOptions): Promise<ReleaseService> {
    const skewMs = (o.skewSeconds ?? 300) * 1000;
    const ledger =
      o.ledger ?? (await MemoryLedger.fromLog(o.log.store, (o.now?.() ?? new Date()).getTime(), 2 * skewMs));
    return new ReleaseService(o, ledger, skewMs);
  }

  #now(): Date {
    return this.#o.now?.() ?? new Date();
  }

  info(): ServiceInfo {
    const { status, since, error } = this.#o.policy.status;
    return {
      origin: this.#o.log.origin,
      logKey: this.#o.log.verifierKey,
      wrap: this.#o.wrap,
      policySet: this.#o.policy.engine.hash,
      policy: { status, since, ...(error !== undefined ? { error } : {}) },
      ...(this.retention && { retention: this.retention }),
    };
  }

  /** The CIDR ranges of the proxies whose forwarding headers are honoured. */
  get trustedProxies(): readonly string[] {
    return this.#sources.trusted.ranges;
  }

  /** The client of a request from TCP peer `peer` (behind trusted proxies) and where it is (docs/GEOFENCING.md). */
  locateSource(peer: string, headers: ForwardingHeaders = {}): SourceObservation {
    return this.#sources.locate(peer, headers);
  }

  /** Releases made under a license so far (allowed requests in the log, plus any in flight). */
  used(license: string): Promise<number> {
    return this.#ledger.used(license);
  }

  /**
   * Logs a publisher's export events (one entry each) and answers with their receipts. Only events
   * signed by a trusted publisher key, and naming that key, are logged: the log is no open mailbox.
   */
  recordExports(body: unknown): Promise<ServiceReply> {
    return recordExports(body, this.#o.publishers ?? [], this.#o.log);
  }

  /**
   * Answers a publisher's license check (POST /v1/licenses/check): whether a license covers a
   * recipient, model and destinations and is in force. Only checks signed by a trusted publisher key
   * are answered: licenses are not public. Nothing is logged in the transparency log.
   */
  async checkLicense(body: unknown): Promise<LicenseCheckReply> {
    const policy = await this.#o.policy.current();
    return answerLicenseCheck(body, {
      publishers: this.#o.publishers ?? [],
      license: (id) => Promise.resolve(policy.license(id)),
      used: (id) => this.#ledger.used(id),
      now: this.#now(),
      skewMs: this.#skewMs,
    });
  }

  /**
   * Answers a publisher's records query (POST /v1/records): the archived policy sets, snapshot
   * records and recipient records asked for, null where none is kept. Only queries signed by a
   * trusted publisher key are answered. Nothing is logged in the transparency log.
   */
  answerRecords(body: unknown): Promise<RecordsReply> {
    return answerRecordsQuery(body, {
      publishers: this.#o.publishers ?? [],
      records: this.#o.records ?? null,
      now: this.#now(),
      skewMs: this.#skewMs,
    });
  }

  /**
   * A request that is not one (no JSON, too big, missing fields, cut short): logged as a denial all
   * the same, under its exchange id.
   */
  async reject(
    reason: RejectReason,
    ip: string,
    exchange = this.exchangeId(),
    observed: GeoObservation = unknownObservation(ip),
  ): Promise<ServiceReply> {
    return this.#decide(
      {
        request: exchange,
        id: exchange,
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
        observed,
      },
      reason,
    );
  }

  /**
   * Decides a parsed body (`exchange`: its id from `exchangeId`; `observed`: where it came from,
   * {@link locateSource}), logs the decision, and answers.
   */
  async release(body: unknown, ip: string, exchange = this.exchangeId(), observed = unknownObservation(ip)) {
    if (!wellFormed(body)) return this.reject('malformed-request', ip, exchange, observed);
    const { request: r, signature } = body;
    const bytes = requestBytes(r);
    const id = requestId(r, bytes);
    const c = r.stanza.classification;
    const classified = c && classificationAnswer(c, r.destination, observed.country, this.#o.licenseRequired);
    const base = {
      request: id,
      id: exchange,
      recipient: r.recipient,
      org: null as string | null,
      country: null as string | null,
      certificate: null as string | null,
      artifact: r.artifact,
      ...(r.stanza.model !== undefined ? { model: r.stanza.model } : {}),
      package: r.package,
      license: r.stanza.license,
      destination: r.destination,
      nonce: r.nonce,
      ip,
      observed,
      ...(c && classified ? { classification: { record: c.record, ...classified } } : {}),
    };
    const found = await this.#o.recipients.getWithKey(r.recipient);
    if (!found) return this.#decide(base, 'unknown-identity');
    const rec = found.record;
    const nationalities = recipientNationalities(rec);
    const screening = screenRecipient(this.#o.screening, rec, (e) =>
      this.#o.onError?.(`request ${exchange}: the recipient could not be screened`, e),
    );
    Object.assign(base, { certificate: rec.fingerprint, org: rec.org, country: rec.country, nationalities, screening });
    if (rec.revoked) return this.#decide(base, 'revoked-identity');
    if (!verifyRequest(r, signature, found.key, bytes)) return this.#decide(base, 'bad-signature');
    const now = this.#now();
    if (Math.abs(now.getTime() - Date.parse(r.time)) > this.#skewMs) return this.#decide(base, 'stale-timestamp');
    if (!(await this.#ledger.claimNonce(r.nonce, now.getTime() + 2 * this.#skewMs, now.getTime())))
      return this.#decide(base, 'replayed-nonce');
    if (!screening) return this.#decide(base, 'screening-unavailable'); // told only to an authenticated request
    const stanza = stanzaFromJson(r.stanza);
    if (stanza.recipient !== r.recipient) return this.#decide(base, 'stanza-not-for-recipient');
    const policy = await this.#o.policy.current();
    const license = policy.license(stanza.license);
    if (!license) return this.#decide(base, 'unknown-license');
    const inner = innerStanza(stanza);
    let dek: Uint8Array | null;
    try {
      dek = inner
        ? await this.#o.identity.unwrapDataKey(inner, {
            packageId: fromHex(r.package, 'package id', 32),
            artifactDigest: fromHex(r.artifact.slice(7), 'artifact digest', 32),
            recipient: stanza.recipient,
            license: stanza.license,
            policy: stanza.policy,
            ...(inner.model ? { model: inner.model } : {}),
            ...(inner.classification ? { classification: inner.classification } : {}),
          })
        : null;
    } catch (e) {
      // A stanza this key cannot open is the requester's problem; a provider that does not answer
      // is ours: 503, logged as such, and no key (fail closed).
      if (!(isModelsealError(e) && NOT_THIS_STANZA.has(e.code))) {
        this.#o.onError?.(`request ${exchange}: the key provider failed`, e);
        return this.#decide(base, 'provider-unavailable');
      }
      dek = null;
    }
    if (!dek) return this.#decide(base, 'stanza-not-for-package');
    try {
      const question = {
        recipient: { name: rec.name, org: rec.org, country: rec.country, nationality: rec.nationality, nationalities },
        screening: { ...screening, overridden: screening.overridden !== undefined },
        artifact: r.artifact,
        model: r.stanza.model ?? r.artifact,
        license,
        used: await this.#ledger.used(license.id),
        destination: r.destination,
        time: now,
        package: r.package,
        observed,
        ...(classified ? { classification: classified } : {}),
      };
      const { decision: d, key } = await this.#decider.decide(policy, question, {
        dek,
        ephemeral: r.ephemeral,
        request: id,
      });
      return await this.#grant(base, license, d, key, policy.hash);
    } finally {
      dek.fill(0);
    }
  }

  /** After the policy: a denial logged, or the release reserved in the ledger, logged and answered with the key. */
  async #grant(
    base: Omit<ReleaseEvent, 'v' | 'type' | 'time' | 'decision' | 'reason' | 'policies' | 'policySet'>,
    license: License,
    d: PolicyDecision,
    key: ReleaseAnswer['key'] | undefined,
    policySet: string,
  ): Promise<ServiceReply> {
    if (d.decision === 'deny') return await this.#decide(base, d.reason, d.policies, 'deny', policySet);
    if (!key) return await this.#decide(base, 'unusable-ephemeral-key', [], 'deny', policySet);
    // Reserve the release before it is final: atomic in the ledger, so concurrent requests (or
    // replicas) that all saw the last free release cannot all have it.
    if (!(await this.#ledger.reserve(license.id, license.maxReleases)))
      return await this.#decide(base, 'license-quota-used', ['license-quota-used'], 'deny', policySet);
    let reply: ServiceReply;
    try {
      reply = await this.#decide(base, 'licensed', d.policies, 'allow', policySet);
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
  }

  /** Logs the decision; answers only once it is durable. A log failure is an error and no key. */
  async #decide(
    base: Omit<ReleaseEvent, 'v' | 'type' | 'time' | 'decision' | 'reason' | 'policies' | 'policySet'>,
    reason: string,
    policies: string[] = [],
    decision: 'allow' | 'deny' = 'deny',
    policySet = this.#o.policy.engine.hash,
  ): Promise<ServiceReply> {
    if (decision === 'deny') {
      const admitted = this.admitFailure(base.ip, reason);
      if (!admitted.ok) {
        const body = {
          decision,
          id: base.id ?? base.request,
          requestId: base.request,
          reason: 'rate-limited',
          message: DENIALS['rate-limited'],
          policies: [],
          retryAfter: admitted.retryAfter,
        };
        return { status: 429, body, retryAfter: admitted.retryAfter };
      }
    }
    const event: ReleaseEvent = {
      v: 1,
      type: 'release',
      time: this.#now().toISOString(),
      ...base,
      decision,
      reason,
      policies,
      policySet,
    };
    const p = this.#o.pseudonyms;
    if (p)
      Object.assign(event, { recipient: event.recipient === null ? null : p.of(event.recipient), ip: p.of(event.ip) });
    if (p && event.observed) event.observed = { ...event.observed, address: p.of(event.observed.address) };
    let receipt: string;
    try {
      receipt = (await this.#o.log.append(encodeEvent(event))).proof;
    } catch (e) {
      const code = e instanceof ModelsealError ? e.code : 'LOG_UNAVAILABLE';
      return {
        status: 503,
        body: {
          id: base.id ?? base.request,
          error: {
            code,
            message: 'the transparency log could not record the request, so nothing was released; retry later',
          },
        },
      };
    }
    const id = base.id ?? base.request;
    if (decision === 'allow')
      return { status: 200, body: { decision, id, requestId: base.request, policies, receipt } };
    const status = DENIAL_STATUS[reason] ?? 403;
    const message = (DENIALS as Record<string, string>)[reason] ?? `denied by policy ${policies.join(', ')}`;
    return { status, body: { decision, id, requestId: base.request, reason, message, policies, receipt } };
  }
}
