/**
 * CloudTrail's record of KMS Decrypt calls, read into the log as release events: a package sealed
 * `--to aws-kms:...` is opened by KMS, not by the release service, so only CloudTrail sees it.
 * Each Decrypt of one of our keys is matched to the package it opened by its EncryptionContext
 * (package, recipient, license: src/providers/types.ts `releaseContextFields`). docs/LOG.md,
 * "Releases outside the service".
 */
import { ModelsealError } from '../errors.js';
import { storeEvents, type ExportEvent, type ReleaseEvent } from './events.js';
import type { LogStore } from './store.js';

/** One CloudTrail KMS Decrypt record, the fields the import reads. */
export interface KmsDecryptRecord {
  eventID: string;
  eventTime: string;
  /** The key ARN (resources[].ARN, else requestParameters.keyId). */
  key: string;
  principal: string;
  sourceIPAddress: string;
  encryptionContext: Record<string, string>;
  /** CloudTrail's errorCode when the call failed (e.g. "InvalidCiphertextException", "AccessDenied"). */
  errorCode: string | null;
}

/** Records that may be ignored: other services' and other KMS calls (a trail holds them all). */
export interface ParsedTrail {
  decrypts: KmsDecryptRecord[];
  otherRecords: number;
}

const str = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 4096;

function contextOf(v: unknown): Record<string, string> | null {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) return null;
  const entries = Object.entries(v as Record<string, unknown>);
  return entries.every(([, x]) => typeof x === 'string') ? Object.fromEntries(entries as [string, string][]) : null;
}

/** A record as a KMS Decrypt, or null for another call; throws on a Decrypt missing what the log needs. */
function decryptRecord(r: Record<string, unknown>, at: number): KmsDecryptRecord | null {
  if (r.eventSource !== 'kms.amazonaws.com' || r.eventName !== 'Decrypt') return null;
  const params = (r.requestParameters ?? {}) as Record<string, unknown>;
  const resources = Array.isArray(r.resources) ? (r.resources as (Record<string, unknown> | null)[]) : [];
  const key = resources.map((x) => x?.ARN).find(str) ?? params.keyId;
  const who = (r.userIdentity ?? {}) as Record<string, unknown>;
  const context = contextOf(params.encryptionContext);
  if (!str(r.eventID) || !str(r.eventTime) || Number.isNaN(Date.parse(r.eventTime)) || !str(key) || !context)
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `CloudTrail record ${at} is a KMS Decrypt without eventID, eventTime, key or a string ` +
        'encryptionContext; is this a CloudTrail log file?',
    );
  return {
    eventID: r.eventID,
    eventTime: new Date(r.eventTime).toISOString(),
    key,
    principal: str(who.arn) ? who.arn : str(who.invokedBy) ? who.invokedBy : str(who.type) ? who.type : '',
    sourceIPAddress: str(r.sourceIPAddress) ? r.sourceIPAddress : '',
    encryptionContext: context,
    errorCode: str(r.errorCode) ? r.errorCode : null,
  };
}

/** Parses a CloudTrail log file's JSON (`{"Records": [...]}`, as CloudTrail writes it to S3, once gunzipped). */
export function parseCloudTrail(text: string): ParsedTrail {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      'the CloudTrail file is not JSON: give a CloudTrail log file (.json or .json.gz)',
      {
        cause: e,
      },
    );
  }
  const records = (doc as { Records?: unknown } | null)?.Records;
  if (!Array.isArray(records))
    throw new ModelsealError('INVALID_ARGUMENT', 'the CloudTrail file has no "Records" array');
  const decrypts: KmsDecryptRecord[] = [];
  records.forEach((r, i) => {
    const d = r && typeof r === 'object' ? decryptRecord(r as Record<string, unknown>, i) : null;
    if (d) decrypts.push(d);
  });
  return { decrypts, otherRecords: records.length - decrypts.length };
}

/** The log's request id of an imported Decrypt: "cloudtrail:" and its CloudTrail eventID (the idempotence key). */
export const cloudTrailRequest = (eventID: string): string => `cloudtrail:${eventID}`;

/** What the log already says: the aws-kms exports (by key, package, recipient, license) and the imported eventIDs. */
export interface KmsLogIndex {
  exports: Map<string, ExportEvent>;
  imported: Set<string>;
  keys: Set<string>;
}

const exportKey = (key: string, pkg: string, recipient: string, license: string) =>
  JSON.stringify([key, pkg, recipient, license]);

/** Scans `store` once for aws-kms exports and Decrypts imported before. */
export async function indexKmsLog(store: LogStore): Promise<KmsLogIndex> {
  const idx: KmsLogIndex = { exports: new Map(), imported: new Set(), keys: new Set() };
  for await (const { event: e } of storeEvents(store)) {
    if (e?.type === 'export' && e.provider === 'aws-kms' && e.recipient.startsWith('aws-kms:')) {
      const key = e.recipient.slice('aws-kms:'.length);
      idx.keys.add(key);
      idx.exports.set(exportKey(key, e.package, e.recipient, e.license), e);
    } else if (e?.type === 'release' && e.path === 'aws-kms') idx.imported.add(e.request);
  }
  return idx;
}

/** The export a Decrypt opened by EncryptionContext: package (base64url there, hex in the log), recipient, license. */
function exportFor(d: KmsDecryptRecord, idx: KmsLogIndex): ExportEvent | undefined {
  const c = d.encryptionContext;
  if (!c.package || !c.recipient || !c.license) return undefined;
  const pkg = Buffer.from(c.package, 'base64url');
  if (pkg.length !== 32 || pkg.toString('base64url') !== c.package) return undefined;
  const e = idx.exports.get(exportKey(d.key, pkg.toString('hex'), c.recipient, c.license));
  // The artifact is in the context too: a Decrypt naming another model opened no package we sealed.
  return e && (c.artifact === undefined || c.artifact === e.artifact) ? e : undefined;
}

/** What an import found, and the release events to append (in CloudTrail order). */
export interface DecryptMatch {
  events: ReleaseEvent[];
  duplicates: number;
  /** Decrypts of our keys whose context names no package in the log: reported, not logged. */
  unmatched: KmsDecryptRecord[];
  /** Decrypts of keys that are not ours (not in `keys`): skipped. */
  otherKeys: number;
  failedDecrypts: number;
}

/** Matches Decrypts to the log's aws-kms exports; `keys` (default: every key an export names) are ours. */
export function matchDecrypts(
  decrypts: readonly KmsDecryptRecord[],
  idx: KmsLogIndex,
  keys?: ReadonlySet<string>,
): DecryptMatch {
  const ours = keys && keys.size > 0 ? keys : idx.keys;
  const seen = new Set(idx.imported);
  const out: DecryptMatch = { events: [], duplicates: 0, unmatched: [], otherKeys: 0, failedDecrypts: 0 };
  for (const d of decrypts) {
    if (!ours.has(d.key)) {
      out.otherKeys++;
      continue;
    }
    const request = cloudTrailRequest(d.eventID);
    if (seen.has(request)) {
      out.duplicates++;
      continue;
    }
    const e = exportFor(d, idx);
    if (!e) {
      out.unmatched.push(d);
      continue;
    }
    seen.add(request);
    if (d.errorCode) out.failedDecrypts++;
    out.events.push(releaseOf(d, e));
  }
  return out;
}

/** The release event of a matched Decrypt: allowed when KMS answered, denied with CloudTrail's errorCode otherwise. */
function releaseOf(d: KmsDecryptRecord, e: ExportEvent): ReleaseEvent {
  return {
    v: 1,
    type: 'release',
    time: d.eventTime,
    request: cloudTrailRequest(d.eventID),
    recipient: e.recipient,
    org: null,
    country: null,
    certificate: null,
    artifact: e.artifact,
    package: e.package,
    license: e.license,
    decision: d.errorCode ? 'deny' : 'allow',
    reason: d.errorCode ? `kms:${d.errorCode}` : 'kms-decrypt',
    policies: [],
    policySet: d.encryptionContext.policy ?? e.policy,
    ip: d.sourceIPAddress,
    destination: null,
    nonce: null,
    path: 'aws-kms',
    kms: { key: d.key, principal: d.principal, event: d.eventID },
  };
}
