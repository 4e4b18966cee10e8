/**
 * `modelseal gate` as an operator runs it, for the real-client tests (test/interop/gate-*.test.ts): a data
 * directory with a registered recipient, its license and API key made through the built CLI, the
 * gateway started as its own process (`node dist/... gate`), and the log's gate entries read back.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { expect } from 'vitest';
import { BIN, cli, type CliRun } from './cli.js';
import { openLogStore } from '../../src/log/open.js';
import { storeEvents, type InferAdmitEvent, type InferSettleEvent, type LogEvent } from '../../src/log/events.js';
import { within } from './wait.js';

/** A data directory set up for one caller of one gated model. */
export interface GateDir {
  dir: string;
  keys: string;
  data: string;
  /** The sealed package of the served model (`gate --package`). */
  pkg: string;
  /** The caller's API key (read from its --out file; never put on a command line). */
  apiKey: string;
  ms: (args: string[]) => CliRun;
}

/**
 * In `dir`: a key store, recipient `acme` (DE; its identity in acme.identity), the model file sealed for
 * the key store (model.mseal, for --package), a license for acme on the model, and an API key for acme
 * scoped to `model`.
 */
export function gateDir(dir: string, modelFile: string, model: string): GateDir {
  const keys = join(dir, 'keys');
  const data = join(dir, 'data');
  const pkg = join(dir, 'model.mseal');
  const ms = cli(keys, dir);
  const ok = (r: CliRun) => expect(r.code, r.stderr).toBe(0);
  ok(ms(['init']));
  const who = ['recipient', 'issue', 'acme', '--org', 'Acme Labs', '--country', 'DE', '--nationality', 'DE'];
  ok(ms([...who, '--data', data, '-o', join(dir, 'acme.identity')]));
  ok(ms(['seal', modelFile, '--to', 'local', '-o', pkg]));
  ok(ms(['license', 'issue', 'L-acme', '--holder', 'acme', '--model', pkg, '--destination', 'DE', '--data', data]));
  const keyFile = join(dir, 'acme.key');
  ok(ms(['recipient', 'key', 'issue', 'acme', '--model', model, '--out', keyFile, '--data', data]));
  return { dir, keys, data, pkg, apiKey: readFileSync(keyFile, 'utf8').trim(), ms };
}

/** A running `modelseal gate` or `serve`: its base URL (no /v1), and how to stop it. */
export interface RunningGate {
  url: string;
  /** Its stderr so far (the last 8 KiB). */
  log(): string;
  /** Stops it (SIGTERM) and waits until it has exited, its log store closed. */
  close(): Promise<void>;
}

/** Runs `modelseal --keys <keys> --json ...args` in `g.dir` until its first line on stdout, which names its URL. */
async function startServing(g: GateDir, args: string[]): Promise<RunningGate> {
  const child = spawn(process.execPath, [BIN, '--keys', g.keys, '--json', ...args], {
    cwd: g.dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stderr.on('data', (b: Buffer) => (log = (log + b.toString()).slice(-8192)));
  const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
  const first = await new Promise<string>((ok, fail) => {
    createInterface({ input: child.stdout }).once('line', ok);
    void exited.then(() =>
      fail(new Error(`modelseal ${args[0]} exited (${child.exitCode ?? child.signalCode}): ${log}`)),
    );
  });
  const said = JSON.parse(first) as { url?: string };
  if (typeof said.url !== 'string') {
    child.kill('SIGTERM');
    throw new Error(`modelseal ${args[0]} printed no url: ${first}; ${log}`);
  }
  const url = said.url.replace(/\/v1\/?$/, '').replace(/\/$/, '');
  return {
    url,
    log: () => log,
    close: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

/** Starts `modelseal --json gate --upstream <upstream> --model <model> --data <data> --port 0 ...args`. */
export function startGateCli(g: GateDir, upstream: string, model: string, args: string[] = []): Promise<RunningGate> {
  return startServing(g, ['gate', '--upstream', upstream, '--model', model, '--data', g.data, '--port', '0', ...args]);
}

/** Starts `modelseal --json serve --data <data> --port 0` (the release service alone). */
export function startServeCli(g: GateDir): Promise<RunningGate> {
  return startServing(g, ['serve', '--data', g.data, '--port', '0']);
}

/** One gated call as the log holds it. */
export interface LoggedCall {
  admit: InferAdmitEvent & { index: number };
  settle: InferSettleEvent & { index: number };
}

/** Every modelseal event of the log in `data` (read-only, beside a running server), with its index, in log order. */
export async function logEvents(data: string): Promise<{ index: number; event: LogEvent }[]> {
  const store = await openLogStore(join(data, 'log'), 'read');
  const out: { index: number; event: LogEvent }[] = [];
  try {
    for await (const { index, event } of storeEvents(store)) if (event) out.push({ index, event });
  } finally {
    await store.close();
  }
  return out;
}

/** The gate entries of the log in `data`, in log order. */
export async function gateEntries(
  data: string,
): Promise<{ admits: LoggedCall['admit'][]; settles: LoggedCall['settle'][] }> {
  const admits: LoggedCall['admit'][] = [];
  const settles: LoggedCall['settle'][] = [];
  for (const { index, event } of await logEvents(data)) {
    if (event.type === 'infer-admit') admits.push({ ...event, index });
    if (event.type === 'infer-settle') settles.push({ ...event, index });
  }
  return { admits, settles };
}

/**
 * Waits until the log holds `n` admit entries and the settle entry of the last one (a call settles
 * when its answer is complete, which the client may see first), and returns that call.
 */
export async function nthCall(data: string, n: number): Promise<LoggedCall> {
  return within(15_000, `admit entry ${n} and its settle entry in ${data}`, async () => {
    const { admits, settles } = await gateEntries(data);
    if (admits.length > n) throw new Error(`${admits.length} admit entries, expected ${n}`);
    const admit = admits[n - 1];
    const settle = admit && settles.find((s) => s.id === admit.id);
    return admit && settle ? { admit, settle } : undefined;
  });
}

/** `modelseal audit verify` on the data directory's log passes. */
export function auditVerifies(g: GateDir): void {
  const r = g.ms(['audit', 'verify', '--log', join(g.data, 'log')]);
  expect(r.code, r.stdout + r.stderr).toBe(0);
}

/**
 * Runs curl with the API key in a config read from stdin (`-K -`), never on its command line:
 * POST `body` to `url`; returns the body and status.
 */
export function curlPost(url: string, apiKey: string, body: object): { status: number; body: string } {
  const config = `header = "Authorization: Bearer ${apiKey}"\n`;
  const r = spawnSync(
    'curl',
    ['-sS', '-N', '-K', '-', '-H', 'content-type: application/json', '--data-binary', JSON.stringify(body)].concat([
      '-w',
      '\n%{http_code}',
      url,
    ]),
    { input: config, encoding: 'utf8', maxBuffer: 16 << 20 },
  );
  if (r.status !== 0) throw new Error(`curl failed (${r.status}): ${r.stderr}`);
  const cut = r.stdout.lastIndexOf('\n');
  return { status: Number(r.stdout.slice(cut + 1)), body: r.stdout.slice(0, cut) };
}
