// The model server of `npm run bench:gate`: an OpenAI-compatible endpoint that answers at once, in
// its own process, so the gateway's cost is all that differs between calling it directly and
// through `modelseal gate`. POST /v1/chat/completions answers a chat completion (JSON, with usage),
// or with "stream": true an SSE stream of a few chunks, a usage chunk when
// stream_options.include_usage asks for it, and [DONE]; GET /v1/models lists the one model.
// Run by bench/gate.mjs (fork): it sends {port} over IPC once it listens.
import { createServer } from 'node:http';

const MODEL = process.env.BENCH_GATE_MODEL ?? 'bench-model';
const WORDS = ['Hello', ' from', ' the', ' bench', ' model', '.'];
const usage = { prompt_tokens: 12, completion_tokens: WORDS.length, total_tokens: 12 + WORDS.length };

/** One SSE event of a streamed chat completion. */
const event = (id, created, delta, finish = null) =>
  `data: ${JSON.stringify({
    id,
    object: 'chat.completion.chunk',
    created,
    model: MODEL,
    choices: [{ index: 0, delta, finish_reason: finish }],
  })}\n\n`;

function complete(req, res, body) {
  const id = `chatcmpl-${Math.random().toString(36).slice(2)}`;
  const created = Math.floor(Date.now() / 1000);
  if (!body.stream) {
    const answer = JSON.stringify({
      id,
      object: 'chat.completion',
      created,
      model: MODEL,
      choices: [{ index: 0, message: { role: 'assistant', content: WORDS.join('') }, finish_reason: 'stop' }],
      usage,
    });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) });
    res.end(answer);
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  // Each event written on its own, as a model server sends tokens (here with no time between them).
  res.write(event(id, created, { role: 'assistant', content: '' }));
  for (const w of WORDS) res.write(event(id, created, { content: w }));
  res.write(event(id, created, {}, 'stop'));
  if (body.stream_options?.include_usage)
    res.write(
      `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: MODEL, choices: [], usage })}\n\n`,
    );
  res.end('data: [DONE]\n\n');
}

const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/v1/models') {
    const list = JSON.stringify({ object: 'list', data: [{ id: MODEL, object: 'model', owned_by: 'bench' }] });
    res.writeHead(200, { 'content-type': 'application/json' }).end(list);
    return;
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":{"message":"not JSON"}}');
      return;
    }
    complete(req, res, body);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.send?.({ port: server.address().port }));
process.on('disconnect', () => process.exit(0));
