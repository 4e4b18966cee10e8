/**
 * `modelseal gate review` over a real log (TransparencyLog on a file store) holding synthetic
 * inference entries appended through src/log: usage per caller, the risk with its evidence, the
 * period, one caller, the advice (never an action), and no prompt content anywhere in the output.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  encodeEvent,
  NoteSigner,
  openLogStore,
  Pseudonymizer,
  TransparencyLog,
  type GateReview,
  type LogEvent,
} from '../../src/index.js';
import { cli } from '../support/cli.js';
import { tempDir } from '../support/fixtures.js';
import { prng } from '../support/prng.js';
import { benignCaller, callEvents, extractionCaller, interleave } from '../support/traffic.js';

const dir = tempDir('modelseal-cli-gate-review-');
const logDir = join(dir, 'log');
const vkey = join(dir, 'log.vkey');
const ms = cli(join(dir, 'keys'), dir);

const r = prng(23);
const mallory = extractionCaller(r, 'mallory', 40, 'templated');
const alice = benignCaller(r, 'alice', 40);
const calls = interleave(r, [mallory, alice]);
// Eve is logged as a pseudonym (the service's pseudonym key), after the others.
const pseudonymKey = join(dir, 'pseudonym.key');
const secret = randomBytes(32);
writeFileSync(pseudonymKey, secret.toString('base64url') + '\n');
const eve = new Pseudonymizer(secret).of('eve');
const eveCalls = extractionCaller(r, eve, 30, 'templated');
/** Pieces of 16 characters of every prompt: none may appear in the review. */
const promptPieces = new Set(
  calls.flatMap((c) =>
    Array.from({ length: Math.floor(c.prompt.length / 16) }, (_, i) => c.prompt.slice(16 * i, 16 * i + 16)),
  ),
);

beforeAll(async () => {
  const signer = NoteSigner.generate('gate-review.test/log');
  writeFileSync(vkey, signer.verifierKey + '\n');
  mkdirSync(join(dir, 'keys'), { recursive: true });
  writeFileSync(join(dir, 'keys', 'log.vkey'), signer.verifierKey + '\n');
  const log = new TransparencyLog(await openLogStore(logDir), signer, { commitIntervalMs: 0 });
  const append = async (e: LogEvent) => (await log.append(encodeEvent(e))).index;
  // One day per ten calls from 2026-12-01; every fifth call of mallory's is denied (quota), none settled.
  let i = 0;
  for (const call of calls) {
    const time = new Date(Date.UTC(2026, 11, 1 + Math.floor(i++ / 10)));
    const [admit, settle] = callEvents(call, time);
    const denied = call.caller === 'mallory' && i % 5 === 0;
    const index = await append(denied ? { ...admit, decision: 'deny', reason: 'quota-exhausted' } : admit);
    if (!denied) await append({ ...settle, admit: index, estimated: call.caller === 'alice' && i % 2 === 0 });
  }
  // Two calls nobody could be identified for (no key): refused, counted apart.
  for (const id of ['f1', 'f2']) {
    const [admit] = callEvents({ ...alice[0]!, caller: 'x' }, new Date(Date.UTC(2026, 11, 2)));
    await append({
      ...admit,
      id: id.repeat(16),
      recipient: null,
      key: null,
      decision: 'deny',
      reason: 'unauthenticated',
    });
  }
  for (const call of eveCalls) {
    const [admit, settle] = callEvents(call, new Date(Date.UTC(2026, 11, 20)));
    await append({ ...settle, admit: await append(admit) });
  }
  await log.close();
});

const review = (...flags: string[]) => ms(['--json', 'gate', 'review', '--log', logDir, '--log-key', vkey, ...flags]);
/** The review's JSON object (`gate review --json`). */
type ReviewJson = GateReview & {
  ok: boolean;
  command: string;
  alarm: number;
  advice: { caller: string; score: number; commands: string[] }[];
};
const json = (...flags: string[]): ReviewJson => {
  const run = review(...flags);
  expect(run.code, run.stderr).toBe(0);
  return run.json() as ReviewJson;
};
const of = (out: ReviewJson, caller: string) => out.callers.find((c) => c.caller === caller)!;

describe('gate review', () => {
  it('reports use and risk per caller, riskiest first, with the evidence', () => {
    const out = json('--data', '/srv/modelseal');
    expect(out).toMatchObject({ ok: true, command: 'gate review', alarm: 0.5, since: null, until: null });
    expect(out.unauthenticated).toBe(2);
    expect(out.callers.map((c) => c.caller).sort()).toEqual([eve, 'alice', 'mallory'].sort());
    expect(out.callers.at(-1)!.caller).toBe('alice');
    const [m, a] = [of(out, 'mallory'), of(out, 'alice')];
    const mCalls = mallory.length;
    expect(m.calls.allowed + m.calls.denied).toBe(mCalls);
    expect(m.calls.denied).toBeGreaterThan(0);
    expect(m.denials).toEqual({ 'quota-exhausted': m.calls.denied });
    expect(m.outcomes).toEqual({ completed: m.calls.allowed });
    expect(a.calls).toEqual({ allowed: alice.length, denied: 0 });
    expect(a.tokens.prompt).toBe(alice.reduce((s, c) => s + c.promptTokens, 0));
    expect(a.tokens.completion).toBe(alice.reduce((s, c) => s + c.completionTokens, 0));
    expect(BigInt(a.flops)).toBe(
      alice.reduce((s, c) => s + BigInt(2 * 1_000_000 * (c.promptTokens + c.completionTokens)), 0n),
    );
    expect(a.estimatedShare).toBeGreaterThan(0.3);
    expect(m.estimatedShare).toBe(0);
    expect(out.callers.reduce((sum, c) => sum + c.tokenShare, 0)).toBeCloseTo(1, 10);
    expect(m.keys).toEqual(['key-mallory']);
    expect(m.risk.score).toBeGreaterThanOrEqual(0.5);
    expect(m.risk.signals.filter((s) => s.fired).map((s) => s.name)).toEqual(
      expect.arrayContaining(['template-reuse', 'output-ratio', 'cot-rate']),
    );
    expect(a.risk.score).toBe(0);
    expect(m.templates[0]!.id).toMatch(/^tpl-[0-9a-f]{12}$/);
    expect(out.advice.map((x) => x.caller).sort()).toEqual([eve, 'mallory'].sort());
    expect(out.advice.find((x) => x.caller === 'mallory')).toEqual({
      caller: 'mallory',
      score: m.risk.score,
      commands: [
        'modelseal recipient key revoke key-mallory --data /srv/modelseal',
        'modelseal recipient revoke mallory --data /srv/modelseal',
      ],
    });
  });

  it('counts use over --since/--until, while the risk weighs the history before the period', () => {
    const all = json();
    const late = json('--since', '2026-12-06');
    const [lateM, allM] = [of(late, 'mallory'), of(all, 'mallory')];
    expect(late.since).toBe('2026-12-06T00:00:00.000Z');
    expect(lateM.calls.allowed + lateM.calls.denied).toBeLessThan(allM.calls.allowed + allM.calls.denied);
    expect(lateM.risk).toEqual(allM.risk);
    const early = json('--until', '2026-12-02');
    expect(early.entries).toBeLessThan(all.entries);
    expect(json('--until', '2026-11-01').callers).toEqual([]);
  });

  it('reviews one caller with --recipient, also logged as a pseudonym with --pseudonym-key', () => {
    expect(json('--recipient', 'alice').callers.map((c) => c.caller)).toEqual(['alice']);
    expect(json('--recipient', 'alice').advice).toEqual([]);
    expect(json('--recipient', 'eve').callers).toEqual([]);
    const named = json('--recipient', 'eve', '--pseudonym-key', pseudonymKey);
    expect(named.callers.map((c) => c.caller)).toEqual([eve]);
    expect(named.callers[0]!.calls.allowed).toBe(30);
    // The advice names the recipient given, not its pseudonym.
    expect(named.advice[0]!.commands.at(-1)).toBe('modelseal recipient revoke eve');
  });

  it('prints the report and the advice for people, and no prompt content in either form', () => {
    const text = ms(['gate', 'review', '--log', logDir, '--log-key', vkey]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^mallory: risk 0\.\d\d, \d+ allowed, \d+ denied$/m);
    expect(text.stdout).toMatch(/^ {2}FIRED template-reuse 0\.\d\d \(threshold 0\.5\): \d+ of the last \d+ prompts/m);
    expect(text.stdout).toMatch(/^ {2}denials: quota-exhausted \d+$/m);
    expect(text.stdout).toMatch(/a person decides, nothing was revoked/);
    expect(text.stdout).toMatch(/^2 call\(s\) from no recipient \(refused unidentified\)$/m);
    expect(text.stdout).toMatch(/^ {2}modelseal recipient revoke mallory$/m);
    expect(text.stdout).not.toMatch(/recipient revoke alice/);
    for (const out of [text.stdout, review().stdout]) for (const p of promptPieces) expect(out).not.toContain(p);
    expect(promptPieces.size).toBeGreaterThan(200);
  });

  it("takes the log key from the key store's log.vkey without --log-key", () => {
    const run = ms(['--json', 'gate', 'review', '--log', logDir]);
    expect(run.code, run.stderr).toBe(0);
    expect((run.json() as ReviewJson).callers).toHaveLength(3);
  });

  it('refuses a bad time (exit 2) and a log signed by another key', () => {
    expect(review('--since', 'yesterday').code).toBe(2);
    const other = join(dir, 'other.vkey');
    writeFileSync(other, NoteSigner.generate('gate-review.test/log').verifierKey + '\n');
    const run = ms(['--json', 'gate', 'review', '--log', logDir, '--log-key', other]);
    expect(run.code).toBe(12);
    expect(run.json().error).toMatchObject({ code: 'LOG_INVALID', message: /not signed by a trusted key/ });
  });
});
