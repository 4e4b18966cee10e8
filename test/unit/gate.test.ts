/**
 * The gateway against an in-process model server that misbehaves on demand (test/support/fake-upstream.ts):
 * allowed calls streamed and not, each refusal before the policy, upstream 5xx and stalls, a stream
 * cut where its reservation ends, a client that leaves mid-stream, the log down, hostile bodies. Every
 * call leaves its entries, and the log audits. The same cases against llama-server: gate-llama.test.ts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request, type IncomingMessage } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { auditLog } from '../../src/log/audit.js';
import { verifyProof } from '../../src/log/checkpoint.js';
import { decodeEvent, storeEvents, type InferAdmitEvent, type InferSettleEvent } from '../../src/log/events.js';
import { parseVerifierKey } from '../../src/log/note.js';
import { tempDir } from '../support/fixtures.js';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.js';
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
import { prng } from '../support/prng.js';
import { fuzzCases, fuzzSeed } from '../support/fuzz.js';
import { within } from '../support/wait.js';
import { gateParts, type TestParts } from '../support/gate-parts.js';
import { MemoryQuotaStore } from '../../src/gate/quota-memory.js';
import { parseQuotaFile } from '../../src/gate/quotas.js';
import type { ExtractionMonitor } from '../../src/gate/types.js';

const MODEL = 'tiny-llama';
let fake: FakeUpstream;
let gate: GatedModel;
let parts: TestParts;
let logKey: ReturnType<typeof parseVerifierKey>;

/** Risk scores (0-1) the test monitor reports, by caller. */
const risk = new Map<string, number>([['risky-co', 0.95]]);

/** A monitor that reports the scores of `risk` (the real one is brief M's, tested with its signals). */
function scoringMonitor(): ExtractionMonitor {
  return {
    observe: () => {},
    assess: (caller) => ({ caller, score: risk.get(caller) ?? 0, calls: 0, signals: [] }),
    callers: () => [...risk.keys()],
  };
}

beforeAll(async () => {
  fake = await startFakeUpstream();
  const dir = tempDir('modelseal-gate-');
  const geoip = testCountryDatabase(dir);
  const quotas = new MemoryQuotaStore({
    config: parseQuotaFile(JSON.stringify({ recipients: { 'quota-co': { tokensPerMinute: 100 } } })),
  });
  parts = gateParts({ defaultMaxTokens: 6, quotas, monitor: scoringMonitor() });
  gate = await startGate(dir, {
    model: testModel(MODEL, 'ab'),
    recipients: CALLERS,
    // Loopback is a trusted proxy: X-Forwarded-For places the caller (in the injected database).
    service: { rateLimits: { burst: 10_000 }, screening: gateScreening(), geoip, trustedProxies: ['127.0.0.0/8'] },
    gate: { ...parts.options, upstream: fake.url, timeouts: { connectMs: 2000, firstByteMs: 400, idleMs: 400 } },
  });
  logKey = parseVerifierKey(readFileSync(join(gate.keysDir, 'log.vkey'), 'utf8'));
}, 60_000);

afterAll(async () => {
  await gate.close();
  await fake.close();
});

beforeEach(() => {
  fake.mode = 'ok';
});

type Call = { status: number; headers: Headers; text: string; json: () => Record<string, unknown> };

async function call(
  path: string,
  body: unknown,
  key: string | null = gate.apiKeys['acme-labs']!,
  extra: Record<string, string> = {},
): Promise<Call> {
  const res = await fetch(`${gate.server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key && { authorization: `Bearer ${key}` }), ...extra },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) as Record<string, unknown> };
}

const chat = (over: Record<string, unknown> = {}) => ({
  model: MODEL,
  messages: [{ role: 'user', content: 'Say hello.' }],
  max_tokens: 4,
  ...over,
});

/** The gate entries of call `id`, once its settle entry is in (settled after the answer). */
const entries = (id: string) => callEntries(gate.setup.log.store, id);

/** The data events of a stream as the client got them. */
const events = (text: string) =>
  text
    .split('\n\n')
    .filter((e) => e.startsWith('data: '))
    .map((e) => e.slice(6));

describe('allowed calls', () => {
  it('a chat completion is forwarded, metered from its usage and logged before and after, with a receipt', async () => {
    const r = await call('/v1/chat/completions', chat());
    expect(r.status).toBe(200);
    expect((r.json().choices as { message: { content: string } }[])[0]!.message.content).toBe('alpha beta gamma delta');
    const id = r.headers.get('x-request-id')!;
    const proof = Buffer.from(r.headers.get('x-modelseal-receipt')!, 'base64').toString('utf8');
    const { entry } = verifyProof(proof, undefined, logKey);
    const logged = decodeEvent(entry) as InferAdmitEvent;
    expect(logged).toMatchObject({ type: 'infer-admit', id, decision: 'allow', recipient: 'acme-labs', model: MODEL });
    expect(logged.reserved).toEqual({
      tokens: logged.features!.promptTokens + 4,
      flops: String(2000 * (logged.features!.promptTokens + 4)),
    });
    const { settle } = await entries(id);
    expect(settle).toMatchObject({
      outcome: 'completed',
      status: 200,
      tokens: { prompt: 7, completion: 4 },
      estimated: false,
      flops: String(2 * 1000 * 11),
      stream: false,
    });
    expect(settle!.output).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(fake.bodies.at(-1)).toMatchObject({ model: MODEL, max_tokens: 4 });
  });

  it('a stream is passed through event by event; the usage chunk asked upstream is stripped when the client did not ask', async () => {
    const r = await call('/v1/chat/completions', chat({ stream: true }));
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const ev = events(r.text);
    expect(ev.at(-1)).toBe('[DONE]');
    expect(ev.some((e) => e.includes('"usage"'))).toBe(false);
    expect(fake.bodies.at(-1)).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    const { settle } = await entries(r.headers.get('x-request-id')!);
    expect(settle).toMatchObject({
      outcome: 'completed',
      tokens: { prompt: 7, completion: 4 },
      estimated: false,
      stream: true,
    });
    expect(settle!.firstTokenMs).toBeGreaterThanOrEqual(0);
  });

  it('a client that asked for the usage chunk gets it', async () => {
    const r = await call('/v1/completions', {
      model: MODEL,
      prompt: 'Once',
      max_tokens: 3,
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(r.status).toBe(200);
    expect(events(r.text).filter((e) => e.includes('"usage"'))).toHaveLength(1);
  });

  it('a stream without usage is counted by its chunks and marked estimated', async () => {
    fake.mode = 'no-usage';
    const r = await call('/v1/chat/completions', chat({ stream: true, max_tokens: 3 }));
    expect(r.status).toBe(200);
    const { admit, settle } = await entries(r.headers.get('x-request-id')!);
    expect(settle).toMatchObject({
      outcome: 'completed',
      tokens: { prompt: admit.features!.promptTokens, completion: 3 },
      estimated: true,
    });
  });

  it('embeddings are forwarded and metered', async () => {
    const r = await call('/v1/embeddings', { model: MODEL, input: ['one', 'two'] });
    expect(r.status).toBe(200);
    const { settle } = await entries(r.headers.get('x-request-id')!);
    expect(settle).toMatchObject({ outcome: 'completed', tokens: { prompt: 7, completion: 0 }, output: null });
  });

  it('GET /v1/models names the served model; the receipts of a call are served to its caller only', async () => {
    const auth = { authorization: `Bearer ${gate.apiKeys['acme-labs']}` };
    const models = await fetch(`${gate.server.url}/v1/models`, { headers: auth });
    expect(await models.json()).toMatchObject({ object: 'list', data: [{ id: MODEL, object: 'model' }] });
    const r = await call('/v1/chat/completions', chat());
    const id = r.headers.get('x-request-id')!;
    await entries(id);
    const got = await fetch(`${gate.server.url}/v1/gate/receipts/${id}`, { headers: auth });
    expect(got.status).toBe(200);
    const body = (await got.json()) as { admit: { proof: string }; settle: { proof: string } };
    expect((decodeEvent(verifyProof(body.admit.proof, undefined, logKey).entry) as InferAdmitEvent).id).toBe(id);
    expect((decodeEvent(verifyProof(body.settle.proof, undefined, logKey).entry) as InferSettleEvent).outcome).toBe(
      'completed',
    );
    const other = await fetch(`${gate.server.url}/v1/gate/receipts/${id}`, {
      headers: { authorization: `Bearer ${gate.apiKeys['unlicensed-co']}` },
    });
    expect(other.status).toBe(404);
  });

  it('the release API is served on the same listener', async () => {
    const info = await fetch(`${gate.server.url}/v1/info`);
    expect(await info.json()).toMatchObject({ origin: 'gate.test/log' });
  });
});

describe('refusals are logged as denied admit entries', () => {
  const cases: [string, () => Promise<Call>, number, string][] = [
    ['no key', () => call('/v1/chat/completions', chat(), null), 401, 'no-credentials'],
    [
      'a key that is not one',
      () => call('/v1/chat/completions', chat(), 'msk_0123456789abcdef_' + 'A'.repeat(43)),
      401,
      'unknown-key',
    ],
    [
      'a key scoped to other models',
      () => call('/v1/chat/completions', chat(), gate.apiKeys['other-model-co']),
      403,
      'key-not-for-model',
    ],
    ['another model named', () => call('/v1/chat/completions', chat({ model: 'gpt-4' })), 404, 'unknown-model'],
    ['no license', () => call('/v1/chat/completions', chat(), gate.apiKeys['unlicensed-co']), 403, 'no-license'],
    ['a screening hit', () => call('/v1/chat/completions', chat(), gate.apiKeys['shady-co']), 403, 'screening-hit'],
    [
      'an embargoed nationality',
      () => call('/v1/chat/completions', chat(), gate.apiKeys['dual-co']),
      403,
      'deemed-export-embargoed',
    ],
    [
      'an embargoed observed country (the injected database)',
      () => call('/v1/chat/completions', chat(), undefined, { 'x-forwarded-for': IRAN }),
      403,
      'observed-embargoed',
    ],
    [
      'a risk score above the threshold',
      () => call('/v1/chat/completions', chat(), gate.apiKeys['risky-co']),
      429,
      'extraction-risk',
    ],
    ['a body that is not JSON', () => call('/v1/chat/completions', '{"model":'), 400, 'malformed-request'],
  ];
  for (const [what, make, status, reason] of cases)
    it(what, async () => {
      const before = fake.bodies.length;
      const r = await call('/v1/chat/completions', chat()).then(() => make());
      expect(r.status).toBe(status);
      expect(r.json()).toMatchObject({
        error: { type: expect.any(String), code: expect.any(String), message: expect.any(String) },
      });
      const { admit } = await entries(r.headers.get('x-request-id')!);
      expect(admit.decision).toBe('deny');
      expect(admit.reason.split(',')).toContain(reason);
      expect(
        verifyProof(Buffer.from(r.headers.get('x-modelseal-receipt')!, 'base64').toString(), undefined, logKey).index,
      ).toBeGreaterThan(0);
      expect(fake.bodies.length).toBe(before + 1); // only the call made before it was forwarded
    });

  it('an expired key is refused, logged as such', async () => {
    const expires = new Date(Date.now() + 300).toISOString();
    const { key, record } = await gate.keyStore.issue('acme-labs', { expires });
    await new Promise((r) => setTimeout(r, 400));
    const r = await call('/v1/chat/completions', chat(), key);
    expect(r.status).toBe(401);
    expect(r.json()).toMatchObject({ error: { code: 'invalid_api_key' } });
    const { admit } = await entries(r.headers.get('x-request-id')!);
    expect(admit).toMatchObject({ reason: 'expired-key', key: record.id, recipient: 'acme-labs' });
  });

  it('a revoked key, then a revoked recipient, are refused on their next call', async () => {
    const { key, record } = await gate.keyStore.issue('revoked-co');
    expect((await call('/v1/chat/completions', chat(), key)).status).toBe(200);
    await gate.keyStore.revoke(record.id);
    const r1 = await call('/v1/chat/completions', chat(), key);
    expect(r1.status).toBe(401);
    expect((await entries(r1.headers.get('x-request-id')!)).admit).toMatchObject({
      reason: 'revoked-key',
      key: record.id,
      recipient: 'revoked-co',
    });
    await gate.registry.revoke('revoked-co');
    const r2 = await call('/v1/chat/completions', chat(), gate.apiKeys['revoked-co']);
    expect(r2.status).toBe(403);
    expect((await entries(r2.headers.get('x-request-id')!)).admit).toMatchObject({
      reason: 'revoked-identity',
      recipient: 'revoked-co',
    });
  });
});

describe('how calls end', () => {
  it('a model server 5xx is a 502 and settles as upstream-error', async () => {
    fake.mode = 'error500';
    const r = await call('/v1/chat/completions', chat());
    expect(r.status).toBe(502);
    expect(r.json()).toMatchObject({ error: { code: 'upstream_error' } });
    expect((await entries(r.headers.get('x-request-id')!)).settle).toMatchObject({
      outcome: 'upstream-error',
      status: 502,
    });
  });

  it('a model server that never answers is a 504 after the first-byte timeout', async () => {
    fake.mode = 'stall';
    const r = await call('/v1/chat/completions', chat());
    expect(r.status).toBe(504);
    expect((await entries(r.headers.get('x-request-id')!)).settle).toMatchObject({
      outcome: 'upstream-timeout',
      status: 504,
    });
  });

  it('a stream that stalls ends with an error event after the idle timeout, what was sent counted', async () => {
    fake.mode = 'stall-mid';
    const r = await call('/v1/chat/completions', chat({ stream: true }));
    expect(r.status).toBe(200);
    expect(events(r.text).at(-1)).toContain('upstream_timeout');
    const { settle } = await entries(r.headers.get('x-request-id')!);
    expect(settle).toMatchObject({ outcome: 'upstream-timeout', tokens: { completion: 2 }, estimated: true });
  });

  it('a stream past its reservation (no max_tokens: the default) is cut with an error event and settled', async () => {
    fake.mode = 'endless';
    const r = await call('/v1/chat/completions', chat({ stream: true, max_tokens: undefined }));
    expect(r.status).toBe(200);
    const ev = events(r.text);
    expect(ev.filter((e) => e.includes('delta'))).toHaveLength(6);
    expect(ev.at(-2)).toContain('quota_exhausted');
    const { settle } = await entries(r.headers.get('x-request-id')!);
    expect(settle).toMatchObject({ outcome: 'quota-exhausted', estimated: true });
    await within(3000, 'the model server to see the gateway leave', () => fake.aborted > 0);
  });

  it('a client that leaves mid-stream: the call is still settled, and the settle entry says so', async () => {
    fake.mode = 'endless';
    const aborted = fake.aborted;
    const id = await dropAfterFirstEvent(
      gate.server.url,
      gate.apiKeys['acme-labs']!,
      chat({ stream: true, max_tokens: 500 }),
    );
    const { settle } = await entries(id);
    expect(settle).toMatchObject({ outcome: 'client-disconnect' });
    expect(settle!.tokens.completion).toBeLessThan(500);
    await within(3000, 'the model server to see the gateway leave', () => fake.aborted > aborted);
  });

  it('a client that reads slowly holds the model server back (backpressure): nothing piles up in the gateway', async () => {
    fake.mode = 'flood';
    fake.flooded = 0;
    const u = new URL(`${gate.server.url}/v1/chat/completions`);
    const headers = { authorization: `Bearer ${gate.apiKeys['acme-labs']}`, 'content-type': 'application/json' };
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request({ host: u.hostname, port: u.port, method: 'POST', path: u.pathname, headers }, resolve);
      req.on('error', reject);
      req.end(JSON.stringify(chat({ stream: true, max_tokens: 1_000_000 })));
    });
    res.pause(); // reads nothing for a second
    await new Promise((r) => setTimeout(r, 1000));
    const held = fake.flooded;
    // Socket buffers of two loopback hops, not the hundreds of megabytes a second of loopback would carry.
    expect(held).toBeLessThan(32 * 1024 * 1024);
    let read = 0;
    res.on('data', (b: Buffer) => (read += b.length));
    res.resume();
    await within(5000, 'the model server to send more once the client reads', () => fake.flooded > held + 1024 * 1024);
    res.destroy();
    expect(read).toBeGreaterThan(0);
    const { settle } = await entries(res.headers['x-request-id'] as string);
    expect(settle).toMatchObject({ outcome: 'client-disconnect' });
  });

  it('with the log down nothing is forwarded: 503', async () => {
    const before = fake.bodies.length;
    const store = gate.setup.log.store as { append: unknown };
    const append = store.append;
    store.append = () => Promise.reject(new Error('disk gone'));
    try {
      const r = await call('/v1/chat/completions', chat());
      expect(r.status).toBe(503);
      expect(r.json()).toMatchObject({ error: { code: 'log_unavailable' } });
    } finally {
      store.append = append;
    }
    expect(fake.bodies.length).toBe(before);
  });
});

describe('quotas', () => {
  const subject = { recipient: 'quota-co', org: 'Quota Co', tier: 'unclassified' };

  it('a call that does not fit is 429 with Retry-After, logged as quota-exceeded; a dropped stream gives back what it did not use', async () => {
    const key = gate.apiKeys['quota-co']!;
    // Reserved: the prompt (10 tokens estimated) and 80 of the completion, out of 100 a minute.
    const id = await dropAfterFirstEvent(gate.server.url, key, chat({ stream: true, max_tokens: 80 }));
    const { settle } = await entries(id);
    expect(settle).toMatchObject({ outcome: 'client-disconnect' });
    // Settled: what the stream used (far less than reserved), so another 70 fit.
    expect(await parts.quotas.usedPerMille(subject, new Date())).toBeLessThan(500);
    expect((await call('/v1/chat/completions', chat({ max_tokens: 70 }), key)).status).toBe(200);
    const r = await call('/v1/chat/completions', chat({ max_tokens: 80 }), key);
    expect(r.status).toBe(429);
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(r.json()).toMatchObject({ error: { type: 'rate_limit_error', code: 'quota_exceeded' } });
    const { admit } = await entries(r.headers.get('x-request-id')!);
    expect(admit).toMatchObject({ decision: 'deny', reason: 'quota-exceeded', recipient: 'quota-co' });
  });
});

describe('hostile input', () => {
  it('bodies of any shape are a 4xx, never a crash', async () => {
    const rand = prng(fuzzSeed());
    const shapes = [
      () => rand.bytes(rand.int(300)).toString('latin1'),
      () =>
        JSON.stringify({
          model: MODEL,
          messages: rand.pick([null, 1, 'x', [], [1], [{ role: 1 }], [{ role: 'user', content: { a: 1 } }]]),
        }),
      () => JSON.stringify(chat({ max_tokens: rand.pick([-1, 0, 1.5, 'ten', 1e12, null, {}]) })),
      () => JSON.stringify(chat({ stream: rand.pick(['yes', 1, {}]) })),
      () => JSON.stringify(chat({ stream: true, stream_options: rand.pick(['x', [], 7]) })),
      () => JSON.stringify(rand.pick([[], 'text', 42, null, true])),
      () => JSON.stringify({ model: MODEL, prompt: rand.pick([[], [1, 'a'], {}, 5]) }),
      () => JSON.stringify(chat({ n: rand.pick([2, 0, 'many']) })),
    ];
    for (let i = 0; i < fuzzCases(60); i++) {
      const body = rand.pick(shapes)();
      const r = await call(rand.pick(['/v1/chat/completions', '/v1/completions', '/v1/embeddings']), body);
      expect(r.status, `case ${i}: ${body.slice(0, 80)}`).toBeGreaterThanOrEqual(400);
      expect(r.status, `case ${i}: ${body.slice(0, 80)}`).toBeLessThan(500);
      expect(r.json().error).toBeDefined();
    }
    const big = await call(
      '/v1/chat/completions',
      chat({ messages: [{ role: 'user', content: 'x'.repeat(5 * 1024 * 1024) }] }),
    );
    expect(big.status).toBe(413);
    const get = await fetch(`${gate.server.url}/v1/chat/completions`);
    expect(get.status).toBe(405);
    expect((await call('/v1/chat/completions', chat())).status).toBe(200);
  });
});

it('every call is on the log, and the log audits', async () => {
  const count = async () => {
    const n = { admits: 0, allowed: 0, settles: 0 };
    for await (const { event } of storeEvents(gate.setup.log.store)) {
      if (event?.type === 'infer-admit') n.admits++;
      if (event?.type === 'infer-admit' && event.decision === 'allow') n.allowed++;
      if (event?.type === 'infer-settle') n.settles++;
    }
    return n;
  };
  // The last call's settle entry follows its answer.
  const n = await within(3000, 'a settle entry for every allowed call', async () => {
    const c = await count();
    return c.settles === c.allowed && c;
  });
  expect(n.admits).toBeGreaterThan(20);
  expect(await auditLog(gate.setup.log.store, logKey)).toMatchObject({ ok: true, size: gate.setup.log.size });
});
