/**
 * Writing licenses.json (`modelseal license issue | revoke`): each change is read, checked exactly as
 * the policy engine loads the file, and written atomically, so a running service's policy watcher
 * picks up a whole, valid file or nothing. docs/POLICY.md, "Issuing licenses".
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelsealError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { checkLicense, initPolicyDir, POLICY_FILES, type License } from './engine.js';

interface LicensesFile {
  /** Other keys of the file (the default's "example") are kept as they are. */
  rest: Record<string, unknown>;
  licenses: License[];
}

async function readLicensesFile(policyDir: string): Promise<LicensesFile> {
  await initPolicyDir(policyDir); // the defaults, where missing
  const path = join(policyDir, POLICY_FILES.licenses);
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch (cause) {
    throw new ModelsealError('POLICY_INVALID', `${path} is not JSON: fix or restore it, then issue again`, { cause });
  }
  const o = (json ?? {}) as Record<string, unknown>;
  if (typeof json !== 'object' || Array.isArray(json) || !Array.isArray(o.licenses))
    throw new ModelsealError('POLICY_INVALID', `${path}: expected {"licenses": [...]}; fix or restore it`);
  const licenses = o.licenses.map((l, i) => checkLicense(l, `${POLICY_FILES.licenses} entry ${i}`));
  return { rest: o, licenses };
}

async function writeLicensesFile(policyDir: string, f: LicensesFile): Promise<void> {
  const text = JSON.stringify({ ...f.rest, licenses: f.licenses }, null, 2) + '\n';
  await writeFileAtomic(join(policyDir, POLICY_FILES.licenses), text, { overwrite: true });
}

/** The licenses of `policyDir`'s licenses.json, checked (the default files are written where missing). */
export async function listLicenses(policyDir: string): Promise<License[]> {
  return (await readLicensesFile(policyDir)).licenses;
}

/**
 * Adds `license` to `policyDir`'s licenses.json, checked as the policy engine checks it; refuses an id
 * already there (OUTPUT_EXISTS). Returns the license as written.
 */
export async function addLicense(policyDir: string, license: License): Promise<License> {
  const f = await readLicensesFile(policyDir);
  let checked: License;
  try {
    checked = checkLicense(license, `license ${JSON.stringify(license.id)}`);
  } catch (e) {
    // The file is fine; the license asked for is not: an argument to fix, not a policy file.
    if (e instanceof ModelsealError) throw new ModelsealError('INVALID_ARGUMENT', e.message, { cause: e });
    throw e;
  }
  if (Date.parse(checked.notAfter) <= Date.parse(checked.notBefore))
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `license ${checked.id}: notAfter (${checked.notAfter}) must be later than notBefore (${checked.notBefore})`,
    );
  if (f.licenses.some((l) => l.id === checked.id))
    throw new ModelsealError(
      'OUTPUT_EXISTS',
      `license ${checked.id} is already in ${POLICY_FILES.licenses}: revoke it first or choose another id`,
    );
  await writeLicensesFile(policyDir, { ...f, licenses: [...f.licenses, checked] });
  return checked;
}

/** Removes license `id` from `policyDir`'s licenses.json and returns it; INVALID_ARGUMENT if it is not there. */
export async function revokeLicense(policyDir: string, id: string): Promise<License> {
  const f = await readLicensesFile(policyDir);
  const found = f.licenses.find((l) => l.id === id);
  if (!found)
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `no license ${id} in ${POLICY_FILES.licenses} (there: ${f.licenses.map((l) => l.id).join(', ') || 'none'})`,
    );
  await writeLicensesFile(policyDir, { ...f, licenses: f.licenses.filter((l) => l !== found) });
  return found;
}
