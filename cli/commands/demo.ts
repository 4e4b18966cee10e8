import type { Command } from 'commander';
import { mkdtemp, mkdir, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  ErrorCodes,
  initKeystore,
  isModelsealError,
  loadPublisherKey,
  ModelsealError,
  readLogVerifier,
  type ErrorCode,
  type ReleaseServiceSetup,
} from '../../src/index.js';
import { CommandOutcome, say, type GlobalOptions } from '../util.js';
import { auditStep, evidenceStep, releaseStep, startService } from './demo-release.js';
import { classifyStep, licenseAndSealStep, projectRoot, screenStep, type DemoContext } from './demo-steps.js';
import { traceStep } from './demo-trace.js';

const DEMO_HELP = `
The whole controlled export on embedded defaults, with no server to set up and nothing sent
beyond the loopback interface:
  1. classify   the sample checkpoint: exact parameters, format, determinations and rule packs
  2. screen     import the SAMPLE screening list (samples/lists, fictional parties); register
                acme-labs (Germany); refuse a registrant writing a listed name in Cyrillic
  3. license    issue licenses; seal for acme-labs with a per-recipient fingerprint, the key
     and seal   released only by the release service, the export logged there
  4. release    the service in this process on a free loopback port: acme-labs opens (allowed,
                logged before the key leaves, receipt checked offline); a destination outside
                the license and a recipient of an embargoed nationality are denied, and logged
  5. audit      verify the whole log, list the decisions, export the evidence pack, verify it,
                write the report
  6. trace      a leaked copy (tensors renamed, cast to F32) traced to acme-labs with its bound;
                an unrelated model accuses no one
Each step is told in plain words on stderr; --json prints one summary object on stdout
({steps: {classify, screen, license, seal, release, audit, trace}}). Exit 0 when every step did
what it shows; otherwise the exit code of the first failure, with the summary still printed.

Example:
  modelseal demo --dir ./demo   # keeps the key store, data directory, packages, pack and report`;

type Steps = Record<string, unknown>;

/** An error's message, whatever was thrown. */
const messageOf = (e: unknown): string => (e instanceof Error ? e.message : JSON.stringify(e));

/** Runs `fn` as the step `name`: its outcome, or its error, goes into `steps`; returns the outcome or undefined. */
async function step<T>(steps: Steps, failures: unknown[], name: string, fn: () => Promise<T>): Promise<T | undefined> {
  try {
    const r = await fn();
    steps[name] = r;
    return r;
  } catch (e) {
    failures.push(e);
    const code = isModelsealError(e) ? e.code : 'INTERNAL';
    steps[name] = { error: { code, message: messageOf(e) } };
    process.stderr.write(`modelseal demo: step ${name} failed: ${messageOf(e)}\n`);
    return undefined;
  }
}

/** A fresh key store (no passphrase) and the paths of the demo, in `work`. */
async function context(g: GlobalOptions, work: string): Promise<DemoContext> {
  const root = projectRoot();
  const keys = join(work, 'keys');
  await initKeystore(keys, { logOrigin: 'demo.modelseal.invalid/log' });
  return {
    g,
    sample: join(root, 'samples', 'checkpoint'),
    list: join(root, 'samples', 'lists', 'sample-consolidated.json'),
    work,
    keys,
    data: join(work, 'data'),
    publisher: await loadPublisherKey(join(keys, 'publisher.key')),
    logKey: await readLogVerifier(join(keys, 'log.vkey')),
    registry: join(work, 'fingerprints.jsonl'),
  };
}

/**
 * The license ids in force at the service once it has loaded `ids`: its policy watcher sees the
 * edit by itself; asking it to look now only saves waiting for it. A load already under way when
 * the last edit landed is followed by another, so this asks until the edit is in (at most 10 s).
 */
async function licensesInForce(setup: ReleaseServiceSetup, ids: readonly string[]): Promise<string[]> {
  for (let deadline = Date.now() + 10_000; ;) {
    const inForce = (await setup.policy.check()).licenses.map((l) => l.id);
    if (ids.every((id) => inForce.includes(id))) return inForce;
    if (Date.now() > deadline)
      throw new ModelsealError('POLICY_INVALID', `the service did not load licenses ${ids.join(', ')}: see its log`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The six steps; each failure is collected, and the steps that need what failed are not run. */
async function runSteps(c: DemoContext, steps: Steps, failures: unknown[]): Promise<void> {
  await step(steps, failures, 'classify', () => classifyStep(c));
  const screened = await step(steps, failures, 'screen', () => screenStep(c));
  if (!screened) return;
  const { setup, server } = await startService(c);
  try {
    const sealed = await step(steps, failures, 'license', () =>
      licenseAndSealStep(c, server.url, (ids) => licensesInForce(setup, ids)),
    );
    if (!sealed) return;
    const { sealed: packages, ...license } = sealed;
    steps.license = license;
    steps.seal = packages;
    const byHolder = Object.fromEntries(packages.map((p) => [p.recipient, p.package]));
    const released = await step(steps, failures, 'release', () => releaseStep(c, byHolder, screened.identities));
    const audit = await step(steps, failures, 'audit', () => auditStep(c, setup));
    // The evidence pack and the report go under audit: {evidence, report}, or audit.evidence.error.
    const pack: Steps = {};
    await step(pack, failures, 'evidence', () => evidenceStep(c, setup, audit?.verified ?? null));
    const evidence = pack.evidence as { error: unknown } | Awaited<ReturnType<typeof evidenceStep>>;
    const verified: object = audit ?? (steps.audit as object);
    steps.audit = { ...verified, ...('error' in evidence ? { evidence } : evidence) };
    if (released) await step(steps, failures, 'trace', () => traceStep(c, server.url));
  } finally {
    await server.close();
    await setup.close();
  }
}

/** The work folder: --dir, new or empty (the demo starts from nothing), else a temporary folder. */
async function workFolder(dir: string | undefined): Promise<string> {
  if (dir === undefined) return mkdtemp(join(tmpdir(), 'modelseal-demo-'));
  const work = resolve(dir);
  const there = await readdir(work).catch(() => []);
  if (there.length > 0)
    throw new ModelsealError(
      'OUTPUT_EXISTS',
      `--dir ${work} is not empty: the demo starts from nothing (a new key store, data directory and log); give a ` +
        'new or empty folder, or remove that one',
    );
  await mkdir(work, { recursive: true });
  return work;
}

/** `demo`: the whole controlled export, told step by step. */
export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'the whole controlled export on the bundled sample: classify, screen, license and seal, release (allowed and ' +
        'denied, each logged), audit, trace a leak (no setup; loopback only)',
    )
    .option('--dir <dir>', 'keep every file in this folder (default: a temporary folder, removed afterwards)')
    .addHelpText('after', DEMO_HELP)
    .action(async (o: { dir?: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const work = await workFolder(o.dir);
      const started = Date.now();
      const steps: Steps = {};
      const failures: unknown[] = [];
      try {
        await runSteps(await context(g, work), steps, failures);
      } finally {
        if (!o.dir) await rm(work, { recursive: true, force: true });
      }
      finish(g, { dir: o.dir ? work : null, seconds: (Date.now() - started) / 1000, steps }, failures);
    });
}

/** The summary on stdout (--json) and the last line; a failed step ends with its exit code. */
function finish(g: GlobalOptions, summary: { dir: string | null; seconds: number; steps: Steps }, failures: unknown[]) {
  const first = failures[0];
  if (first === undefined) {
    if (g.json) process.stdout.write(JSON.stringify({ ok: true, command: 'demo', ...summary }) + '\n');
    say(g, summary.dir ? `kept everything in ${summary.dir}` : 'done (temporary files removed; --dir keeps them)');
    return;
  }
  const code: ErrorCode = isModelsealError(first) ? first.code : 'INTERNAL';
  const message = `${failures.length} step${failures.length === 1 ? '' : 's'} failed: ${messageOf(first)}`;
  const exitCode = ErrorCodes[code].exit;
  if (g.json)
    process.stdout.write(
      JSON.stringify({ ok: false, command: 'demo', error: { code, exitCode, message }, ...summary }) + '\n',
    );
  process.stderr.write(`modelseal: error ${code}: ${message}\n`);
  throw new CommandOutcome(exitCode);
}
