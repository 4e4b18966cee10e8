/**
 * The whole chain from package to inference on one log (issue 23): the tiny llama is sealed for a
 * recipient of the release service (its export logged through `seal --log`), released by the service
 * and opened, the opened weights served by llama.cpp's llama-server, and called through `modelseal gate`
 * (whose --package is the sealed package) on the same data directory with the openai SDK. The log
 * holds export, release, infer-admit and infer-settle, all naming the same model, and verifies.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { tempDir } from '../support/fixtures.js';
import { auditVerifies, gateDir, logEvents, startGateCli, startServeCli, type GateDir } from '../support/gate-cli.js';
import { openaiPython, startLlamaServer, TINY_LLAMA, TINY_LLAMA_NAME, type LlamaPeer } from '../support/llama.js';

let g: GateDir;
let upstream: LlamaPeer | undefined;

beforeAll(() => {
  g = gateDir(tempDir('modelseal-gate-e2e-'), TINY_LLAMA, TINY_LLAMA_NAME);
}, 60_000);

afterAll(async () => {
  await upstream?.close();
});

test('seal → release → open → serve → gate: one log, export to inference', async () => {
  const sealed = join(g.dir, 'sealed.mseal');
  const opened = join(g.dir, 'opened.gguf');
  // 1. The release service alone: the package is sealed for acme (its export logged there) and released.
  const serve = await startServeCli(g);
  try {
    const to = `release:${serve.url}#acme`;
    const seal = g.ms([
      '--json',
      'seal',
      TINY_LLAMA,
      '--to',
      to,
      '--license',
      'L-acme',
      '--log',
      serve.url,
      '-o',
      sealed,
    ]);
    expect(seal.code, seal.stderr).toBe(0);
    const released = g.ms([
      '--json',
      'open',
      sealed,
      '-o',
      opened,
      '--server',
      serve.url,
      '--identity',
      join(g.dir, 'acme.identity'),
      '--destination',
      'DE',
    ]);
    expect(released.code, released.stderr).toBe(0);
  } finally {
    await serve.close();
  }
  expect(readFileSync(opened).equals(readFileSync(TINY_LLAMA))).toBe(true);

  // 2. The opened weights served by llama-server, gated on the same data directory with the sealed package.
  upstream = await startLlamaServer({ model: opened });
  const gate = await startGateCli(g, upstream.url, TINY_LLAMA_NAME, ['--package', sealed]);
  try {
    const r = spawnSync(openaiPython(), ['test/peers/openai-client.py', 'chat', TINY_LLAMA_NAME, '8', 'stream'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, OPENAI_BASE_URL: `${gate.url}/v1`, OPENAI_API_KEY: g.apiKey },
    });
    expect(r.status, r.stderr).toBe(0);
    const answer = JSON.parse(r.stdout) as { text: string; usage: { completion_tokens: number } | null };
    expect(answer.text.length).toBeGreaterThan(0);
    expect(answer.usage?.completion_tokens).toBe(8);
  } finally {
    await gate.close();
  }

  // 3. One log: export, release, admit, settle, in that order, all of the one model.
  const log = (await logEvents(g.data)).map((e) => e.event);
  const exp = log.find((e) => e.type === 'export');
  const rel = log.find((e) => e.type === 'release' && e.decision === 'allow');
  const admit = log.find((e) => e.type === 'infer-admit');
  const settle = log.find((e) => e.type === 'infer-settle');
  expect(exp && rel && admit && settle, JSON.stringify(log.map((e) => e.type))).toBeTruthy();
  const order = [exp, rel, admit, settle].map((e) => log.indexOf(e!));
  expect(order).toEqual([...order].sort((a, b) => a - b));
  if (exp?.type !== 'export' || rel?.type !== 'release' || admit?.type !== 'infer-admit') throw new Error('types');
  if (settle?.type !== 'infer-settle') throw new Error('types');
  expect(exp.artifact).toMatch(/^sha256:[0-9a-f]{64}$/);
  expect(rel.artifact).toBe(exp.artifact);
  expect(admit.artifact).toBe(exp.artifact);
  expect(admit).toMatchObject({ decision: 'allow', recipient: 'acme', license: 'L-acme' });
  expect(settle).toMatchObject({ id: admit.id, outcome: 'completed', estimated: false, tokens: { completion: 8 } });
  auditVerifies(g);
});
