/**
 * Release policy: Cedar (@cedar-policy/cedar-wasm) over a mandatory schema, with named policies,
 * licenses, embargoed destinations and a denied-party list, all plain files the operator edits in
 * a policy directory. Loading validates everything (strict mode) or refuses; deciding never
 * throws: any evaluation error or missing attribute is a deny. docs/POLICY.md.
 */
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { ModelsealError } from '../errors.js';
import { pathExists, writeFileAtomic } from '../io/atomic.js';
import { DENIED_PARTIES, EMBARGOES, LICENSES_EXAMPLE, POLICIES, SCHEMA } from './defaults.js';

type Cedar = typeof import('@cedar-policy/cedar-wasm/nodejs');
/** One Cedar question, as the service asks it: plain data, so it can go to another thread. */
export type CedarRequest = Parameters<Cedar['statefulIsAuthorized']>[0];
/** What Cedar needs to answer questions about one loaded policy directory (docs/POLICY.md). */
export interface PolicyPreparation {
  id: string;
  schema: string;
  policies: Record<string, string>;
}

let cedar: Cedar | undefined;
/** Cedar loads (WebAssembly) only when a policy is used. */
function loadCedar(): Cedar {
  if (cedar) return cedar;
  if (inlinesWasmCallsUnsafely()) setFlagsFromString('--no-turbo-inline-js-wasm-calls');
  cedar = createRequire(import.meta.url)('@cedar-policy/cedar-wasm/nodejs') as Cedar;
  return cedar;
}

/**
 * Whether this V8 aborts the process ("unreachable code", V8_Fatal in
 * Deoptimizer::DoComputeBuiltinContinuation) when optimised JavaScript that inlined a call to a
 * WebAssembly function returning externref is deoptimised while that call runs: TurboFan inlines
 * such calls by default, and the deoptimiser cannot rebuild the frame for an externref result.
 * Every Cedar export returns externref (wasm-bindgen), and Cedar builds its answer through calls
 * back into JavaScript: under load, the decider thread's optimised message handler was
 * invalidated during such a call, and the service died. V8 11.3 (Node 20) and 12.4 (Node 22) do;
 * 13.6 (Node 24) and 14.6 (Node 26) do not (test/unit/wasm-deopt.test.ts). There the inlining is turned off, for
 * the whole process (the decider's thread too), before Cedar's module is compiled: V8 reads the
 * flag whenever it optimises a function, so no optimised code ever holds such a call. This is the
 * one V8 flag a release service sets; README.md, "Supported runtimes".
 */
export function inlinesWasmCallsUnsafely(): boolean {
  return Number(process.versions.v8.split('.')[0]) < 13;
}

export const POLICY_FILES = {
  schema: 'schema.cedarschema',
  policies: 'policies.cedar',
  licenses: 'licenses.json',
  embargoes: 'embargoes.json',
  deniedParties: 'denied-parties.json',
} as const;

export interface License {
  id: string;
  /** The registered recipient the license is granted to. */
  holder: string;
  /** Model root digests ("sha256:…") it covers. */
  artifacts: string[];
  /** Destination countries (ISO 3166 alpha-2). */
  destinations: string[];
  notBefore: string;
  notAfter: string;
  maxReleases: number;
}

export interface RecipientAttributes {
  name: string;
  org: string;
  country: string;
  nationality: string;
}

export interface ReleaseQuestion {
  recipient: RecipientAttributes;
  artifact: string;
  license: License;
  /** Releases already made (or reserved) under the license. */
  used: number;
  destination: string;
  time: Date;
  package: string;
}

export interface PolicyDecision {
  decision: 'allow' | 'deny';
  /** The @id of each policy that decided: the permits for an allow, the forbids for a deny. */
  policies: string[];
  /** Why, in a few words: the deciding forbids, "no-permit", or "evaluation-error". */
  reason: string;
  /** Evaluation errors, if any (they deny). */
  errors: string[];
}

function invalid(message: string, details?: Record<string, unknown>): ModelsealError {
  return new ModelsealError('POLICY_INVALID', message, details ? { details } : undefined);
}

const messages = (errors: ReadonlyArray<{ message: string }>) => errors.map((e) => e.message);

/** Writes the default policy files into `dir` where they are missing; returns the files written. */
export async function initPolicyDir(dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const contents: Record<keyof typeof POLICY_FILES, string> = {
    schema: SCHEMA,
    policies: POLICIES,
    licenses: JSON.stringify(LICENSES_EXAMPLE, null, 2) + '\n',
    embargoes: JSON.stringify(EMBARGOES, null, 2) + '\n',
    deniedParties: JSON.stringify(DENIED_PARTIES, null, 2) + '\n',
  };
  const written: string[] = [];
  for (const [k, name] of Object.entries(POLICY_FILES) as Array<[keyof typeof POLICY_FILES, string]>) {
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
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

function checkLicense(l: unknown, where: string): License {
  const o = (l ?? {}) as Record<string, unknown>;
  const bad = (what: string) => invalid(`${where}: ${what}`);
  if (typeof o.id !== 'string' || !o.id) throw bad('"id" must be a non-empty string');
  if (typeof o.holder !== 'string' || !o.holder) throw bad('"holder" must name a registered recipient');
  if (!isStrings(o.artifacts) || !o.artifacts.every((a) => /^sha256:[0-9a-f]{64}$/.test(a)))
    throw bad('"artifacts" must be a list of model root digests "sha256:<64 hex>"');
  if (!isStrings(o.destinations) || !o.destinations.every((d) => COUNTRY.test(d)))
    throw bad('"destinations" must be a list of ISO 3166 alpha-2 country codes');
  for (const k of ['notBefore', 'notAfter'] as const) {
    if (typeof o[k] !== 'string' || Number.isNaN(Date.parse(o[k] as string)))
      throw bad(`"${k}" must be an ISO 8601 time`);
  }
  if (!Number.isSafeInteger(o.maxReleases) || (o.maxReleases as number) < 0)
    throw bad('"maxReleases" must be a whole number ≥ 0');
  return o as unknown as License;
}

/** A loaded, validated policy directory. */
export class PolicyEngine {
  readonly dir: string;
  /** SHA-256 over every policy file: logged with each decision, so an auditor knows which rules applied. */
  readonly hash: string;
  readonly policyIds: string[];
  readonly #licenses: Map<string, License>;
  readonly #embargoes: Set<string>;
  readonly #denied: string[];
  readonly #preparation: PolicyPreparation;

  private constructor(
    dir: string,
    hash: string,
    staticPolicies: Record<string, string>,
    schema: string,
    licenses: Map<string, License>,
    embargoes: Set<string>,
    denied: string[],
  ) {
    this.dir = dir;
    this.hash = hash;
    this.policyIds = Object.keys(staticPolicies);
    this.#licenses = licenses;
    this.#embargoes = embargoes;
    this.#denied = denied;
    this.#preparation = { id: `modelseal-${hash}`, schema, policies: staticPolicies };
  }

  /** Loads and validates `dir`; throws POLICY_INVALID naming every problem found. */
  static async load(dir: string): Promise<PolicyEngine> {
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
          `${POLICY_FILES.policies}: every policy needs a name, @id("..."); this one has none: ${text.slice(0, 80).replace(/\s+/g, ' ')}…`,
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
        `the policies do not validate against ${POLICY_FILES.schema}: ${validation.validationErrors.map((e) => `${e.policyId}: ${e.error.message}`).join('; ')}`,
        { errors: validation.validationErrors },
      );
    }
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
    const denied = (await readJson(join(dir, POLICY_FILES.deniedParties))).parties;
    if (!isStrings(denied)) throw invalid(`${POLICY_FILES.deniedParties}: expected {"parties": ["name", ...]}`);
    const hash = createHash('sha256');
    for (const f of Object.keys(POLICY_FILES) as Array<keyof typeof POLICY_FILES>)
      hash.update(`${f}\n${texts[f].length}\n`).update(texts[f]);
    const engine = new PolicyEngine(
      dir,
      hash.digest('hex'),
      staticPolicies,
      texts.schema,
      licenses,
      new Set(emb),
      denied.map((d) => d.toLowerCase()),
    );
    if (!preparePolicies(engine.#preparation)) throw invalid('the policies could not be prepared for evaluation');
    return engine;
  }

  license(id: string): License | undefined {
    return this.#licenses.get(id);
  }

  get licenses(): License[] {
    return [...this.#licenses.values()];
  }

  /** Screening against the denied-party list: "clear", or "hit". */
  screen(r: RecipientAttributes): 'clear' | 'hit' {
    return this.#denied.includes(r.name.toLowerCase()) || this.#denied.includes(r.org.toLowerCase()) ? 'hit' : 'clear';
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
    const E = (type: string, id: string) => ({ type: `Modelseal::${type}`, id });
    const seconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);
    return {
      principal: E('Recipient', q.recipient.name),
      action: E('Action', 'release'),
      resource: E('Artifact', q.artifact),
      context: {
        license: { __entity: E('License', q.license.id) },
        destination: q.destination,
        time: Math.floor(q.time.getTime() / 1000),
        embargoed: this.#embargoes.has(q.destination),
        screening: this.screen(q.recipient),
        package: q.package,
      },
      preparsedSchemaName: this.#preparation.id,
      preparsedPolicySetId: this.#preparation.id,
      validateRequest: true,
      entities: [
        {
          uid: E('Recipient', q.recipient.name),
          attrs: { org: q.recipient.org, country: q.recipient.country, nationality: q.recipient.nationality },
          parents: [],
        },
        { uid: E('Artifact', q.artifact), attrs: { digest: q.artifact }, parents: [] },
        {
          uid: E('License', q.license.id),
          attrs: {
            holder: { __entity: E('Recipient', q.license.holder) },
            artifacts: q.license.artifacts,
            destinations: q.license.destinations,
            notBefore: seconds(q.license.notBefore),
            notAfter: seconds(q.license.notAfter),
            maxReleases: q.license.maxReleases,
            used: q.used,
          },
          parents: [],
        },
      ],
    };
  }
}

/** Parses the schema and policies into this thread's Cedar under their id; false when Cedar refuses. */
export function preparePolicies(p: PolicyPreparation): boolean {
  const c = loadCedar();
  return (
    c.preparseSchema(p.id, p.schema).type === 'success' &&
    c.preparsePolicySet(p.id, { staticPolicies: p.policies }).type === 'success'
  );
}

/** Answers a Cedar question; never throws: any error, or a question about unprepared policies, denies. */
export function evaluatePolicies(call: CedarRequest): PolicyDecision {
  let answer;
  try {
    answer = loadCedar().statefulIsAuthorized(call);
  } catch (e) {
    return { decision: 'deny', policies: [], reason: 'evaluation-error', errors: [(e as Error).message] };
  }
  if (answer.type === 'failure')
    return { decision: 'deny', policies: [], reason: 'evaluation-error', errors: messages(answer.errors) };
  const { decision, diagnostics } = answer.response;
  const errors = diagnostics.errors.map((e) => `${e.policyId}: ${e.error.message}`);
  // Cedar lists the deciding policies in no fixed order (it differs between two Cedar instances):
  // sorted, the same request gets the same log entry.
  const deciding = [...diagnostics.reason].sort();
  if (decision === 'allow' && errors.length === 0)
    return { decision: 'allow', policies: deciding, reason: 'licensed', errors };
  const policies = decision === 'deny' ? deciding : [];
  return {
    decision: 'deny',
    policies,
    reason: errors.length ? 'evaluation-error' : policies.length ? policies.join(',') : 'no-permit',
    errors,
  };
}

/** Whether the policy files on disk are the ones in force (docs/POLICY.md, "Edits while serving"). */
export interface PolicyStatus {
  /** "ok": the files validate and are in force; "invalid": they do not, and the last good set stays in force. */
  status: 'ok' | 'invalid';
  /** The SHA-256 policy-set hash in force (logged with every decision). */
  hash: string;
  /** Since when the status holds (ISO 8601). */
  since: string;
  /** Why the files on disk do not validate (status "invalid"). */
  error?: string;
}

/**
 * The current policy of a directory the operator edits while the service runs. Every change is
 * validated as soon as it is seen — fs.watch on the directory, and a stat of the files every
 * `pollMs` (default 1 s) where watching is not reliable (network file systems, editors that swap
 * files) — so a broken edit is reported at once (`onError`, `status`), not at the next request.
 * Files that do not validate leave the last good policy in force.
 */
export class PolicyWatcher {
  #engine: PolicyEngine;
  #stamp: string;
  #loading: Promise<PolicyEngine> | null = null;
  #again = false;
  #status: PolicyStatus;
  readonly #onError: (e: unknown) => void;
  readonly #onChange: ((s: PolicyStatus) => void) | undefined;
  #watcher: FSWatcher | undefined;
  #poll: NodeJS.Timeout | undefined;
  #debounce: NodeJS.Timeout | undefined;

  private constructor(
    engine: PolicyEngine,
    stamp: string,
    onError: (e: unknown) => void,
    onChange?: (s: PolicyStatus) => void,
  ) {
    this.#engine = engine;
    this.#stamp = stamp;
    this.#onError = onError;
    this.#onChange = onChange;
    this.#status = { status: 'ok', hash: engine.hash, since: new Date().toISOString() };
  }

  /**
   * Loads `dir` (throws POLICY_INVALID when it does not validate) and watches it. `onError` hears
   * every edit that does not validate, `onChange` every change of status or of the set in force.
   */
  static async open(
    dir: string,
    onError: (e: unknown) => void = () => {},
    opts: { pollMs?: number; onChange?: (s: PolicyStatus) => void } = {},
  ): Promise<PolicyWatcher> {
    const stamp = await stampOf(dir);
    const w = new PolicyWatcher(await PolicyEngine.load(dir), stamp, onError, opts.onChange);
    w.#watch(opts.pollMs ?? 1000);
    return w;
  }

  #watch(pollMs: number): void {
    try {
      this.#watcher = watch(this.#engine.dir, { persistent: false }, () => {
        // Editors write in steps: look once the burst of events is over.
        clearTimeout(this.#debounce);
        this.#debounce = setTimeout(() => void this.check(), 50);
        this.#debounce.unref();
      });
      this.#watcher.on('error', () => this.#watcher?.close());
    } catch {
      // No watching here: the periodic stat below still sees every change.
    }
    this.#poll = setInterval(() => void this.check(), pollMs);
    this.#poll.unref();
  }

  /** Looks at the files now; loads and validates them if they changed. Resolves to the policy in force. */
  check(): Promise<PolicyEngine> {
    if (this.#loading) {
      this.#again = true;
      return this.#loading;
    }
    this.#loading = this.#reload().finally(() => {
      this.#loading = null;
      if (this.#again) {
        this.#again = false;
        void this.check();
      }
    });
    return this.#loading;
  }

  /** The policy in force now. Requests that arrive while an edit is being loaded wait for it. */
  current(): Promise<PolicyEngine> {
    return this.#loading ?? Promise.resolve(this.#engine);
  }

  async #reload(): Promise<PolicyEngine> {
    const stamp = await stampOf(this.#engine.dir);
    if (stamp === this.#stamp) return this.#engine;
    this.#stamp = stamp;
    try {
      const engine = await PolicyEngine.load(this.#engine.dir);
      const changed = engine.hash !== this.#engine.hash || this.#status.status !== 'ok';
      this.#engine = engine;
      if (changed) {
        this.#status = { status: 'ok', hash: engine.hash, since: new Date().toISOString() };
        this.#onChange?.(this.status);
      }
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      if (this.#status.status !== 'invalid' || this.#status.error !== error) {
        this.#status = { status: 'invalid', hash: this.#engine.hash, since: new Date().toISOString(), error };
        this.#onChange?.(this.status);
      }
      this.#onError(e);
    }
    return this.#engine;
  }

  /** Whether the files on disk are in force, and the hash of the set that is. */
  get status(): PolicyStatus {
    return { ...this.#status };
  }

  /** The last loaded policy, without checking the files. */
  get engine(): PolicyEngine {
    return this.#engine;
  }

  /** Stops watching. */
  close(): void {
    this.#watcher?.close();
    clearInterval(this.#poll);
    clearTimeout(this.#debounce);
  }
}

async function stampOf(dir: string): Promise<string> {
  const parts = await Promise.all(
    Object.values(POLICY_FILES).map((f) =>
      stat(join(dir, f)).then(
        (s) => `${s.mtimeMs}:${s.size}`,
        () => 'missing',
      ),
    ),
  );
  return parts.join('|');
}
