/**
 * Real clients through `modelseal gate` (issue 23): the openai Python SDK and curl, plain and streamed,
 * call the built CLI's gateway in front of llama.cpp's llama-server; every call is admitted and settled
 * on the log with the upstream's token counts, and `audit verify` passes. Then the same data directory
 * behind a gateway in front of llama-cpp-python's server, whose streams carry no usage: the settle
 * entry says the tokens were estimated.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { tempDir } from '../support/fixtures.js';
import {
  auditVerifies,
  curlPost,
  gateDir,
  gateEntries,
  nthCall,
  startGateCli,
  type GateDir,
  type RunningGate,
} from '../support/gate-cli.js';
import {
  openaiPython,
  startLlamaCppPython,
  startLlamaServer,
  TINY_LLAMA,
  TINY_LLAMA_NAME,
  type LlamaPeer,
} from '../support/llama.js';
import { parseSse, streamedText } from '../support/sse.js';

const MAX = 8;
const CLIENT = 'test/peers/openai-client.py';

interface SdkAnswer {
  text: string;
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number } | null;
  chunks?: number;
  error?: { status: number; body: unknown };
}

/** One call through the openai SDK, its base URL and API key in the environment (never argv). */
function sdk(gate: RunningGate, apiKey: string, endpoint: 'chat' | 'completions', mode: 'plain' | 'stream'): SdkAnswer {
  const r = spawnSync(openaiPython(), [CLIENT, endpoint, TINY_LLAMA_NAME, String(MAX), mode], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, OPENAI_BASE_URL: `${gate.url}/v1`, OPENAI_API_KEY: apiKey },
  });
  expect(r.status, r.stderr).toBe(0);
  expect(r.stderr).not.toContain(apiKey);
  return JSON.parse(r.stdout) as SdkAnswer;
}

let g: GateDir;
let calls = 0;

beforeAll(() => {
  g = gateDir(tempDir('modelseal-gate-clients-'), TINY_LLAMA, TINY_LLAMA_NAME);
}, 60_000);

/** Starts `start()`'s upstream and `modelseal gate` in front of it (with the sealed package) for a block. */
function useGate(start: () => Promise<LlamaPeer>): () => RunningGate {
  let upstream: LlamaPeer | undefined;
  let gate: RunningGate | undefined;
  beforeAll(async () => {
    upstream = await start();
    gate = await startGateCli(g, upstream.url, TINY_LLAMA_NAME, ['--package', g.pkg]);
  });
  afterAll(async () => {
    await gate?.close();
    await upstream?.close();
  });
  return () => {
    if (!gate) throw new Error('the gateway did not start (see the error of the hook)');
    return gate;
  };
}

describe('in front of llama-server', () => {
  const gated = useGate(() => startLlamaServer());

  /** The call just made is on the log: admitted under the license, settled with the upstream's usage. */
  async function logged(stream: boolean, endpoint: string, completion = MAX) {
    const { admit, settle } = await nthCall(g.data, ++calls);
    expect(admit).toMatchObject({ decision: 'allow', recipient: 'acme', model: TINY_LLAMA_NAME, endpoint });
    expect(admit.license).toBe('L-acme');
    expect(admit.artifact).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(settle).toMatchObject({ outcome: 'completed', status: 200, stream, estimated: false, admit: admit.index });
    expect(settle.tokens.completion).toBe(completion);
    expect(settle.index).toBeGreaterThan(admit.index);
    // FLOPs ≈ 2 × parameters × tokens, with the package's parameter count (4,178,240).
    const tokens = settle.tokens.prompt + settle.tokens.completion;
    expect(BigInt(settle.flops)).toBe(2n * 4_178_240n * BigInt(tokens));
    return { admit, settle };
  }

  test('the openai SDK: a plain chat completion', async () => {
    const gate = gated();
    const a = sdk(gate, g.apiKey, 'chat', 'plain');
    expect(a.error).toBeUndefined();
    expect(a.text.length).toBeGreaterThan(0);
    expect(a.usage?.completion_tokens).toBe(MAX);
    const { settle } = await logged(false, 'chat.completions');
    expect(settle.tokens.prompt).toBe(a.usage?.prompt_tokens);
  });

  test('the openai SDK: a streamed chat completion, with the usage chunk it asked for', async () => {
    const gate = gated();
    const a = sdk(gate, g.apiKey, 'chat', 'stream');
    expect(a.error).toBeUndefined();
    expect(a.text.length).toBeGreaterThan(0);
    expect(a.chunks).toBeGreaterThan(MAX);
    expect(a.usage?.completion_tokens).toBe(MAX);
    const { settle } = await logged(true, 'chat.completions');
    expect(settle.tokens.prompt).toBe(a.usage?.prompt_tokens);
  });

  test('the openai SDK: completions, plain and streamed', async () => {
    const gate = gated();
    const plain = sdk(gate, g.apiKey, 'completions', 'plain');
    expect(plain.text.length).toBeGreaterThan(0);
    await logged(false, 'completions');
    const streamed = sdk(gate, g.apiKey, 'completions', 'stream');
    expect(streamed.text.length).toBeGreaterThan(0);
    expect(streamed.usage?.completion_tokens).toBe(MAX);
    await logged(true, 'completions');
  });

  test('curl: a plain chat completion', async () => {
    const gate = gated();
    const body = { model: TINY_LLAMA_NAME, messages: [{ role: 'user', content: 'Hello' }], max_tokens: MAX };
    const r = curlPost(`${gate.url}/v1/chat/completions`, g.apiKey, body);
    expect(r.status, r.body).toBe(200);
    const j = JSON.parse(r.body) as {
      choices: { message: { content: string } }[];
      usage: { completion_tokens: number };
    };
    expect(j.choices[0]!.message.content.length).toBeGreaterThan(0);
    expect(j.usage.completion_tokens).toBe(MAX);
    await logged(false, 'chat.completions');
  });

  test('curl: a streamed chat without include_usage gets no usage chunk, yet the call is metered', async () => {
    const gate = gated();
    const body = { model: TINY_LLAMA_NAME, messages: [{ role: 'user', content: 'Hello' }], max_tokens: MAX };
    const r = curlPost(`${gate.url}/v1/chat/completions`, g.apiKey, { ...body, stream: true });
    expect(r.status, r.body).toBe(200);
    const { events, done } = parseSse(r.body) as { events: { usage?: unknown; choices: unknown[] }[]; done: boolean };
    expect(done).toBe(true);
    expect(events.filter((e) => e.usage != null)).toEqual([]);
    expect(events.every((e) => e.choices.length === 1)).toBe(true);
    expect(streamedText(events).length).toBeGreaterThan(0);
    await logged(true, 'chat.completions');
  });

  test('a request without a key is refused in OpenAI error format and logs no admission', async () => {
    const gate = gated();
    const before = (await gateEntries(g.data)).admits.length;
    const r = await fetch(`${gate.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: TINY_LLAMA_NAME, messages: [{ role: 'user', content: 'x' }], max_tokens: 1 }),
    });
    expect(r.status).toBe(401);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe('missing_api_key');
    // An unauthenticated request may be logged as a denial (recipient null); never as an allowed call.
    const { admits } = await gateEntries(g.data);
    expect(admits.slice(before).filter((a) => a.decision === 'allow')).toEqual([]);
    calls = admits.length;
  });

  test('the openai SDK with a key revoked while the gateway runs: refused on its next call, 401 in OpenAI form', async () => {
    const gate = gated();
    const file = join(g.dir, 'acme-2.key');
    const issued = g.ms([
      'recipient',
      'key',
      'issue',
      'acme',
      '--model',
      TINY_LLAMA_NAME,
      '--out',
      file,
      '--data',
      g.data,
    ]);
    expect(issued.code, issued.stderr).toBe(0);
    const key = readFileSync(file, 'utf8').trim();
    expect(sdk(gate, key, 'chat', 'plain').error).toBeUndefined();
    await logged(false, 'chat.completions');
    const id = /^msk_([0-9a-f]{16})_/.exec(key)![1]!;
    const revoked = g.ms(['recipient', 'key', 'revoke', id, '--data', g.data]);
    expect(revoked.code, revoked.stderr).toBe(0);
    const refused = sdk(gate, key, 'chat', 'plain');
    expect(refused.error?.status).toBe(401);
    expect(refused.error?.body).toMatchObject({ code: 'invalid_api_key' });
    // The other key of the same recipient still calls.
    expect(sdk(gate, g.apiKey, 'chat', 'plain').error).toBeUndefined();
    const { admits } = await gateEntries(g.data);
    expect(admits.filter((a) => a.decision === 'allow' && a.key === id)).toHaveLength(1);
    calls = admits.length;
  });

  test('audit verify passes on the log of these calls', () => {
    auditVerifies(g);
  });
});

describe("in front of llama-cpp-python's server (no usage in its streams)", () => {
  const gated = useGate(() => startLlamaCppPython());

  test('a streamed call is settled with estimated tokens; a plain one with the usage it sent', async () => {
    const gate = gated();
    const streamed = sdk(gate, g.apiKey, 'chat', 'stream');
    expect(streamed.error).toBeUndefined();
    expect(streamed.text.length).toBeGreaterThan(0);
    const s = await nthCall(g.data, ++calls);
    expect(s.settle).toMatchObject({ outcome: 'completed', stream: true, estimated: true });
    expect(s.settle.tokens.completion).toBeGreaterThan(0);
    expect(s.settle.tokens.prompt).toBeGreaterThan(0);
    const plain = sdk(gate, g.apiKey, 'chat', 'plain');
    expect(plain.usage?.completion_tokens).toBeGreaterThanOrEqual(MAX);
    const p = await nthCall(g.data, ++calls);
    expect(p.settle).toMatchObject({ outcome: 'completed', stream: false, estimated: false });
    expect(p.settle.tokens.completion).toBe(plain.usage?.completion_tokens);
  });

  test('audit verify passes on the one log of both gateways', () => {
    auditVerifies(g);
  });
});
