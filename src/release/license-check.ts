/**
 * A publisher's license check (POST /v1/licenses/check, docs/API.md): before sealing for a
 * recipient of a release service, the publisher asks whether a license covers that recipient,
 * model and destinations and is in force. Licenses are not public, so the question is signed by a
 * trusted publisher key. The shapes, the bytes signed, and the coverage rule. No I/O here.
 */
import { signWith, type Signer } from '../crypto/signer.js';
import { canonicalJson } from '../log/events.js';

/** The question: does license `license` cover `holder`, `model` (when given) and every one of `destinations`? */
export interface LicenseCheck {
  v: 1;
  license: string;
  /** The registered recipient the package is sealed for. */
  holder: string;
  /**
   * The model's root digest ("sha256:…"; the original, for a fingerprinted copy). Absent before it is
   * known (a check before sealing): the other terms are checked.
   */
  model?: string;
  /** Destinations (ISO 3166 alpha-2) the weights are meant for; may be empty. */
  destinations: string[];
  /** When the question was asked (ISO 8601): accepted within the service's clock skew. */
  time: string;
}

/** A check signed by a publisher key, as sent. */
export interface LicenseCheckSubmission {
  check: LicenseCheck;
  /** The publisher's public key, SPKI DER in base64. */
  publisher: string;
  /** ECDSA P-256 / SHA-256 over `licenseCheckBytes(check)`, base64. */
  signature: string;
}

/** Why a license does not cover a check (docs/API.md, "License checks"). */
export const LICENSE_FAILURES = {
  'unknown-license': 'the service has no license of that id',
  'other-holder': 'the license is granted to another recipient',
  'model-not-covered': 'the license does not name this model (its root digest)',
  'destination-not-licensed': 'the license does not cover this destination',
  'not-yet-valid': 'the license is not yet in force (notBefore)',
  expired: 'the license has expired (notAfter)',
} as const;

export type LicenseFailure = keyof typeof LICENSE_FAILURES;

/** One reason a check failed, with the part it names (a destination, a time) where there is one. */
export interface LicenseCheckFailure {
  reason: LicenseFailure;
  message: string;
}

/** The service's answer. `used` and `maxReleases` are informational: a quota used up is no failure here. */
export interface LicenseCheckAnswer {
  license: string;
  covered: boolean;
  failures: LicenseCheckFailure[];
  /** The license's terms, when it exists (holder and artifacts are not repeated: the asker named them). */
  terms?: { notBefore: string; notAfter: string; maxReleases: number; used: number };
}

/** The license terms a check is held against (a subset of src/policy's License). */
export interface LicenseTerms {
  holder: string;
  artifacts: readonly string[];
  destinations: readonly string[];
  notBefore: string;
  notAfter: string;
}

/** The bytes a publisher signs: a domain-separation line, then the check as canonical JSON. */
export function licenseCheckBytes(c: LicenseCheck): Buffer {
  return Buffer.from(`modelseal/v1 license-check\n${canonicalJson(c)}`, 'utf8');
}

/** The submission of `check`, signed by the publisher's `signer` (ECDSA P-256). */
export async function signLicenseCheck(check: LicenseCheck, signer: Signer): Promise<LicenseCheckSubmission> {
  return {
    check,
    publisher: Buffer.from(signer.publicKey).toString('base64'),
    signature: Buffer.from(await signWith(signer, 'ecdsa-p256-sha256', licenseCheckBytes(check))).toString('base64'),
  };
}

/**
 * Every way `terms` (or no license at all) fails to cover `c` at `now`, in a fixed order; empty
 * when it covers it. The same terms the default Cedar policies check at release time.
 */
export function licenseFailures(c: LicenseCheck, terms: LicenseTerms | undefined, now: Date): LicenseCheckFailure[] {
  const f = (reason: LicenseFailure, detail = ''): LicenseCheckFailure => ({
    reason,
    message: `${LICENSE_FAILURES[reason]}${detail}`,
  });
  if (!terms) return [f('unknown-license', ` (${c.license})`)];
  const out: LicenseCheckFailure[] = [];
  if (terms.holder !== c.holder) out.push(f('other-holder', ` (not ${c.holder})`));
  if (c.model !== undefined && !terms.artifacts.includes(c.model)) out.push(f('model-not-covered', ` (${c.model})`));
  for (const d of c.destinations)
    if (!terms.destinations.includes(d)) out.push(f('destination-not-licensed', ` (${d})`));
  if (now.getTime() < Date.parse(terms.notBefore)) out.push(f('not-yet-valid', ` (from ${terms.notBefore})`));
  if (now.getTime() >= Date.parse(terms.notAfter)) out.push(f('expired', ` (on ${terms.notAfter})`));
  return out;
}
