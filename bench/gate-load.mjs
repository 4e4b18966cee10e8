// The load process of `npm run bench:gate`: open-loop chat completions (sent on a fixed schedule,
// whatever the answers do; latency counted from the time each request was due, so a server that
// falls behind pays for the queue it causes), over keep-alive connections opened as they are
// needed. Every other request asks for a stream. Run by bench/gate.mjs (fork): it sends a phase
// over IPC and gets its figures back.
import { connect } from 'node:net';

/** Connections at most; past them requests wait for one (their wait counts in their latency). */
const MAX_CONNECTIONS = 512;

/**
 * One HTTP/1.1 connection, one request at a time. `send` resolves when the answer is complete,
 * with its status, the time its first token arrived (a streamed answer: the first SSE event with
 * content) and whether the server keeps the connection.
 */
function connection(host, port) {
  const sock = connect({ host, port });
  sock.setNoDelay(true);
  let current = null;
  let buf = Buffer.alloc(0);
  const reset = () => {
    buf = Buffer.alloc(0);
    current = null;
  };
  const finish = (r) => {
    const c = current;
    reset();
    c?.resolve(r);
  };
  const parse = () => {
    const c = current;
    if (!c) return;
    if (!c.head) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.subarray(0, end).toString('latin1');
      c.head = {
        status: Number(head.slice(9, 12)),
        length: Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? NaN),
        chunked: /\r\ntransfer-encoding: *chunked/i.test(head),
        close: /\r\nconnection: *close/i.test(head),
      };
      buf = buf.subarray(end + 4);
    }
    const h = c.head;
    if (c.firstToken === undefined && /"content":"[^"]/.test(buf.toString('utf8'))) c.firstToken = performance.now();
    if (!h.chunked) {
      if (Number.isNaN(h.length) || buf.length >= h.length)
        finish({ status: h.status, firstToken: c.firstToken, close: h.close || Number.isNaN(h.length) });
      return;
    }
    // Chunked: the answer ends with the zero-length chunk (no trailers from these servers).
    if (buf.length >= 5 && buf.subarray(buf.length - 5).toString('latin1') === '0\r\n\r\n' && chunksEnd(buf))
      finish({ status: h.status, firstToken: c.firstToken, close: h.close });
  };
  sock.on('data', (d) => {
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    parse();
  });
  const fail = (e) => {
    const c = current;
    reset();
    c?.reject(e);
  };
  sock.on('error', fail);
  sock.on('close', () => fail(Object.assign(new Error('connection closed'), { code: 'ECONNCLOSED' })));
  return {
    sock,
    send: (text) =>
      new Promise((resolve, reject) => {
        if (sock.destroyed) return reject(Object.assign(new Error('connection closed'), { code: 'ECONNCLOSED' }));
        current = { resolve, reject, head: null, firstToken: undefined };
        sock.write(text);
      }),
  };
}

/** Whether `buf` is a whole chunked body: chunk sizes walked to the zero-length chunk at its very end. */
function chunksEnd(buf) {
  let at = 0;
  for (;;) {
    const eol = buf.indexOf('\r\n', at);
    if (eol < 0) return false;
    const size = parseInt(buf.subarray(at, eol).toString('latin1'), 16);
    if (Number.isNaN(size)) return false;
    if (size === 0) return eol + 4 === buf.length;
    at = eol + 2 + size + 2;
    if (at > buf.length) return false;
  }
}

const pct = (sorted, p) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : null;

/** Keep-alive connections to `u`, opened as needed up to MAX_CONNECTIONS; `stats.connections` counts them. */
function pool(u, stats) {
  const idle = [];
  const waiting = [];
  let open = 0;
  const fresh = () => (open++, stats.connections++, connection(u.hostname, Number(u.port)));
  return {
    acquire() {
      const c = idle.pop();
      if (c && !c.sock.destroyed) return Promise.resolve(c);
      if (open < MAX_CONNECTIONS) return Promise.resolve(fresh());
      return new Promise((resolve) => waiting.push(resolve));
    },
    release(c, reusable) {
      if (!reusable) {
        c.sock.destroy();
        open--;
      }
      const next = waiting.shift();
      if (next) next(reusable ? c : fresh());
      else if (reusable) idle.push(c);
    },
    close: () => idle.forEach((c) => c.sock.destroy()),
  };
}

/**
 * Calls `fire(i, due)` for i = 0 … total − 1 at due = t0 + i / rate (ms): timers fire late by up to
 * a millisecond or so, and that lateness counts in each call's latency, the same for both targets.
 */
function schedule(total, rate, t0, fire) {
  return new Promise((resolve) => {
    let i = 0;
    const tick = () => {
      const now = performance.now();
      for (; i < total && t0 + (i * 1000) / rate <= now; i++) fire(i, t0 + (i * 1000) / rate);
      if (i >= total) return resolve();
      setTimeout(tick, Math.max(0, t0 + (i * 1000) / rate - performance.now()));
    };
    tick();
  });
}

/** The body of call `i`: a short chat completion, streamed for odd `i`. */
function request(u, key, model, i) {
  const body = JSON.stringify({
    model,
    messages: [{ role: 'user', content: `Benchmark request ${i}: say hello in ${i % 7} words.` }],
    max_tokens: 16,
    stream: i % 2 === 1,
  });
  return (
    `POST /v1/chat/completions HTTP/1.1\r\nhost: ${u.host}\r\nauthorization: Bearer ${key}\r\n` +
    `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

/** One phase: `rate` requests a second for `warmup` + `seconds` seconds to `url`; figures of the timed part. */
async function phase({ url, rate, seconds, warmup, key, model }) {
  const u = new URL(url);
  const res = { sent: 0, answered: 0, ok: 0, errors: {}, latencies: [], ttft: [], streamLatencies: [], connections: 0 };
  const error = (k) => (res.errors[k] = (res.errors[k] ?? 0) + 1);
  const conns = pool(u, res);
  const t0 = performance.now() + 20;
  const timedFrom = t0 + warmup * 1000;
  const inFlight = new Set();
  const one = async (i, due) => {
    const timed = due >= timedFrom;
    const c = await conns.acquire();
    try {
      const r = await c.send(request(u, key, model, i));
      conns.release(c, !r.close);
      res.answered++;
      if (!timed) return;
      if (r.status !== 200) return error(`HTTP ${r.status}`);
      res.ok++;
      const done = performance.now() - due;
      if (i % 2 === 0) res.latencies.push(done);
      else {
        res.streamLatencies.push(done);
        if (r.firstToken !== undefined) res.ttft.push(r.firstToken - due);
        else error('stream without a token');
      }
    } catch (e) {
      conns.release(c, false);
      if (timed) error(e.code ?? e.message);
    }
  };
  await schedule(Math.round((warmup + seconds) * rate), rate, t0, (i, due) => {
    if (due >= timedFrom) res.sent++;
    const p = one(i, due);
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  });
  // What has not answered 5 s after the last send is counted as unanswered.
  const late = await Promise.race([
    Promise.all(inFlight).then(() => 0),
    new Promise((r) => setTimeout(() => r(inFlight.size), 5000)),
  ]);
  if (late) res.errors.unanswered = late;
  const drained = performance.now();
  conns.close();
  const sorted = (a) => a.sort((x, y) => x - y);
  return {
    sent: res.sent,
    answered: res.answered,
    ok: res.ok,
    errors: res.errors,
    connections: res.connections,
    // Answered per second over the timed part, from its first send to the last answer.
    perSecond: res.ok / ((drained - timedFrom) / 1000),
    p50: pct(sorted(res.latencies), 50),
    p99: pct(res.latencies, 99),
    ttftP50: pct(sorted(res.ttft), 50),
    ttftP99: pct(res.ttft, 99),
    streamP50: pct(sorted(res.streamLatencies), 50),
  };
}

process.on('message', async (m) => {
  try {
    process.send({ ok: true, result: await phase(m) });
  } catch (e) {
    process.send({ ok: false, error: String(e?.stack ?? e) });
  }
});
process.on('disconnect', () => process.exit(0));
