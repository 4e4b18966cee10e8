/**
 * An in-process OpenAI-compatible model server for the gateway's tests, in addition to the real
 * llama-server (test/support/llama.ts): it answers in ways a real one does only by accident — a 5xx,
 * a stall before or in the middle of a stream, a stream that ignores max_tokens, no usage chunk.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type FakeMode = 'ok' | 'no-usage' | 'error500' | 'stall' | 'stall-mid' | 'endless' | 'flood';

export interface FakeUpstream {
  url: string;
  /** How the next calls are answered. */
  mode: FakeMode;
  /** Bodies received, as parsed. */
  bodies: Record<string, unknown>[];
  /** Streams whose client (the gateway) went away before their end. */
  aborted: number;
  /** Bytes a 'flood' stream has written so far (it writes as fast as its client takes them). */
  flooded: number;
  close(): Promise<void>;
}

const WORDS = ['alpha', ' beta', ' gamma', ' delta', ' epsilon', ' zeta', ' eta', ' theta'];

function chunk(endpoint: string, text: string): unknown {
  return endpoint === '/v1/chat/completions'
    ? {
        id: 'c1',
        object: 'chat.completion.chunk',
        choices: [{ index: 0, delta: { content: text }, finish_reason: null }],
      }
    : { id: 'c1', object: 'text_completion', choices: [{ index: 0, text, finish_reason: null }] };
}

/** Events of 64 KiB of text, written whenever the client takes more (waiting on drain), until it leaves. */
async function flood(f: FakeUpstream, req: IncomingMessage, res: ServerResponse): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const event = Buffer.from(`data: ${JSON.stringify(chunk(req.url!, 'x'.repeat(65536)))}\n\n`);
  while (!res.destroyed) {
    f.flooded += event.length;
    if (!res.write(event)) await new Promise((r) => (res.once('drain', r), res.once('close', r)));
  }
}

async function stream(f: FakeUpstream, req: IncomingMessage, res: ServerResponse, body: Record<string, unknown>) {
  if (f.mode === 'flood') return flood(f, req, res);
  const max = typeof body.max_tokens === 'number' ? body.max_tokens : 4;
  const n = f.mode === 'endless' ? 1000 : Math.min(max, WORDS.length);
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.on('close', () => {
    if (!res.writableFinished) f.aborted++;
  });
  for (let i = 0; i < n && !res.destroyed; i++) {
    res.write(`data: ${JSON.stringify(chunk(req.url!, WORDS[i % WORDS.length]!))}\n\n`);
    if (f.mode === 'stall-mid' && i === 1) return; // never another byte
    await new Promise((r) => setTimeout(r, f.mode === 'endless' ? 5 : 1));
  }
  if (res.destroyed) return;
  const opts = body.stream_options as { include_usage?: boolean } | undefined;
  if (opts?.include_usage && f.mode !== 'no-usage') {
    const usage = { prompt_tokens: 7, completion_tokens: n, total_tokens: 7 + n };
    res.write(`data: ${JSON.stringify({ id: 'c1', choices: [], usage })}\n\n`);
  }
  res.end('data: [DONE]\n\n');
}

function whole(req: IncomingMessage, res: ServerResponse, body: Record<string, unknown>, usage: boolean) {
  const max = typeof body.max_tokens === 'number' ? body.max_tokens : 4;
  const n = Math.min(max, WORDS.length);
  const text = WORDS.slice(0, n).join('');
  const answer =
    req.url === '/v1/embeddings'
      ? { object: 'list', data: [{ object: 'embedding', index: 0, embedding: [0.1, 0.2, 0.3] }] }
      : req.url === '/v1/chat/completions'
        ? {
            id: 'c1',
            object: 'chat.completion',
            choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'length' }],
          }
        : { id: 'c1', object: 'text_completion', choices: [{ index: 0, text, finish_reason: 'length' }] };
  const withUsage = usage
    ? {
        ...answer,
        usage: { prompt_tokens: 7, completion_tokens: req.url === '/v1/embeddings' ? 0 : n, total_tokens: 7 + n },
      }
    : answer;
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(withUsage));
}

/** Starts the fake model server on a free loopback port. */
export async function startFakeUpstream(): Promise<FakeUpstream> {
  const sockets = new Set<Socket>();
  const f: FakeUpstream = { url: '', mode: 'ok', bodies: [], aborted: 0, flooded: 0, close: async () => {} };
  const server: Server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (b: Buffer) => parts.push(b));
    req.on('end', () => {
      const body = (parts.length ? JSON.parse(Buffer.concat(parts).toString('utf8')) : {}) as Record<string, unknown>;
      f.bodies.push(body);
      if (f.mode === 'stall') return; // never answers
      if (f.mode === 'error500') {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: 'the model crashed', type: 'server_error' } }));
        return;
      }
      if (body.stream === true) void stream(f, req, res, body);
      else whole(req, res, body, f.mode !== 'no-usage');
    });
  });
  server.on('connection', (s) => (sockets.add(s), s.on('close', () => sockets.delete(s))));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  f.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  f.close = () =>
    new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    });
  return f;
}
