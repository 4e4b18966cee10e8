/**
 * The release service's answers: why it denies a request (the reasons that are not a policy's own;
 * those are its forbid ids), their wording for the log and the answer, and their HTTP status.
 * docs/SERVER.md.
 */
import type { ReleaseAnswer } from '../release/response.js';

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
  'unusable-ephemeral-key':
    "the request's ephemeral X25519 key cannot be used (a low-order point); make a fresh key pair",
  'evaluation-error': 'the policy could not be evaluated',
  'provider-unavailable': "the service's key provider could not be reached; nothing was released, retry later",
  'incomplete-body': 'the request body ended before its declared length (the client went away or was too slow)',
  'internal-error': 'the service failed on this request (a bug in modelseal); nothing was released',
  'rate-limited': 'too many failing requests from this source; retry after the time in Retry-After',
  'observed-embargoed': 'the request comes from an address in an embargoed country (docs/GEOFENCING.md)',
  'observed-destination-mismatch':
    'the request comes from an address in another country than the declared destination (docs/GEOFENCING.md)',
  'screening-unavailable': "the recipient could not be screened against the service's lists; nothing was released",
  'screening-hit': 'the recipient matches a party on a screening list',
  'screening-review': 'the recipient resembles a party on a screening list; a compliance officer must review it',
  'screening-list-stale': 'a screening list is older than its maximum age; the operator must import a current one',
  'deemed-export-embargoed': 'a nationality or citizenship of the recipient is embargoed (a deemed export)',
  'deemed-export-not-licensed': 'the license does not cover every nationality and citizenship of the recipient',
} as const;

/** Reasons a request is refused before it parses as a release request. */
export type RejectReason =
  'malformed-json' | 'oversized-body' | 'malformed-request' | 'incomplete-body' | 'internal-error';

/** HTTP status of each denial that is not a policy's: 400 for what is not a request, 503 for an outage. */
export const DENIAL_STATUS: Record<string, number> = {
  'malformed-json': 400,
  'malformed-request': 400,
  'incomplete-body': 400,
  'oversized-body': 413,
  'provider-unavailable': 503,
  'screening-unavailable': 503,
  'internal-error': 500,
};

export interface ServiceReply {
  status: number;
  body:
    | (ReleaseAnswer & { id?: string; retryAfter?: number })
    | { receipts: string[] }
    | { id?: string; error: { code: string; message: string } };
  /** Seconds, for a 429 (Retry-After). */
  retryAfter?: number;
}
