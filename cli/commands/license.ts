import type { Command } from 'commander';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  addLicense,
  checkpointRootDigest,
  inspect,
  listLicenses,
  ModelsealError,
  RecipientRegistry,
  revokeLicense,
  type License,
} from '../../src/index.js';
import { emitJson, say, warn, type GlobalOptions } from '../util.js';
import { dataDir, DATA_HELP } from './policy.js';

interface IssueFlags {
  holder: string;
  model: string[];
  destination: string[];
  nationality: string[];
  notBefore?: string;
  notAfter?: string;
  maxReleases: string;
  authorization?: string;
  tier: string[];
  data?: string;
}

/** Country codes given as `--x DE,FR`, or the option repeated; upper-cased. */
const codes = (v: string, prev: string[]) => [...prev, ...v.split(',').map((c) => c.trim().toUpperCase())];
const many = (v: string, prev: string[]) => [...prev, v];
const policyDir = (o: { data?: string }) => join(dataDir(o), 'policy');

/**
 * The model root digest `--model` names: a digest as given; a package's model (the original of a
 * fingerprinted copy, which covers every copy sealed from it); a checkpoint file or folder's root digest.
 */
export async function modelDigest(model: string): Promise<string> {
  if (/^sha256:[0-9a-f]{64}$/.test(model)) return model;
  // A model `modelseal gate` serves without its package: named, as the gateway names it (docs/GATE.md).
  if (/^model:[\x21-\x7e]{1,256}$/.test(model)) return model;
  const isFile = (await stat(model).catch(() => null))?.isFile();
  if (isFile && !/\.(safetensors|gguf|bin|pt|json)$/i.test(model)) {
    const p = await inspect(model).catch(() => null);
    if (p) return p.fingerprint?.original ?? p.model.rootDigest;
  }
  if (isFile === undefined)
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `--model ${model}: not a "sha256:<64 hex>" digest, a package, a checkpoint or "model:<served name>"`,
    );
  return `sha256:${Buffer.from(await checkpointRootDigest(model)).toString('hex')}`;
}

/** A time option as ISO 8601 UTC, or `fallback`. */
function time(flag: string, v: string | undefined, fallback: Date): string {
  if (v === undefined) return fallback.toISOString();
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new ModelsealError('INVALID_ARGUMENT', `${flag} ${v}: expected a date, e.g. 2026-12-31`);
  return new Date(t).toISOString();
}

/** The license `issue` would write, from its flags (artifacts resolved). */
export async function licenseFromFlags(id: string, o: IssueFlags, now = new Date()): Promise<License> {
  const maxReleases = Number(o.maxReleases);
  if (!Number.isSafeInteger(maxReleases) || maxReleases < 0)
    throw new ModelsealError('INVALID_ARGUMENT', `--max-releases ${o.maxReleases}: expected a whole number ≥ 0`);
  const oneYear = new Date(now.getTime() + 365 * 86_400_000);
  return {
    id,
    holder: o.holder,
    artifacts: [...new Set(await Promise.all(o.model.map(modelDigest)))],
    destinations: [...new Set(o.destination)],
    notBefore: time('--not-before', o.notBefore, now),
    notAfter: time('--not-after', o.notAfter, oneYear),
    maxReleases,
    ...(o.nationality.length ? { nationalities: [...new Set(o.nationality)] } : {}),
    ...(o.authorization !== undefined ? { authorization: o.authorization } : {}),
    ...(o.tier.length ? { tiers: [...new Set(o.tier)] } : {}),
  };
}

/** `license issue | list | revoke`: the licenses of the release service's policy directory. */
export function registerLicense(program: Command): void {
  const lic = program
    .command('license')
    .description("issue, list and revoke the licenses of the release service's policy (<data>/policy/licenses.json)");
  registerIssue(lic);
  lic
    .command('list')
    .description('list the licenses in force or not, with their terms')
    .option('--data <dir>', DATA_HELP)
    .action(async (o: { data?: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const licenses = await listLicenses(policyDir(o));
      emitJson(g, 'license list', { licenses });
      if (licenses.length === 0) say(g, 'no licenses (issue one with `modelseal license issue`)');
      for (const l of licenses) say(g, describe(l));
    });
  lic
    .command('revoke')
    .description('remove a license: later requests under it are denied (a running service picks it up)')
    .argument('<id>', 'the license id')
    .option('--data <dir>', DATA_HELP)
    .action(async (id: string, o: { data?: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const license = await revokeLicense(policyDir(o), id);
      emitJson(g, 'license revoke', { license });
      say(g, `revoked license ${id} (${policyDir(o)}/licenses.json)`);
    });
}

function describe(l: License): string {
  const nat = l.nationalities ? `, nationalities ${l.nationalities.join(',')}` : '';
  const auth = l.authorization ? `, under ${l.authorization}` : ', no authorization cited';
  const tiers = l.tiers ? `, inference tiers ${l.tiers.join(',')}` : '';
  return (
    `${l.id}  holder ${l.holder}  to ${l.destinations.join(',')}${nat}  ${l.notBefore} – ${l.notAfter}  ` +
    `${l.maxReleases} releases${auth}${tiers}\n  models ${l.artifacts.join(' ')}`
  );
}

function registerIssue(lic: Command): void {
  lic
    .command('issue')
    .description('grant a registered recipient releases of a model to some destinations, for a time')
    .argument('<id>', 'the license id, e.g. EAR-2026-0042 (the id seal --license names)')
    .requiredOption('--holder <recipient>', 'the registered recipient the license is granted to')
    .requiredOption('--model <digest|package|checkpoint>', 'the model it covers (repeatable)', many, [])
    .requiredOption('--destination <CC>', 'a destination country, ISO 3166 alpha-2 (repeatable or DE,FR)', codes, [])
    .option(
      '--nationality <CC>',
      'recipient nationalities it covers (deemed exports; default any not embargoed)',
      codes,
      [],
    )
    .option('--not-before <date>', 'in force from (default now)')
    .option('--not-after <date>', 'in force until, exclusive (default one year from now)')
    .option('--max-releases <n>', 'releases it allows', '10')
    .option('--authorization <citation>', 'the BIS license number or license exception it rests on, e.g. "AIA"')
    .option(
      '--tier <name>',
      'a capability tier it covers for inference through `modelseal gate` (repeatable; default: every tier)',
      (v: string, prev: string[]) => [...prev, ...v.split(',').map((t) => t.trim())],
      [],
    )
    .option('--data <dir>', DATA_HELP)
    .addHelpText(
      'after',
      `
Writes <data>/policy/licenses.json atomically, checked as the release service loads it; a running
service picks it up through its policy watcher. A package names the model it was sealed from, so a
license on the model covers every fingerprinted copy of it. An id already there is refused (exit 10).
A holder not registered yet is allowed, with a warning: register it before it asks.

Example:
  modelseal license issue EAR-2026-0042 --holder acme-labs --model ./llama --destination DE \\
    --nationality DE --max-releases 5 --authorization "BIS license D123456"`,
    )
    .action(async (id: string, o: IssueFlags, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const license = await addLicense(policyDir(o), await licenseFromFlags(id, o));
      const registered = (await new RecipientRegistry(join(dataDir(o), 'recipients')).get(o.holder)) !== undefined;
      if (!registered)
        warn(
          `${o.holder} is not a registered recipient yet: register it (recipient issue) before it asks for a release`,
        );
      emitJson(g, 'license issue', { license, holderRegistered: registered });
      say(g, `issued license ${id} (${policyDir(o)}/licenses.json)\n  ${describe(license)}`);
    });
}
