/**
 * The gateway in front of real model servers (test/support/llama.ts, built by setup.sh): llama.cpp's
 * llama-server, whose streams report usage when asked, and llama-cpp-python's server, whose streams
 * never do (the gateway counts and marks the tokens estimated). Allowed calls streamed and not, each
 * refusal, quotas (refused with Retry-After; a stream cut where its reservation ends), a client that
 * leaves mid-stream, the model server's 5xx, and its stall (SIGSTOP) before and within an answer.
 * Every call leaves its entries, the extraction monitor is brief M's, and the log audits.
 */
import { request } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Gateway } from '../../src/gate/gateway.js';
import { createExtractionMonitor } from '../../src/gate/monitor/index.js';
import { MemoryQuotaStore } from '../../src/gate/quota-memory.js';
import { parseQuotaFile } from '../../src/gate/quotas.js';
import { auditLog } from '../../src/log/audit.js';
import { verifyProof } from '../../src/log/checkpoint.js';
import { decodeEvent, storeEvents } from '../../src/log/events.js';
import { parseVerifierKey } from '../../src/log/note.js';
import { startServer, type RunningServer } from '../../src/server/http.js';
import { tempDir } from '../support/fixtures.js';
import {
  CALLERS,
  callEntries,
  dropAfterFirstEvent,
  gateScreening,
  IRAN,
  startGate,
  testCountryDatabase,
  type GatedModel,
  testModel,
} from '../support/gate.js';
import { gateParts, type TestParts } from '../support/gate-parts.js';
import { startLlamaCppPython, startLlamaServer, TINY_LLAMA_NAME, type LlamaPeer } from '../support/llama.js';
import { parseSse } from '../support/sse.js';
import { within } from '../support/wait.js';

const MODEL = TINY_LLAMA_NAME;
const served = testModel(MODEL, 'ef', 300_000n, 'limited');
let llama: LlamaPeer;
let pyllama: LlamaPeer;
let gate: GatedModel;
let pyGateway: Gateway;
let pyServer: RunningServer;
let parts: TestParts;
let logKey: ReturnType<typeof parseVerifierKey>;
/** What afterAll stops, in reverse: whatever beforeAll got to start. */
const closers: (() => unknown)[] = [];

beforeAll(async () => {
  [llama, pyllama] = await Promise.all([startLlamaServer(), startLlamaCppPython()]);
  closers.push(
    () => llama.close(),
    () => pyllama.close(),
  );
  const dir = tempDir('modelseal-gate-llama-');
  const geoip = testCountryDatabase(dir);
  const quotaFile = { defaultMaxTokens: 8, recipients: { 'quota-co': { tokensPerMinute: 120 } } };
  const quotas = new MemoryQuotaStore({ config: parseQuotaFile(JSON.stringify(quotaFile)) });
  parts = gateParts({ defaultMaxTokens: 8, quotas, monitor: createExtractionMonitor() });
  gate = await startGate(dir, {
    model: served,
    recipients: CALLERS,
    service: {
      rateLimits: { burst: 10_000 },
      screening: gateScreening(),
      geoip,
      trustedProxies: ['127.0.0.0/8'],
    },
    gate: { ...parts.options, upstream: llama.url, timeouts: { connectMs: 2000, firstByteMs: 1500, idleMs: 1500 } },
  });
  closers.push(() => gate.close());
  // The same gateway (one log, one quota) in front of llama-cpp-python, on a listener of its own.
  pyGateway = await Gateway.open({
    ...parts.options,
    setup: gate.setup,
    keys: gate.keyStore,
    model: served,
    upstream: pyllama.url,
  });
  closers.push(() => pyGateway.close());
  pyServer = await startServer(gate.setup.service, gate.setup.log, { port: 0, routes: pyGateway.routes });
  closers.push(() => pyServer.close());
  logKey = parseVerifierKey(readFileSync(join(gate.keysDir, 'log.vkey'), 'utf8'));
}, 240_000);

afterAll(async () => {
  for (const close of closers.reverse()) await close();
});

type Answer = { status: number; headers: Headers; text: string };

async function call(
  body: unknown,
  o: { key?: string | null; url?: string; path?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const key = o.key === undefined ? gate.apiKeys['acme-labs']! : o.key;
  const res = await fetch(`${o.url ?? gate.server.url}${o.path ?? '/v1/chat/completions'}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key && { authorization: `Bearer ${key}` }), ...o.headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

const chat = (over: Record<string, unknown> = {}) => ({
  model: MODEL,
  messages: [{ role: 'user', content: 'Tell me about export control.' }],
  max_tokens: 5,
  ...over,
});

const entries = (id: string) => callEntries(gate.setup.log.store, id);
const idOf = (a: Answer) => a.headers.get('x-request-id')!;

/** The JSON events of a stream as the client got them. */
interface Chunk {
  usage?: unknown;
  error?: unknown;
  choices?: { delta?: { content?: string } }[];
}
const chunks = (text: string) => parseSse(text).events as Chunk[];

describe('allowed calls, against llama-server', () => {
  it('a chat completion: forwarded, metered from the usage the server reports, with the admit receipt', async () => {
    const r = await call(chat());
    expect(r.status, r.text).toBe(200);
    const answer = JSON.parse(r.text) as {
      choices: { message: { content: string } }[];
      usage: { completion_tokens: number; prompt_tokens: number };
    };
    expect(answer.usage.completion_tokens).toBe(5);
    const admit = decodeEvent(
      verifyProof(Buffer.from(r.headers.get('x-modelseal-receipt')!, 'base64').toString(), undefined, logKey).entry,
    );
    expect(admit).toMatchObject({ type: 'infer-admit', decision: 'allow', id: idOf(r) });
    const { settle } = await entries(idOf(r));
    expect(settle).toMatchObject({
      outcome: 'completed',
      estimated: false,
      tokens: { prompt: answer.usage.prompt_tokens, completion: 5 },
    });
    expect(settle!.flops).toBe(String(2 * 300_000 * (answer.usage.prompt_tokens + 5)));
  });

  it('a stream: events passed through, the usage chunk asked upstream and stripped for a client that did not ask', async () => {
    const r = await call(chat({ stream: true }));
    expect(r.status).toBe(200);
    expect(parseSse(r.text).done).toBe(true);
    expect(chunks(r.text).filter((e) => e.usage != null)).toEqual([]);
    const { settle } = await entries(idOf(r));
    expect(settle).toMatchObject({ outcome: 'completed', estimated: false, tokens: { completion: 5 }, stream: true });
    expect(settle!.firstTokenMs).toBeGreaterThanOrEqual(0);
  });

  it('a streamed completion with include_usage: the client gets its usage', async () => {
    const r = await call(
      {
        model: MODEL,
        prompt: 'Once upon a time',
        max_tokens: 4,
        stream: true,
        stream_options: { include_usage: true },
      },
      { path: '/v1/completions' },
    );
    expect(r.status).toBe(200);
    const usage = chunks(r.text).filter((e) => e.usage != null);
    expect(usage).toHaveLength(1);
    expect((await entries(idOf(r))).settle).toMatchObject({ estimated: false, tokens: { completion: 4 } });
  });
});

it('llama-cpp-python streams no usage: the gateway counts the streamed tokens and marks them estimated', async () => {
  const r = await call(chat({ stream: true, max_tokens: 4 }), { url: pyServer.url });
  expect(r.status, r.text).toBe(200);
  expect(parseSse(r.text).done).toBe(true);
  const { admit, settle } = await entries(idOf(r));
  expect(settle).toMatchObject({
    outcome: 'completed',
    estimated: true,
    tokens: { prompt: admit.features!.promptTokens },
  });
  expect(settle!.tokens.completion).toBeGreaterThan(0);
  expect(settle!.tokens.completion).toBeLessThanOrEqual(4);
});

describe('refusals, each logged and nothing forwarded', () => {
  const cases: [string, () => Promise<Answer>, number, string][] = [
    ['no key', () => call(chat(), { key: null }), 401, 'no-credentials'],
    ['a bad key', () => call(chat(), { key: `msk_0123456789abcdef_${'B'.repeat(43)}` }), 401, 'unknown-key'],
    ['a key for another model', () => call(chat(), { key: gate.apiKeys['other-model-co'] }), 403, 'key-not-for-model'],
    ['no license', () => call(chat(), { key: gate.apiKeys['unlicensed-co'] }), 403, 'no-license'],
    ['an embargoed nationality', () => call(chat(), { key: gate.apiKeys['dual-co'] }), 403, 'deemed-export-embargoed'],
    ['a screening hit', () => call(chat(), { key: gate.apiKeys['shady-co'] }), 403, 'screening-hit'],
    [
      'an embargoed observed country',
      () => call(chat(), { headers: { 'x-forwarded-for': IRAN } }),
      403,
      'observed-embargoed',
    ],
  ];
  for (const [what, make, status, reason] of cases)
    it(what, async () => {
      const r = await make();
      expect(r.status, r.text).toBe(status);
      const { admit, settle } = await entries(idOf(r));
      expect(admit.decision).toBe('deny');
      expect(admit.reason.split(',')).toContain(reason);
      expect(settle).toBeUndefined();
    });

  it('a revoked key, and a revoked recipient, on their next call', async () => {
    const { key, record } = await gate.keyStore.issue('revoked-co');
    expect((await call(chat(), { key })).status).toBe(200);
    await gate.keyStore.revoke(record.id);
    const r1 = await call(chat(), { key });
    expect(r1.status).toBe(401);
    expect((await entries(idOf(r1))).admit).toMatchObject({
      reason: 'revoked-key',
      key: record.id,
      recipient: 'revoked-co',
    });
    await gate.registry.revoke('revoked-co');
    const r2 = await call(chat(), { key: gate.apiKeys['revoked-co'] });
    expect(r2.status).toBe(403);
    expect((await entries(idOf(r2))).admit).toMatchObject({ reason: 'revoked-identity' });
  });
});

describe('quotas', () => {
  it('a stream without max_tokens is cut where its reservation (defaultMaxTokens 8) ends, and settled', async () => {
    const r = await call(chat({ stream: true, max_tokens: undefined }));
    expect(r.status).toBe(200);
    const events = chunks(r.text);
    const text = events.filter((e) => e.choices?.[0]?.delta?.content);
    expect(text.length).toBeLessThanOrEqual(8);
    expect(events.at(-1)).toMatchObject({ error: { code: 'quota_exhausted' } });
    expect((await entries(idOf(r))).settle).toMatchObject({ outcome: 'quota-exhausted' });
  });

  it('a call over the quota is 429 with Retry-After, and logged', async () => {
    const key = gate.apiKeys['quota-co'];
    const first = await call(chat({ max_tokens: 60 }), { key });
    expect(first.status).toBe(200);
    const r = await call(chat({ max_tokens: 60 }), { key });
    expect(r.status).toBe(429);
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(JSON.parse(r.text)).toMatchObject({ error: { code: 'quota_exceeded', type: 'rate_limit_error' } });
    expect((await entries(idOf(r))).admit).toMatchObject({ decision: 'deny', reason: 'quota-exceeded' });
  });
});

describe('how calls end', () => {
  it('a client that leaves mid-stream: the stream is settled, and the settle entry says so', async () => {
    const id = await dropAfterFirstEvent(
      gate.server.url,
      gate.apiKeys['acme-labs']!,
      chat({ stream: true, max_tokens: 400 }),
    );
    const { settle } = await entries(id);
    expect(settle).toMatchObject({ outcome: 'client-disconnect', status: 200 });
    expect(settle!.tokens.completion).toBeLessThan(400);
  });

  it("the model server's 5xx (embeddings it does not serve: 501) is a 502, settled as upstream-error", async () => {
    const r = await call({ model: MODEL, input: 'export control' }, { path: '/v1/embeddings' });
    expect(r.status).toBe(502);
    expect(JSON.parse(r.text)).toMatchObject({ error: { code: 'upstream_error' } });
    expect((await entries(idOf(r))).settle).toMatchObject({ outcome: 'upstream-error', status: 502 });
  });

  it('a stalled model server (SIGSTOP): 504 after the first-byte timeout, and an error event after the idle timeout', async () => {
    process.kill(llama.pid, 'SIGSTOP');
    try {
      const r = await call(chat());
      expect(r.status).toBe(504);
      expect((await entries(idOf(r))).settle).toMatchObject({ outcome: 'upstream-timeout', status: 504 });
    } finally {
      process.kill(llama.pid, 'SIGCONT');
    }
    // Within a stream: stopped once its first event came.
    const id = await new Promise<{ id: string; body: Promise<string> }>((resolve, reject) => {
      const u = new URL(`${gate.server.url}/v1/chat/completions`);
      const headers = { authorization: `Bearer ${gate.apiKeys['acme-labs']}`, 'content-type': 'application/json' };
      const req = request({ host: u.hostname, port: u.port, method: 'POST', path: u.pathname, headers }, (res) => {
        let text = '';
        const body = new Promise<string>((done) => res.on('end', () => done(text)));
        res.once('data', () => process.kill(llama.pid, 'SIGSTOP'));
        res.on('data', (b: Buffer) => (text += b.toString()));
        resolve({ id: res.headers['x-request-id'] as string, body });
      });
      req.on('error', reject);
      req.end(JSON.stringify(chat({ stream: true, max_tokens: 400 })));
    });
    try {
      expect(await id.body).toContain('upstream_timeout');
    } finally {
      process.kill(llama.pid, 'SIGCONT');
    }
    expect((await entries(id.id)).settle).toMatchObject({ outcome: 'upstream-timeout' });
  });
});

it('every call is on the log, the monitor saw them, and the log audits', async () => {
  const n = await within(10_000, 'a settle entry for every allowed call', async () => {
    let admits = 0;
    let allowed = 0;
    let settles = 0;
    for await (const { event } of storeEvents(gate.setup.log.store)) {
      if (event?.type === 'infer-admit') admits++;
      if (event?.type === 'infer-admit' && event.decision === 'allow') allowed++;
      if (event?.type === 'infer-settle') settles++;
    }
    return settles === allowed && { admits, allowed };
  });
  expect(n.admits).toBeGreaterThan(15);
  expect(parts.monitor.assess('acme-labs').calls).toBeGreaterThan(0);
  expect(await auditLog(gate.setup.log.store, logKey)).toMatchObject({ ok: true, size: gate.setup.log.size });
});
