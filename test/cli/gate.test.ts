/**
 * `modelseal gate` from the command line (the built bundle): a sealed package's model served
 * through the gateway to a recipient's API key, the start line, the release API on the same
 * listener, the log audited by `audit verify`; usage errors. The model server is the in-process
 * fake here (the real ones: test/unit/gate-llama.test.ts; the OpenAI SDK and curl: brief P's tests).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { tempDir } from '../support/fixtures.js';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.js';
import { gateLicense } from '../support/gate.js';

const BIN = resolve('dist/cli/modelseal.bundle.mjs');
const dir = tempDir('modelseal-cli-gate-');
const keys = join(dir, 'keys');
const data = join(dir, 'data');
const pkg = join(dir, 'checkpoint.mseal');
let fake: FakeUpstream;
let gate: ChildProcess | undefined;
let stderr = '';

function ms(args: string[]) {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` (npm test does)`);
  const r = spawnSync(process.execPath, [BIN, '--keys', keys, ...args], { cwd: dir, maxBuffer: 64 << 20 });
  return { code: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** Starts `modelseal --json gate …` and resolves with its first stdout line (the JSON start object). */
async function startGate(args: string[]): Promise<Record<string, unknown>> {
  gate = spawn(process.execPath, [BIN, '--keys', keys, '--json', 'gate', '--data', data, '--port', '0', ...args], {
    cwd: dir,
  });
  gate.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const first = await new Promise<string>((res, rej) => {
    createInterface({ input: gate!.stdout! }).once('line', res);
    gate!.once('exit', (code) => rej(new Error(`gate exited ${code}: ${stderr}`)));
  });
  return JSON.parse(first) as Record<string, unknown>;
}

beforeAll(async () => {
  fake = await startFakeUpstream();
  expect(ms(['init', '--log-origin', 'cli-gate.test/log']).code).toBe(0);
  const sealed = ms(['--json', 'seal', resolve('samples/checkpoint'), '--to', 'local', '-o', pkg]);
  expect(sealed.code, sealed.stderr).toBe(0);
  const issued = ms(['recipient', 'issue', 'acme-labs', '--data', data, '--org', 'Acme Labs GmbH', '--country', 'DE']);
  expect(issued.code, issued.stderr).toBe(0);
  const key = ms([
    'recipient',
    'key',
    'issue',
    'acme-labs',
    '--data',
    data,
    '--model',
    'tiny-llama',
    '--out',
    'acme.key',
  ]);
  expect(key.code, key.stderr).toBe(0);
}, 60_000);

afterAll(async () => {
  gate?.kill('SIGTERM');
  await fake.close();
});

it('gate --help teaches the typical use', () => {
  const help = ms(['gate', '--help']);
  expect(help.code).toBe(0);
  expect(help.stdout).toContain('--upstream <url>');
  expect(help.stdout).toContain('recipient key issue');
  expect(help.stdout).toContain('x-modelseal-receipt');
});

it('usage errors exit 2 before anything starts', () => {
  expect(ms(['gate', '--model', 'm', '--data', data]).code).toBe(2); // no --upstream
  expect(ms(['gate', '--upstream', fake.url, '--data', data]).code).toBe(2); // no --model
  expect(ms(['gate', '--upstream', 'ftp://x', '--model', 'm', '--data', data]).code).toBe(2);
  expect(ms(['gate', '--upstream', fake.url, '--model', 'm', '--parameters', 'many', '--data', data]).code).toBe(2);
});

it('serves a sealed package to a licensed key, logs the call, and the log audits', async () => {
  const inspected = JSON.parse(ms(['--json', 'inspect', pkg]).stdout) as { model: { rootDigest: string } };
  const digest = inspected.model.rootDigest;
  const started = await startGate(['--upstream', fake.url, '--model', 'tiny-llama', '--package', pkg]);
  expect(started).toMatchObject({
    upstream: fake.url,
    model: { name: 'tiny-llama', digest },
    origin: 'cli-gate.test/log',
  });
  // The license file is written after start: the policy watcher picks it up.
  writeFileSync(
    join(data, 'policy', 'licenses.json'),
    JSON.stringify({ licenses: [gateLicense('L-1', 'acme-labs', digest)] }),
  );
  const url = /serving tiny-llama on (http:\/\/\S+)\/v1/.exec(stderr)![1]!;
  const apiKey = readFileSync(join(dir, 'acme.key'), 'utf8').trim();
  const body = JSON.stringify({ model: 'tiny-llama', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 3 });
  const post = () =>
    fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body,
    });
  let r = await post();
  for (let i = 0; r.status === 403 && i < 50; i++) {
    await new Promise((res) => setTimeout(res, 100)); // until the license is in force
    r = await post();
  }
  expect(r.status).toBe(200);
  expect(r.headers.get('x-modelseal-receipt')).toBeTruthy();
  expect(((await r.json()) as { choices: unknown[] }).choices).toHaveLength(1);
  // The release API answers on the same listener.
  expect(((await (await fetch(`${url}/v1/info`)).json()) as { origin: string }).origin).toBe('cli-gate.test/log');
  gate!.kill('SIGTERM');
  await new Promise((res) => gate!.once('exit', res));
  gate = undefined;
  const audited = ms(['--json', 'audit', 'verify', '--log', join(data, 'log')]);
  expect(audited.code, audited.stderr).toBe(0);
  const listed = ms(['--json', 'gate', 'review', '--log', join(data, 'log')]);
  expect(listed.code, listed.stderr).toBe(0);
  expect(listed.stdout).toContain('acme-labs');
}, 60_000);
