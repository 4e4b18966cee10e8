/**
 * `kms grant` and `audit import-cloudtrail`: the two ways a package sealed `--to aws-kms:...` stays
 * in our log although KMS, not the release service, releases its key. docs/PROVIDERS.md, "Grants";
 * docs/LOG.md, "KMS grants" and "Releases outside the service".
 */
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { ModelsealError } from '../errors.js';
import { toHex } from '../format/encoding.js';
import { indexKmsLog, matchDecrypts, parseCloudTrail, type KmsDecryptRecord } from '../log/cloudtrail.js';
import { encodeEvent, type KmsGrantEvent } from '../log/events.js';
import { ioError } from '../io/atomic.js';
import type { Publisher } from '../keystore/keystore.js';
import {
  createStanzaGrant,
  grantName,
  grantTargets,
  revokeStanzaGrant,
  type KmsGrantOperation,
} from '../providers/awskms-grant.js';
import type { AwsKmsOptions } from '../providers/awskms-client.js';
import type { ExportLog } from './exportlog.js';
import { readHead } from './head.js';
import { signerId } from './walk.js';

export interface GrantOptions extends AwsKmsOptions {
  granteePrincipal: string;
  /** Only this stanza's recipient ("aws-kms:<arn>" or the ARN); default: every aws-kms stanza. */
  recipient?: string;
  operations?: KmsGrantOperation[];
  /** Records the grants (fail closed: a grant the log does not take is revoked). */
  log: ExportLog;
  publisher: Publisher;
  now?: Date;
}

/** One grant made and logged. */
export interface LoggedGrant {
  index: number;
  event: KmsGrantEvent;
}

/**
 * Creates one KMS grant per aws-kms stanza of the package at `path` (read without a key), each
 * constrained to that stanza's exact EncryptionContext, and records each in the log before the
 * next; a grant the log does not take is revoked at once and the error thrown.
 */
export async function grantPackage(path: string, opts: GrantOptions): Promise<LoggedGrant[]> {
  const { header } = (await readHead(path)).parsed;
  const targets = grantTargets(header, opts.recipient);
  if (targets.length === 0)
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `${path} has no aws-kms stanza${opts.recipient ? ` for ${opts.recipient}` : ''}: ` +
        'only packages sealed --to aws-kms:<key> can be granted',
    );
  const pkg = toHex(header.packageId);
  const out: LoggedGrant[] = [];
  for (const t of targets) {
    const g = await createStanzaGrant(
      t,
      opts.granteePrincipal,
      opts.operations ?? ['Decrypt'],
      grantName(pkg, t.license),
      opts,
    );
    const event: KmsGrantEvent = {
      v: 1,
      type: 'kms-grant',
      time: (opts.now ?? new Date()).toISOString(),
      package: pkg,
      artifact: `sha256:${toHex(header.model.rootDigest)}`,
      recipient: t.recipient,
      license: t.license,
      key: t.keyArn,
      grant: g.grantId,
      name: g.name,
      grantee: g.grantee,
      operations: g.operations,
      context: t.context,
      publisher: signerId(opts.publisher.spki),
    };
    try {
      const [index] = await opts.log.append([event], opts.publisher);
      out.push({ index: index!, event });
    } catch (e) {
      await revokeAfterLogFailure(t.keyArn, g.grantId, opts, e);
    }
  }
  return out;
}

/** The log did not take the grant: revoke it, then throw the log's error (or say the revoke failed too). */
async function revokeAfterLogFailure(keyArn: string, grantId: string, opts: AwsKmsOptions, e: unknown): Promise<never> {
  try {
    await revokeStanzaGrant(keyArn, grantId, opts);
  } catch (revokeError) {
    throw new ModelsealError(
      'LOG_UNAVAILABLE',
      `the log did not record KMS grant ${grantId} on ${keyArn}, and revoking it failed: revoke it by hand ` +
        `(aws kms revoke-grant --key-id ${keyArn} --grant-id ${grantId})`,
      { cause: revokeError, details: { key: keyArn, grant: grantId } },
    );
  }
  if (e instanceof ModelsealError) throw e;
  throw new ModelsealError('LOG_UNAVAILABLE', `the log did not record KMS grant ${grantId}, so it was revoked`, {
    cause: e,
  });
}

/** A CloudTrail log file as text: as CloudTrail delivers it (gzip, `.json.gz`) or gunzipped. */
async function readTrail(file: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (e) {
    throw ioError(`reading ${file}`, e);
  }
  if (bytes[0] !== 0x1f || bytes[1] !== 0x8b) return bytes.toString('utf8');
  try {
    return gunzipSync(bytes).toString('utf8');
  } catch (e) {
    throw new ModelsealError('INVALID_ARGUMENT', `${file} is a damaged gzip file; download it from S3 again`, {
      cause: e,
    });
  }
}

/** What `audit import-cloudtrail` did. */
export interface CloudTrailImport {
  imported: number;
  duplicates: number;
  unmatched: KmsDecryptRecord[];
  failedDecrypts: number;
  otherKeys: number;
  otherRecords: number;
  /** The log indexes of the release events appended. */
  indexes: number[];
}

/**
 * Appends one release event per CloudTrail Decrypt of our keys (`keys`, default every key an
 * aws-kms export names) that matches a package in the log; skips eventIDs imported before.
 */
export async function importCloudTrail(
  file: string,
  log: ExportLog,
  keys?: ReadonlySet<string>,
): Promise<CloudTrailImport> {
  if (!log.local)
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      'audit import-cloudtrail writes to a log store (a data directory or a PostgreSQL URL), ' +
        'not to a release service URL',
    );
  const trail = parseCloudTrail(await readTrail(file));
  const m = matchDecrypts(trail.decrypts, await indexKmsLog(log.local.store), keys);
  const indexes: number[] = [];
  // One at a time, in CloudTrail order: a failure part-way leaves the rest to a re-run (idempotent by eventID).
  for (const e of m.events) indexes.push((await log.local.append(encodeEvent(e))).index);
  return {
    imported: indexes.length,
    duplicates: m.duplicates,
    unmatched: m.unmatched,
    failedDecrypts: m.failedDecrypts,
    otherKeys: m.otherKeys,
    otherRecords: trail.otherRecords,
    indexes,
  };
}
