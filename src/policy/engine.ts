/**
 * Release policy: Cedar (@cedar-policy/cedar-wasm) over a mandatory schema, with named policies,
 * licenses and embargoed destinations, all plain files the operator edits in a policy directory.
 * Loading upgrades earlier defaults and validates everything (strict mode) or refuses; deciding
 * never throws: any evaluation error or missing attribute is a deny. docs/POLICY.md.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelsealError } from '../errors.js';
import { pathExists, writeFileAtomic } from '../io/atomic.js';
import {
  evaluatePolicies,
  loadCedar,
  messages,
  preparePolicies,
  type CedarRequest,
  type PolicyDecision,
  type PolicyPreparation,
} from './cedar.js';
import { EMBARGOES, LICENSES_EXAMPLE, POLICIES, SCHEMA } from './defaults.js';
import type { InferQuestion, License, ReleaseQuestion } from './questions.js';
import { inferRequest, releaseRequest } from './requests.js';
import { DEFAULT_POLICY_IDS, upgradePolicyDir, type PolicyUpgrade } from './upgrade.js';

export type {
  ClassificationAnswer,
  InferQuestion,
  License,
  ObservedSource,
  RecipientAttributes,
  ReleaseQuestion,
  ScreeningAnswer,
} from './questions.js';

export {
  evaluatePolicies,
  inlinesWasmCallsUnsafely,
  preparePolicies,
  type CedarRequest,
  type PolicyDecision,
  type PolicyPreparation,
} from './cedar.js';

export const POLICY_FILES = {
  schema: 'schema.cedarschema',
  policies: 'policies.cedar',
  licenses: 'licenses.json',
  embargoes: 'embargoes.json',
} as const;

/** The texts of a policy set's four files, by their key in {@link POLICY_FILES}. */
export type PolicyFileTexts = Record<keyof typeof POLICY_FILES, string>;

/**
 * The policy-set hash of four file texts (logged as `policySet`): SHA-256 over, for each file in
 * {@link POLICY_FILES} order, "<key>\n<length in UTF-16 code units>\n<text>".
 */
export function policySetHash(files: PolicyFileTexts): string {
  const hash = createHash('sha256');
  for (const f of Object.keys(POLICY_FILES) as (keyof typeof POLICY_FILES)[])
    hash.update(`${f}\n${files[f].length}\n`).update(files[f]);
  return hash.digest('hex');
}

function invalid(message: string, details?: Record<string, unknown>): ModelsealError {
  return new ModelsealError('POLICY_INVALID', message, details ? { details } : undefined);
}

/** Writes the default policy files into `dir` where they are missing; returns the files written. */
export async function initPolicyDir(dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const contents: Record<keyof typeof POLICY_FILES, string> = {
    schema: SCHEMA,
    policies: POLICIES,
    licenses: JSON.stringify(LICENSES_EXAMPLE, null, 2) + '\n',
    embargoes: JSON.stringify(EMBARGOES, null, 2) + '\n',
  };
  const written: string[] = [];
  for (const [k, name] of Object.entries(POLICY_FILES) as [keyof typeof POLICY_FILES, string][]) {
    const path = join(dir, name);
    if (await pathExists(path)) continue;
    await writeFileAtomic(path, contents[k]);
    written.push(path);
  }
  return written;
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (cause) {
    throw new ModelsealError(
      'IO',
      `cannot read ${path}: run \`modelseal serve\` once to create the default policy files, or restore it`,
      { cause },
    );
  }
}

async function readJson(path: string): Promise<Record<string, unknown>> {
  try {
    const v = JSON.parse(await readText(path)) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch (e) {
    if (e instanceof ModelsealError) throw e;
  }
  throw invalid(`${path} is not a JSON object`);
}

const COUNTRY = /^[A-Z]{2}$/;
const TIER = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/** A model root digest, or the name a gateway serves a model under without its package (docs/GATE.md, "Decisions"). */
const ARTIFACT = /^(sha256:[0-9a-f]{64}|model:[\x21-\x7e]{1,256})$/;
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

/** `l` as a License, checked exactly as loading licenses.json checks each entry (POLICY_INVALID naming `where`). */
export function checkLicense(l: unknown, where: string): License {
  const o = (l ?? {}) as Record<string, unknown>;
  const bad = (what: string) => invalid(`${where}: ${what}`);
  if (typeof o.id !== 'string' || !o.id) throw bad('"id" must be a non-empty string');
  if (typeof o.holder !== 'string' || !o.holder) throw bad('"holder" must name a registered recipient');
  if (!isStrings(o.artifacts) || !o.artifacts.every((a) => ARTIFACT.test(a)))
    throw bad(
      '"artifacts" must be a list of model root digests "sha256:<64 hex>" (or, for a gateway serving a model ' +
        'without its package, "model:<served name>")',
    );
  if (!isStrings(o.destinations) || !o.destinations.every((d) => COUNTRY.test(d)))
    throw bad('"destinations" must be a list of ISO 3166 alpha-2 country codes');
  for (const k of ['notBefore', 'notAfter'] as const) {
    if (typeof o[k] !== 'string' || Number.isNaN(Date.parse(o[k]))) throw bad(`"${k}" must be an ISO 8601 time`);
  }
  if (!Number.isSafeInteger(o.maxReleases) || (o.maxReleases as number) < 0)
    throw bad('"maxReleases" must be a whole number ≥ 0');
  if (o.nationalities !== undefined && (!isStrings(o.nationalities) || !o.nationalities.every((d) => COUNTRY.test(d))))
    throw bad('"nationalities", when given, must be a list of ISO 3166 alpha-2 country codes');
  if (
    o.authorization !== undefined &&
    (typeof o.authorization !== 'string' || !/^[\x20-\x7e]{1,256}$/.test(o.authorization))
  )
    throw bad('"authorization", when given, must cite the license or exception, e.g. "BIS license D123456" or "AIA"');
  if (o.tiers !== undefined && (!isStrings(o.tiers) || o.tiers.length === 0 || !o.tiers.every((t) => TIER.test(t))))
    throw bad(
      '"tiers", when given, must be a non-empty list of capability tier names such as "general" (docs/GATE.md)',
    );
  return o as unknown as License;
}

/** A loaded, validated policy directory. */
export class PolicyEngine {
  readonly dir: string;
  /** SHA-256 over every policy file: logged with each decision, so an auditor knows which rules applied. */
  readonly hash: string;
  /** The four files' texts exactly as hashed: what the archive keeps (src/policy/archive.ts). */
  readonly files: PolicyFileTexts;
  readonly policyIds: string[];
  /** Earlier default files this load replaced by the current ones (docs/POLICY.md, "Upgrading"). */
  upgrade: PolicyUpgrade = { replaced: [] };
  readonly #licenses: Map<string, License>;
  readonly #embargoes: Set<string>;
  readonly #preparation: PolicyPreparation;
  /** Whether the schema gives an artifact its `model` (schemas written before it do not: docs/POLICY.md). */

  private constructor(
    dir: string,
    files: PolicyFileTexts,
    staticPolicies: Record<string, string>,
    schema: string,
    licenses: Map<string, License>,
    embargoes: Set<string>,
  ) {
    this.dir = dir;
    this.files = files;
    this.hash = policySetHash(files);
    this.policyIds = Object.keys(staticPolicies);
    this.#licenses = licenses;
    this.#embargoes = embargoes;
    this.#preparation = { id: `modelseal-${this.hash}`, schema, policies: staticPolicies };
  }

  /** The default policies (by @id) that this directory's changed policies.cedar does not have: not in force. */
  get missingDefaults(): string[] {
    return DEFAULT_POLICY_IDS.filter((id) => !this.policyIds.includes(id));
  }

  /**
   * Loads and validates `dir`, first replacing earlier default schema and policy files by the
   * current ones; throws POLICY_INVALID naming every problem found.
   */
  static async load(dir: string): Promise<PolicyEngine> {
    const upgrade = await upgradePolicyDir(dir, POLICY_FILES).catch((e: unknown) => {
      if (e instanceof ModelsealError) throw e;
      return { replaced: [] }; // a file that cannot be read is reported below, by name
    });
    const c = loadCedar();
    const texts = Object.fromEntries(
      await Promise.all(Object.entries(POLICY_FILES).map(async ([k, f]) => [k, await readText(join(dir, f))] as const)),
    ) as Record<keyof typeof POLICY_FILES, string>;
    const schema = c.checkParseSchema(texts.schema);
    if (schema.type === 'failure')
      throw invalid(`${POLICY_FILES.schema} does not parse: ${messages(schema.errors).join('; ')}`);
    const parts = c.policySetTextToParts(texts.policies);
    if (parts.type === 'failure')
      throw invalid(`${POLICY_FILES.policies} does not parse: ${messages(parts.errors).join('; ')}`);
    if (parts.policy_templates.length > 0)
      throw invalid(`${POLICY_FILES.policies}: templates are not supported; write static policies`);
    const staticPolicies: Record<string, string> = {};
    for (const text of parts.policies) {
      const json = c.policyToJson(text);
      const id = json.type === 'success' ? json.json.annotations?.id : undefined;
      if (!id)
        throw invalid(
          `${POLICY_FILES.policies}: every policy needs a name, @id("..."); this one has none: ` +
            `${text.slice(0, 80).replace(/\s+/g, ' ')}…`,
        );
      if (staticPolicies[id] !== undefined)
        throw invalid(`${POLICY_FILES.policies}: two policies are named ${JSON.stringify(id)}`);
      staticPolicies[id] = text;
    }
    const validation = c.validate({
      schema: texts.schema,
      policies: { staticPolicies },
      validationSettings: { mode: 'strict' },
    });
    if (validation.type === 'failure')
      throw invalid(`the policies do not validate: ${messages(validation.errors).join('; ')}`);
    if (validation.validationErrors.length > 0) {
      throw invalid(
        `the policies do not validate against ${POLICY_FILES.schema}: ` +
          validation.validationErrors.map((e) => `${e.policyId}: ${e.error.message}`).join('; '),
        { errors: validation.validationErrors },
      );
    }
    const { licenses, embargoes } = await readLicensesAndEmbargoes(dir);
    const engine = new PolicyEngine(dir, texts, staticPolicies, texts.schema, licenses, embargoes);
    if (!preparePolicies(engine.#preparation)) throw invalid('the policies could not be prepared for evaluation');
    engine.upgrade = upgrade;
    return engine;
  }

  license(id: string): License | undefined {
    return this.#licenses.get(id);
  }

  get licenses(): License[] {
    return [...this.#licenses.values()];
  }

  /** The schema and policies, for the decider's worker thread to prepare (src/server/decider.ts). */
  get preparation(): PolicyPreparation {
    return this.#preparation;
  }

  decide(q: ReleaseQuestion): PolicyDecision {
    return evaluatePolicies(this.request(q));
  }

  /** The Cedar question for `q`, against this engine's prepared schema and policies. */
  request(q: ReleaseQuestion): CedarRequest {
    return releaseRequest(q, this.#embargoes, this.#preparation.id);
  }

  /** The decision on an inference call (action `Infer`); never throws: any error denies. */
  decideInfer(q: InferQuestion): PolicyDecision {
    return evaluatePolicies(this.inferRequest(q));
  }

  /** The Cedar question for an inference call (docs/GATE.md, "Decisions"). */
  inferRequest(q: InferQuestion): CedarRequest {
    return inferRequest(q, this.#embargoes, this.#preparation.id);
  }

  /**
   * The license an inference call by `recipient` to the model `digest` runs under: one it holds that
   * lists the digest, in force at `time` (the one that ends last), else the latest of those not in
   * force (so the decision names why), else null.
   */
  licenseFor(recipient: string, digest: string, time: Date): License | null {
    const t = time.getTime();
    const held = this.licenses.filter((l) => l.holder === recipient && l.artifacts.includes(digest));
    const inForce = held.filter((l) => Date.parse(l.notBefore) <= t && t < Date.parse(l.notAfter));
    const byEnd = (a: License, b: License) => Date.parse(b.notAfter) - Date.parse(a.notAfter);
    return inForce.sort(byEnd)[0] ?? held.sort(byEnd)[0] ?? null;
  }
}

/** licenses.json and embargoes.json of `dir`, checked. */
async function readLicensesAndEmbargoes(
  dir: string,
): Promise<{ licenses: Map<string, License>; embargoes: Set<string> }> {
  const licJson = await readJson(join(dir, POLICY_FILES.licenses));
  if (!Array.isArray(licJson.licenses)) throw invalid(`${POLICY_FILES.licenses}: expected {"licenses": [...]}`);
  const licenses = new Map<string, License>();
  licJson.licenses.forEach((l, i) => {
    const lic = checkLicense(l, `${POLICY_FILES.licenses} entry ${i}`);
    if (licenses.has(lic.id)) throw invalid(`${POLICY_FILES.licenses}: license ${lic.id} is listed twice`);
    licenses.set(lic.id, lic);
  });
  const emb = (await readJson(join(dir, POLICY_FILES.embargoes))).destinations;
  if (!isStrings(emb) || !emb.every((d) => COUNTRY.test(d)))
    throw invalid(`${POLICY_FILES.embargoes}: expected {"destinations": ["XX", ...]} with ISO 3166 alpha-2 codes`);
  return { licenses, embargoes: new Set(emb) };
}
