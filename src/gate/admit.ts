/**
 * Admission of one inference call (docs/GATE.md, "Decisions"): who calls, what the release service
 * knows of it (screening, nationalities, observed country, the license covering it), the served
 * model's classification and tier, the caller's quota state and risk score, decided by the policy
 * set in force as action `Infer` (deny on any error), then the quota reserved. The outcome is the
 * admit entry to log and what to answer; nothing here writes the log.
 */
import type { IncomingMessage } from 'node:http';
import type { InferAdmitEvent, InferFeatures } from '../log/events.js';
import type { GeoObservation } from '../compliance/types.js';
import type { InferQuestion, PolicyDecision, PolicyEngine } from '../policy/engine.js';
import type { ReleaseServiceSetup } from '../server/setup.js';
import { classificationAnswer } from '../server/classification.js';
import { recipientNationalities } from '../server/recipients.js';
import { screenRecipient } from '../server/screening.js';
import { identify, isCaller, type Caller } from './identify.js';
import { keyCoversModel } from './keys.js';
import type { ServedModel } from './model.js';
import { estimatePromptTokens, inferenceFlops, maxCompletionTokens, type InferEndpoint } from './meter.js';
import { textDigest, type ApiError, type InferRequest } from './openai.js';
import type { ApiKeys, ExtractionMonitor, QuotaReservation, QuotaStore, QuotaSubject } from './types.js';

/** The parts admission reads: the release service's, and the gate's own. */
export interface AdmissionParts {
  setup: Pick<ReleaseServiceSetup, 'service' | 'policy' | 'recipients' | 'screening' | 'licenseRequired'>;
  model: ServedModel;
  keys: ApiKeys;
  quotas: QuotaStore;
  monitor: ExtractionMonitor;
  /** What the extraction monitor reads of a prompt. */
  features: (text: string, promptTokens: number) => InferFeatures;
  /** The policy's decision on an inference call (Cedar action `Infer`). */
  decideInfer: (engine: PolicyEngine, q: InferQuestion) => Promise<PolicyDecision>;
  /** The name a recipient is logged under (its pseudonym with a pseudonym key): the monitor's caller. */
  loggedAs?: (recipient: string) => string;
  /** Completion tokens reserved when a call names no max_tokens (the quota file's, read at each call). */
  defaultMaxTokens: () => number;
  onError?: (what: string, e: unknown) => void;
}

/** One call as it arrived: its id, source, endpoint and body (or why the body is not a request). */
export interface CallFacts {
  id: string;
  ip: string;
  observed: GeoObservation;
  endpoint: string;
  request: InferRequest | ApiError;
  time: Date;
}

/** An admitted call: the entry to log, the held reservation, and what to forward. */
export interface Admitted {
  allow: true;
  event: InferAdmitEvent;
  caller: Caller;
  reservation: Extract<QuotaReservation, { ok: true }>;
  request: InferRequest;
  /** Completion tokens the reservation holds: a stream that passes them is cut (quota exhausted). */
  allowance: number;
  promptTokens: number;
}

/** A refused call: the entry to log and the OpenAI-format error to answer with. */
export interface Refused {
  allow: false;
  event: InferAdmitEvent;
  error: ApiError;
  retryAfter?: number;
}

/** Why a call is refused before the policy decides, and how the client is told. */
const REFUSALS: Record<string, { status: number; type: string; code: string; message: string }> = {
  'no-credentials': {
    status: 401,
    type: 'authentication_error',
    code: 'missing_api_key',
    message: 'no API key: send Authorization: Bearer <key> (modelseal recipient key issue)',
  },
  'unknown-key': {
    status: 401,
    type: 'authentication_error',
    code: 'invalid_api_key',
    message: 'the API key is not valid (unknown, revoked or expired)',
  },
  'revoked-key': {
    status: 401,
    type: 'authentication_error',
    code: 'invalid_api_key',
    message: 'the API key is not valid (unknown, revoked or expired)',
  },
  'expired-key': {
    status: 401,
    type: 'authentication_error',
    code: 'invalid_api_key',
    message: 'the API key is not valid (unknown, revoked or expired)',
  },
  'unknown-certificate': {
    status: 401,
    type: 'authentication_error',
    code: 'invalid_client_certificate',
    message: "the client certificate is not a registered recipient's (or not the API key's recipient's)",
  },
  'unknown-identity': {
    status: 401,
    type: 'authentication_error',
    code: 'invalid_api_key',
    message: "the API key's recipient is not registered",
  },
  'revoked-identity': {
    status: 403,
    type: 'permission_error',
    code: 'revoked_identity',
    message: "the recipient's registration was revoked",
  },
  'key-not-for-model': {
    status: 403,
    type: 'permission_error',
    code: 'model_not_allowed',
    message: 'this API key is not scoped to this model',
  },
  'unknown-model': {
    status: 404,
    type: 'invalid_request_error',
    code: 'model_not_found',
    message: 'this gateway serves another model: GET /v1/models names it',
  },
  'screening-unavailable': {
    status: 503,
    type: 'server_error',
    code: 'screening_unavailable',
    message: "the caller could not be screened against the service's lists; retry later",
  },
};

/** A declared header value: printable ASCII of at most `max` characters, else null. */
function declared(req: IncomingMessage, name: string, max: number): string | null {
  const v = req.headers[name];
  return typeof v === 'string' && v.length <= max && /^[\x20-\x7e]*$/.test(v) ? v.trim() : null;
}

/** The served model's digest as the policy and the licenses name it: its root digest, or "model:<name>". */
export function modelDigest(m: ServedModel): string {
  return m.digest ?? `model:${m.name}`;
}

/** The admit entry of a call before anything is known of its caller (every field that does not depend on it). */
export function baseEvent(parts: AdmissionParts, facts: CallFacts, req: IncomingMessage): InferAdmitEvent {
  const r = 'body' in facts.request ? facts.request : null;
  const destination = declared(req, 'x-modelseal-destination', 2);
  return {
    v: 1,
    type: 'infer-admit',
    time: facts.time.toISOString(),
    id: facts.id,
    recipient: null,
    org: null,
    country: null,
    key: null,
    certificate: null,
    model: parts.model.name,
    artifact: parts.model.digest,
    endpoint: facts.endpoint,
    license: null,
    destination: destination && /^[A-Z]{2}$/.test(destination) ? destination : null,
    application: declared(req, 'x-modelseal-application', 128) ?? '',
    decision: 'deny',
    reason: '',
    policies: [],
    policySet: parts.setup.policy.engine.hash,
    ip: facts.ip,
    observed: facts.observed,
    reserved: null,
    quotas: parts.quotas.digest,
    prompt: r ? textDigest(r.prompt) : null,
    // Computed once the caller is identified (admit): a caller without a key costs no MinHash.
    features: null,
    risk: 0,
    stream: r?.stream ?? false,
  };
}

const refuse = (event: InferAdmitEvent, reason: string, error: ApiError, retryAfter?: number): Refused => ({
  allow: false,
  event: { ...event, decision: 'deny', reason },
  error,
  ...(retryAfter !== undefined && { retryAfter }),
});

const refusal = (reason: string): ApiError => REFUSALS[reason]!;

/** Decides one call: identity, then the body, then the policy, then the quota. Never throws for a hostile call. */
export async function admit(
  parts: AdmissionParts,
  facts: CallFacts,
  req: IncomingMessage,
): Promise<Admitted | Refused> {
  let event = baseEvent(parts, facts, req);
  const who = await identify(req, parts.keys, parts.setup.recipients, facts.time);
  const rec = who.recipient;
  const key = isCaller(who) ? (who.key?.id ?? null) : who.key;
  event = { ...event, key, certificate: who.certificate };
  if (rec) {
    event = { ...event, recipient: rec.name, org: rec.org, country: rec.country };
    event.destination ??= rec.country;
  }
  if (!isCaller(who)) return refuse(event, who.reason, refusal(who.reason));
  const r = 'body' in facts.request ? facts.request : null;
  if (r) event.features = parts.features(r.prompt, estimatePromptTokens(r.endpoint as InferEndpoint, r.body));
  if (who.key && !keyCoversModel(who.key, parts.model.name))
    return refuse(event, 'key-not-for-model', refusal('key-not-for-model'));
  if (!('body' in facts.request)) return refuse(event, 'malformed-request', facts.request);
  const asked = facts.request.body.model;
  if (asked !== undefined && asked !== parts.model.name)
    return refuse(event, 'unknown-model', refusal('unknown-model'));
  return decide(parts, facts, who, facts.request, event);
}

/** The policy's decision on an identified caller's well-formed call, then its quota reservation. */
async function decide(
  parts: AdmissionParts,
  facts: CallFacts,
  caller: Caller,
  request: InferRequest,
  base: InferAdmitEvent,
): Promise<Admitted | Refused> {
  const { setup, model } = parts;
  const rec = caller.recipient;
  const nationalities = recipientNationalities(rec);
  const screening = screenRecipient(setup.screening, rec, (e) =>
    parts.onError?.(`call ${facts.id}: the caller could not be screened`, e),
  );
  let event: InferAdmitEvent = { ...base, nationalities, ...(screening && { screening }) };
  if (!screening) return refuse(event, 'screening-unavailable', refusal('screening-unavailable'));
  const policy = await setup.policy.current();
  const digest = modelDigest(model);
  const license = policy.licenseFor(rec.name, digest, facts.time);
  const destination = event.destination ?? rec.country;
  const classified = classificationAnswer(
    model.classification,
    destination,
    facts.observed.country,
    setup.licenseRequired,
  );
  const subject: QuotaSubject = { recipient: rec.name, org: rec.org, tier: model.tier };
  const quotaUsed = await parts.quotas.usedPerMille(subject, facts.time);
  // The monitor reads the log, where the caller may be a pseudonym.
  const risk = Math.round(parts.monitor.assess(parts.loggedAs?.(rec.name) ?? rec.name).score * 1000);
  event = {
    ...event,
    license: license?.id ?? null,
    destination,
    policySet: policy.hash,
    risk,
    classification: {
      record: model.classification?.record ?? '',
      usEar: classified.usEar,
      tier: model.tier,
      parameters: model.parameters.toString(),
      rulePacks: classified.rulePacks,
      licenseRequired: classified.licenseRequired,
      licenseRequiredObserved: classified.licenseRequiredObserved,
    },
  };
  if (!model.classification) delete event.classification;
  const question: InferQuestion = {
    recipient: { name: rec.name, org: rec.org, country: rec.country, nationality: rec.nationality, nationalities },
    model: { digest, name: model.name, tier: model.tier, parameters: model.parameters },
    license,
    destination,
    time: facts.time,
    endpoint: request.endpoint,
    application: event.application,
    screening: { ...screening, overridden: screening.overridden !== undefined },
    observed: facts.observed,
    ...(model.classification && { classification: classified }),
    quotaUsed,
    risk,
    ...(model.packageId && { package: model.packageId }),
  };
  const d = await parts.decideInfer(policy, question);
  event = { ...event, policies: d.policies };
  if (d.decision !== 'allow') {
    const error = policyRefusal(d);
    // A throttle says when to come back: the quota windows are minutes at the finest.
    return refuse(event, d.reason, error, error.status === 429 ? THROTTLE_RETRY_SECONDS : undefined);
  }
  return reserve(parts, caller, request, subject, { ...event, decision: 'allow', reason: 'licensed' });
}

/** Retry-After of a call the policy throttles (quota or extraction risk), in seconds. */
export const THROTTLE_RETRY_SECONDS = 60;

/** The client's error for a policy's denial: 429 when the policy throttles (quota or risk), else 403. */
function policyRefusal(d: PolicyDecision): ApiError {
  const throttle = /quota|throttle|risk/.test(d.reason);
  return {
    status: throttle ? 429 : 403,
    type: throttle ? 'rate_limit_error' : 'permission_error',
    code: d.reason === 'evaluation-error' ? 'policy_error' : 'policy_denied',
    message: `denied by policy: ${d.reason}${d.policies.length ? ` (${d.policies.join(', ')})` : ''}`,
  };
}

/** Reserves the call's tokens and FLOPs; a refusal is a logged denial answered 429 with Retry-After. */
async function reserve(
  parts: AdmissionParts,
  caller: Caller,
  request: InferRequest,
  subject: QuotaSubject,
  event: InferAdmitEvent,
): Promise<Admitted | Refused> {
  const endpoint = request.endpoint as InferEndpoint;
  const promptTokens = event.features?.promptTokens ?? estimatePromptTokens(endpoint, request.body);
  const allowance = maxCompletionTokens(endpoint, request.body, parts.defaultMaxTokens());
  const tokens = promptTokens + allowance;
  const flops = inferenceFlops(parts.model.parameters, tokens);
  const now = new Date(event.time);
  const r = await parts.quotas.reserve(subject, { requests: 1, tokens, flops }, now);
  if (!r.ok)
    return refuse(
      event,
      'quota-exceeded',
      {
        status: 429,
        type: 'rate_limit_error',
        code: 'quota_exceeded',
        message: `quota exceeded (${r.limit}); retry in ${r.retryAfter} s`,
      },
      r.retryAfter,
    );
  return {
    allow: true,
    event: { ...event, reserved: { tokens, flops: flops.toString() } },
    caller,
    reservation: r,
    request,
    allowance,
    promptTokens,
  };
}
