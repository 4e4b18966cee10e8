/**
 * A publisher's license check (POST /v1/licenses/check, docs/API.md): checked like an export
 * submission (a trusted publisher key, its signature), then answered from the licenses in force.
 * Read-only: nothing is logged in the transparency log, and the answer names only the license asked about.
 */
import type { License } from '../policy/engine.js';
import {
  licenseCheckBytes,
  licenseFailures,
  type LicenseCheckAnswer,
  type LicenseCheckSubmission,
} from '../release/license-check.js';
import { checkSignedRead, refuse, type SignedReadBook } from './signed.js';

/** What a license check needs of the service. */
export interface LicenseBook extends SignedReadBook {
  /** The license of that id in the policy in force. */
  license(id: string): Promise<License | undefined>;
  /** Releases made under it so far. */
  used(id: string): Promise<number>;
}

/** An answer: the check's outcome (200), or a refusal with its error code. */
export type LicenseCheckReply =
  { status: 200; body: LicenseCheckAnswer } | { status: 400 | 403; body: { error: { code: string; message: string } } };

const isText = (v: unknown, max: number): v is string => typeof v === 'string' && v.length > 0 && v.length <= max;
const isDigest = (v: unknown) => typeof v === 'string' && /^sha256:[0-9a-f]{64}$/.test(v);
const hasOnly = (o: object, keys: readonly string[]) => Object.keys(o).every((k) => keys.includes(k));

/** Whether `b` has exactly the shape of a license check submission (docs/API.md), every field within its bounds. */
export function wellFormedCheck(b: unknown): b is LicenseCheckSubmission {
  const o = b as Partial<LicenseCheckSubmission> | null;
  const c = o?.check as Partial<LicenseCheckSubmission['check']> | undefined;
  return (
    !!o &&
    typeof o === 'object' &&
    hasOnly(o, ['check', 'publisher', 'signature']) &&
    isText(o.publisher, 1024) &&
    isText(o.signature, 1024) &&
    !!c &&
    typeof c === 'object' &&
    hasOnly(c, ['v', 'license', 'holder', 'model', 'destinations', 'time']) &&
    c.v === 1 &&
    isText(c.license, 512) &&
    isText(c.holder, 64) &&
    (c.model === undefined || isDigest(c.model)) &&
    Array.isArray(c.destinations) &&
    c.destinations.length <= 64 &&
    c.destinations.every((d: unknown) => typeof d === 'string' && /^[A-Z]{2}$/.test(d)) &&
    isText(c.time, 40) &&
    !Number.isNaN(Date.parse(c.time))
  );
}

/** Answers a publisher's license check: refused unless a trusted publisher signed it just now. */
export async function answerLicenseCheck(body: unknown, book: LicenseBook): Promise<LicenseCheckReply> {
  if (!wellFormedCheck(body))
    return refuse(400, 'INVALID_ARGUMENT', 'the body is not a modelseal license check') as LicenseCheckReply;
  const bytes = licenseCheckBytes(body.check);
  const time = body.check.time;
  const refused = checkSignedRead(
    { publisher: body.publisher, signature: body.signature, time, bytes, what: 'check' },
    book,
  );
  if (refused) return refused as LicenseCheckReply;
  const c = body.check;
  const license = await book.license(c.license);
  const failures = licenseFailures(c, license, book.now);
  const terms = license
    ? {
        notBefore: license.notBefore,
        notAfter: license.notAfter,
        maxReleases: license.maxReleases,
        used: await book.used(license.id),
      }
    : undefined;
  return {
    status: 200,
    body: { license: c.license, covered: failures.length === 0, failures, ...(terms ? { terms } : {}) },
  };
}
