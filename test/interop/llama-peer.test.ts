/**
 * The gate's real upstreams answer as the gate expects (issue 23): llama.cpp's llama-server (built from
 * the llama-cpp-python sdist's source) and llama-cpp-python's server, both serving the tiny random-weight
 * llama, on /v1/models, /v1/chat/completions and /v1/completions, plain and streamed; and where each
 * sends token usage in a stream, which decides the gate's metering (measured vs estimated).
 */
import { describe, expect, test } from 'vitest';
import { startLlamaCppPython, startLlamaServer, TINY_LLAMA_NAME, usePeer, type LlamaPeer } from '../support/llama.js';
import { postSse, streamedText } from '../support/sse.js';

const MAX = 8;
// Greedy decoding: the random model's answer is the same on every run, so it runs to max_tokens (its
// end-of-text token is one in 32,000 and greedy never picks it for this prompt).
const CHAT = { messages: [{ role: 'user', content: 'Say something.' }], max_tokens: MAX, temperature: 0 };
const COMPLETION = { prompt: 'Once upon a time', max_tokens: MAX, temperature: 0 };

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the answers are read field by field
async function postJson(url: string, body: object): Promise<{ status: number; json: any }> {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: r.status, json: await r.json() };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- chunks
const withUsage = (events: any[]) => events.filter((e) => e.usage != null);

function servesModels(peer: () => LlamaPeer) {
  test('/v1/models lists the model under its alias', async () => {
    const r = await fetch(`${peer().url}/v1/models`);
    expect(r.status).toBe(200);
    const ids = ((await r.json()) as { data: { id: string }[] }).data.map((m) => m.id);
    expect(ids).toEqual([TINY_LLAMA_NAME]);
  });
}

/**
 * `overshoot`: how many tokens past max_tokens the server may generate. llama-cpp-python does not stop
 * while the text ends inside a multi-byte UTF-8 character (its multibyte check skips the max_tokens
 * test), so it can answer 8 + up to 3 byte tokens with finish_reason "length": this prompt gives 9.
 */
function answersPlain(peer: () => LlamaPeer, overshoot: number) {
  const expectTokens = (n: number) => {
    expect(n).toBeGreaterThanOrEqual(MAX);
    expect(n).toBeLessThanOrEqual(MAX + overshoot);
  };
  test('plain chat and completions answer with text and usage', async () => {
    const p = peer();
    const chat = await postJson(`${p.url}/v1/chat/completions`, { model: p.model, ...CHAT });
    expect(chat.status).toBe(200);
    expect(chat.json.object).toBe('chat.completion');
    expect(chat.json.choices[0].finish_reason).toBe('length');
    expect(chat.json.choices[0].message.content.length).toBeGreaterThan(0);
    const usage = chat.json.usage as { prompt_tokens: number; completion_tokens: number; total_tokens: number };
    expectTokens(usage.completion_tokens);
    expect(usage.total_tokens).toBe(usage.prompt_tokens + usage.completion_tokens);
    const done = await postJson(`${p.url}/v1/completions`, { model: p.model, ...COMPLETION });
    expect(done.status).toBe(200);
    expect(done.json.object).toBe('text_completion');
    expect(done.json.choices[0].text.length).toBeGreaterThan(0);
    expectTokens(done.json.usage.completion_tokens);
    expect(done.json.usage.prompt_tokens).toBeGreaterThan(0);
  });
}

describe('llama-server', () => {
  const peer = usePeer(() => startLlamaServer());
  servesModels(peer);
  answersPlain(peer, 0);

  test('a streamed chat sends no usage unless stream_options.include_usage asks', async () => {
    const p = peer();
    for (const opts of [{}, { stream_options: { include_usage: false } }]) {
      const s = await postSse(`${p.url}/v1/chat/completions`, { model: p.model, ...CHAT, stream: true, ...opts });
      expect(s.status, s.raw).toBe(200);
      expect(s.done).toBe(true);
      expect(s.events.length).toBeGreaterThan(MAX - 1);
      expect(withUsage(s.events)).toEqual([]);
      expect(s.events.every((e) => e.choices.length === 1)).toBe(true);
      expect(s.events.at(-1).choices[0].finish_reason).toBe('length');
      expect(streamedText(s.events).length).toBeGreaterThan(0);
    }
  });

  test('with include_usage, a streamed chat ends with one extra chunk: no choices, the usage', async () => {
    const p = peer();
    const plain = await postJson(`${p.url}/v1/chat/completions`, { model: p.model, ...CHAT });
    const s = await postSse(`${p.url}/v1/chat/completions`, {
      model: p.model,
      ...CHAT,
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(s.done).toBe(true);
    const last = s.events.at(-1);
    expect(last.choices).toEqual([]);
    expect(last.object).toBe('chat.completion.chunk');
    expect(last.usage).toMatchObject({ completion_tokens: MAX, prompt_tokens: plain.json.usage.prompt_tokens });
    expect(withUsage(s.events)).toEqual([last]);
    expect(s.events.at(-2).choices[0].finish_reason).toBe('length');
  });

  test('a streamed completion carries usage on its finishing chunk, asked or not', async () => {
    const p = peer();
    for (const opts of [
      {},
      { stream_options: { include_usage: true } },
      { stream_options: { include_usage: false } },
    ]) {
      const s = await postSse(`${p.url}/v1/completions`, { model: p.model, ...COMPLETION, stream: true, ...opts });
      expect(s.done).toBe(true);
      const last = s.events.at(-1);
      expect(last.choices).toHaveLength(1);
      expect(last.choices[0].finish_reason).toBe('length');
      expect(last.usage.completion_tokens).toBe(MAX);
      expect(withUsage(s.events)).toEqual([last]);
      expect(streamedText(s.events).length).toBeGreaterThan(0);
    }
  });
});

describe("llama-cpp-python's server", () => {
  const peer = usePeer(() => startLlamaCppPython());
  servesModels(peer);
  answersPlain(peer, 3);

  test('its streams never carry usage, even when include_usage asks (the gate must estimate)', async () => {
    const p = peer();
    for (const [path, body] of [
      ['/v1/chat/completions', CHAT],
      ['/v1/completions', COMPLETION],
    ] as const) {
      for (const opts of [{}, { stream_options: { include_usage: true } }]) {
        const s = await postSse(`${p.url}${path}`, { model: p.model, ...body, stream: true, ...opts });
        expect(s.status, s.raw).toBe(200);
        expect(s.done).toBe(true);
        expect(s.events.length).toBeGreaterThan(MAX - 1);
        expect(withUsage(s.events)).toEqual([]);
        expect(s.events.at(-1).choices[0].finish_reason).toBe('length');
        expect(streamedText(s.events).length).toBeGreaterThan(0);
      }
    }
  });
});

test('llama-server started with embeddings answers /v1/embeddings, with usage, and chat still', async () => {
  const p = await startLlamaServer({ extraArgs: ['--embeddings', '--pooling', 'mean'] });
  try {
    const e = await postJson(`${p.url}/v1/embeddings`, { model: p.model, input: 'export control' });
    expect(e.status).toBe(200);
    expect(e.json.data[0].embedding).toHaveLength(64);
    expect(e.json.usage.prompt_tokens).toBeGreaterThan(0);
    const chat = await postJson(`${p.url}/v1/chat/completions`, { model: p.model, ...CHAT });
    expect(chat.status).toBe(200);
    expect(chat.json.usage.completion_tokens).toBe(MAX);
  } finally {
    await p.close();
  }
});
