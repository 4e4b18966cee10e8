/**
 * Upgrading a policy directory an older modelseal wrote. The schema is modelseal's (the service
 * builds every request to it), so a directory holding an earlier default schema would deny every
 * release: an earlier default schema or policy file, byte for byte, is replaced by the current one
 * (the old kept as `<file>.<time>.bak`); a schema the operator changed is refused, naming what it
 * lacks; changed policies are kept (the engine reports the default policies they lack). docs/POLICY.md,
 * "Upgrading".
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelsealError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { loadCedar, messages } from './cedar.js';
import { POLICIES, SCHEMA } from './defaults.js';

/** SHA-256 (hex) of every earlier default schema, oldest first. */
export const EARLIER_SCHEMAS: readonly string[] = [
  // modelseal up to issue 19: no nationalities, no screening lists
  'f83d8ac34573d2c9a795d5431f2479ae9d9a50cca41d741d5474908e4bf0323f',
  // modelseal up to issue 20: no classification, licenseRequired, rulePacks or license authorization
  '29698c276c37a55a0201dc3b8420b35975db2c8c601714046622982b591b1755',
  // modelseal up to issue 22: no Infer action, no license tiers
  '69a4a2ad15a58a53a41ab8b314729b1ff9f9e072b33b8e29c25c7cb3c93957c8',
];

/** SHA-256 (hex) of every earlier default policies.cedar, oldest first. */
export const EARLIER_POLICIES: readonly string[] = [
  // modelseal up to issue 19: one screening-hit forbid for anything not clear, no deemed exports
  'f00faf289a624f0c469d9e16523e33924cbf5dd8f15c3465c213a31401acbd37',
  // modelseal up to issue 20: no license-required
  'cc64791e96a507cb40ee555e2a8f83509a36ebddae350a3e7bbd223cff4344a6',
  // modelseal up to issue 22: no inference policies (licensed-inference, no-license, tier-not-licensed,
  // extraction-risk); license-quota-used applied to every action
  '9d35123a0ae3d5dbaef519cb2af4b9a402e79a492321826ce30cb4886fa3b4e0',
];

/** What loading a policy directory upgraded (docs/POLICY.md, "Upgrading"). */
export interface PolicyUpgrade {
  /** Files replaced by the current defaults, each with the backup of the old one. */
  replaced: { file: string; backup: string }[];
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** `schema.cedarschema.2026-12-05T125243Z.bak`: the old file's name and the time of the upgrade. */
function backupName(file: string, now: Date): string {
  return `${file}.${now
    .toISOString()
    .replace(/[:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}.bak`;
}

/** Replaces `file` in `dir` (holding `text`) by `current`, keeping the old bytes beside it. */
async function replace(dir: string, file: string, text: string, current: string, now: Date) {
  const backup = join(dir, backupName(file, now));
  await writeFileAtomic(backup, text);
  await writeFileAtomic(join(dir, file), current, { overwrite: true });
  return { file: join(dir, file), backup };
}

/**
 * Upgrades the schema and policies of `dir` (their file names in `files`) when they are earlier
 * defaults; throws POLICY_INVALID for a schema changed by hand that is not the current one.
 */
export async function upgradePolicyDir(
  dir: string,
  files: { schema: string; policies: string },
  now = new Date(),
): Promise<PolicyUpgrade> {
  const upgrade: PolicyUpgrade = { replaced: [] };
  const schema = await readFile(join(dir, files.schema), 'utf8');
  if (schema !== SCHEMA) {
    if (EARLIER_SCHEMAS.includes(sha256(schema)))
      upgrade.replaced.push(await replace(dir, files.schema, schema, SCHEMA, now));
    else checkCustomSchema(schema, files.schema);
  }
  const policies = await readFile(join(dir, files.policies), 'utf8');
  if (policies !== POLICIES && EARLIER_POLICIES.includes(sha256(policies)))
    upgrade.replaced.push(await replace(dir, files.policies, policies, POLICIES, now));
  return upgrade;
}

/** Every attribute a schema declares, "Entity.attr" or "context.attr", with its type as JSON. */
function schemaAttributes(text: string): Map<string, string> | undefined {
  const parsed = loadCedar().schemaToJson(text);
  if (parsed.type === 'failure') return undefined;
  const out = new Map<string, string>();
  type Shape = { attributes?: Record<string, unknown> };
  const add = (prefix: string, shape: Shape | undefined) => {
    for (const [k, v] of Object.entries(shape?.attributes ?? {})) out.set(`${prefix}.${k}`, JSON.stringify(v));
  };
  for (const ns of Object.values(parsed.json as unknown as Record<string, Record<string, Record<string, unknown>>>)) {
    for (const [name, e] of Object.entries(ns.entityTypes ?? {})) add(name, (e as { shape?: Shape }).shape);
    // The release context as "context.x" (what earlier versions named); another action's as "<action> context.x".
    for (const [name, a] of Object.entries(ns.actions ?? {}))
      add(
        name === 'release' ? 'context' : `${name} context`,
        (a as { appliesTo?: { context?: Shape } }).appliesTo?.context,
      );
  }
  return out;
}

/**
 * A schema that is not the current one byte for byte passes only when it declares the same
 * attributes with the same types (a reformatted copy); else the service's requests fail against it.
 */
function checkCustomSchema(text: string, file: string): void {
  const theirs = schemaAttributes(text);
  if (!theirs) {
    const errors = loadCedar().checkParseSchema(text);
    const why = errors.type === 'failure' ? `: ${messages(errors.errors).join('; ')}` : '';
    throw new ModelsealError('POLICY_INVALID', `${file} does not parse${why}`);
  }
  const ours = schemaAttributes(SCHEMA)!;
  const lacks = [...ours].filter(([k, t]) => theirs.get(k) !== t).map(([k]) => k);
  const extra = [...theirs.keys()].filter((k) => !ours.has(k));
  if (lacks.length === 0 && extra.length === 0) return;
  throw new ModelsealError(
    'POLICY_INVALID',
    `${file} was changed by hand and is not the schema this modelseal builds its requests to` +
      (lacks.length ? `; it lacks (or types differently) ${lacks.join(', ')}` : '') +
      (extra.length ? `; the requests have no ${extra.join(', ')}` : '') +
      `. Move it aside and run \`modelseal policy init\` to write the current one (docs/POLICY.md, "Upgrading")`,
    { details: { lacks, extra } },
  );
}

/** The @id of every default policy, in the order of policies.cedar. */
export const DEFAULT_POLICY_IDS: readonly string[] = [...POLICIES.matchAll(/@id\("([^"]+)"\)/g)].map((m) => m[1]!);
