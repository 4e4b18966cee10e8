/**
 * The archive of policy sets: every set that comes into force on a release service is first kept
 * as `<data>/records/policy-sets/<hash>.json` (its four file texts, exactly as hashed), so that an
 * auditor can re-read the rules of any logged `policySet` for as long as the records are kept.
 * A set already archived is left as it is. docs/POLICY.md, "The archive of policy sets".
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelsealError } from '../errors.js';
import { ioError, pathExists, writeFileAtomic } from '../io/atomic.js';
import { POLICY_FILES, policySetHash, type PolicyFileTexts } from './engine.js';

/** A policy set as archived (the shape of src/compliance/records.ts `PolicySetRecord`). */
export interface ArchivedPolicySet {
  hash: string;
  files: PolicyFileTexts;
  /** When the set first came into force on this service (ISO 8601). */
  inForce: string;
}

const HASH = /^[0-9a-f]{64}$/;

/** The folder of the archived policy sets of data directory `data`. */
export function policySetsDir(data: string): string {
  return join(data, 'records', 'policy-sets');
}

/**
 * Keeps the set `files` (whose hash is `hash`) in `dir` unless it is there already; throws IO when
 * it cannot be written: the set must then not go into force.
 */
export async function archivePolicySet(
  dir: string,
  set: { hash: string; files: PolicyFileTexts },
  now: Date = new Date(),
): Promise<void> {
  const path = join(dir, `${set.hash}.json`);
  if (await pathExists(path)) return;
  const record: ArchivedPolicySet = { hash: set.hash, files: { ...set.files }, inForce: now.toISOString() };
  try {
    await mkdir(dir, { recursive: true });
    await writeFileAtomic(path, JSON.stringify(record, null, 2) + '\n');
  } catch (e) {
    if (e instanceof ModelsealError && e.code === 'OUTPUT_EXISTS') return; // archived meanwhile by another replica
    throw new ModelsealError(
      'IO',
      `cannot archive policy set ${set.hash} in ${dir}, so it is not put in force (a decision is never logged ` +
        `under a set that is not kept): make the folder writable and with free space`,
      { cause: e },
    );
  }
}

/**
 * The archived set of `hash` in `dir`; null when none is kept. EVIDENCE_INVALID when the file is
 * damaged or its texts do not rehash to `hash`.
 */
export async function readPolicySet(dir: string, hash: string): Promise<ArchivedPolicySet | null> {
  if (!HASH.test(hash)) return null;
  const path = join(dir, `${hash}.json`);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw ioError(`cannot read ${path}`, e);
  }
  const damaged = (why: string, cause?: unknown) =>
    new ModelsealError('EVIDENCE_INVALID', `${path} is damaged (${why}); restore it from a backup`, { cause });
  let v: Partial<ArchivedPolicySet>;
  try {
    v = JSON.parse(text) as Partial<ArchivedPolicySet>;
  } catch (cause) {
    throw damaged('not JSON', cause);
  }
  const files = v.files as Partial<PolicyFileTexts> | undefined;
  const keys = Object.keys(POLICY_FILES) as (keyof PolicyFileTexts)[];
  if (!files || keys.some((k) => typeof files[k] !== 'string') || typeof v.inForce !== 'string')
    throw damaged('not an archived policy set');
  const set = { hash, files: Object.fromEntries(keys.map((k) => [k, files[k]!])) as PolicyFileTexts };
  if (v.hash !== hash || policySetHash(set.files) !== hash) throw damaged(`its files do not hash to ${hash}`);
  return { ...set, inForce: v.inForce };
}
