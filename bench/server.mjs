#!/usr/bin/env node
// npm run bench:server [-- --seconds S --concurrency C --json]
//
// Drives `modelseal serve` (a child process: file store, local keys, fsync-durable log) with
// release requests from this separate process over loopback, and prints releases/s and the p50,
// p90, p99 and max latency of allowed releases. Every request is signed anew (unique nonce), by a
// registered Ed25519 recipient key; they are made before the clock starts so signing does not
// compete with the server. Target on the 2-core machine: >= 1,000 releases/s with p99 <= 25 ms.
import { spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'dist/cli/modelseal.bundle.mjs');
const { readHead, signRequest } = await import(join(ROOT, 'dist/src/index.js'));
const { newEphemeral, stanzaToJson } = await import(join(ROOT, 'dist/src/server/protocol.js'));
const { toB64 } = await import(join(ROOT, 'dist/src/format/encoding.js'));

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return Number(i >= 0 ? args[i + 1] : (process.env[`BENCH_${name.toUpperCase()}`] ?? def));
};
const seconds = opt('seconds', 10);
const concurrency = opt('concurrency', 32);
const json = args.includes('--json');
const log = (s) => json || process.stderr.write(s + '\n');

const work = mkdtempSync(join(tmpdir(), 'modelseal-bench-server-'));
const keys = join(work, 'keys');
const data = join(work, 'data');
let server;
process.on('exit', () => {
  server?.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

const ms = (...a) => {
  const r = spawnSync(process.execPath, [BIN, '--keys', keys, '--json', ...a], { cwd: work, maxBuffer: 1 << 26 });
  if (r.status !== 0) {
    process.stderr.write(`bench: modelseal ${a.join(' ')} failed: ${r.stderr}\n`);
    process.exit(1);
  }
  return JSON.parse(r.stdout.toString() || '{}');
};

// ---- setup: keys, an Ed25519 recipient, the service, a package, a license ----
ms('init', '--log-origin', 'bench.modelseal.example/log');
const { privateKey, publicKey } = generateKeyPairSync('ed25519');
writeFileSync(join(work, 'bench.pub'), publicKey.export({ format: 'pem', type: 'spki' }));
ms('recipient', 'register', 'bench-co', '--data', data, '--org', 'Bench Co', '--country', 'DE', '--nationality', 'DE', '--public-key', join(work, 'bench.pub'));
// BENCH_SERVER_NODE_ARGS: extra node flags for the server (e.g. --cpu-prof to profile it).
const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
server = spawn(process.execPath, [...nodeArgs, BIN, '--keys', keys, '--json', 'serve', '--data', data, '--port', '0'], { cwd: work, stdio: ['ignore', 'pipe', 'inherit'] });
const ready = JSON.parse(await new Promise((res) => createInterface({ input: server.stdout }).once('line', res)));
const url = new URL(ready.url);
const sealed = ms('seal', join(ROOT, 'samples/checkpoint'), '--to', `release:${ready.url}#bench-co`, '--license', 'BENCH', '-o', join(work, 'm.mseal'));
writeFileSync(
  join(data, 'policy', 'licenses.json'),
  JSON.stringify({ licenses: [{ id: 'BENCH', holder: 'bench-co', artifacts: [sealed.model.rootDigest], destinations: ['DE'], notBefore: '2020-01-01T00:00:00Z', notAfter: '2100-01-01T00:00:00Z', maxReleases: 1e9 }] }),
);
await new Promise((r) => setTimeout(r, 1500)); // the service re-reads the policy within a second

// ---- requests, made before the clock starts ----
const h = (await readHead(join(work, 'm.mseal'))).parsed.header;
const stanza = stanzaToJson(h.stanzas[0]);
const budget = Math.ceil(seconds * 3000) + 1000;
log(`bench: signing ${budget} requests`);
const bodies = [];
for (let i = 0; i < budget; i++) {
  const r = {
    v: 1,
    package: Buffer.from(h.packageId).toString('hex'),
    artifact: `sha256:${Buffer.from(h.model.rootDigest).toString('hex')}`,
    stanza,
    ephemeral: newEphemeral().public,
    nonce: toB64(Buffer.from(i.toString(16).padStart(32, '0'), 'hex')),
    time: '',
    destination: 'DE',
    recipient: 'bench-co',
  };
  bodies.push(r);
}

const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
function post(body) {
  return new Promise((resolvePost, reject) => {
    const text = Buffer.from(body);
    const req = request({ host: url.hostname, port: url.port, path: '/v1/release', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': text.length } }, (res) => {
      const parts = [];
      res.on('data', (b) => parts.push(b));
      res.on('end', () => resolvePost({ status: res.statusCode, body: Buffer.concat(parts) }));
    });
    req.on('error', reject);
    req.end(text);
  });
}

// Timestamps must be fresh: sign just in time but cheaply (Ed25519, ~40 µs) as each is sent.
let next = 0;
const latencies = [];
let allowed = 0;
let other = 0;
const warmupEnd = performance.now() + 1000;
const end = warmupEnd + seconds * 1000;
async function worker() {
  while (performance.now() < end && next < bodies.length) {
    const r = bodies[next++];
    r.time = new Date().toISOString();
    const body = JSON.stringify({ request: r, signature: signRequest(r, privateKey) });
    const t0 = performance.now();
    const res = await post(body);
    const t1 = performance.now();
    if (t0 < warmupEnd) continue;
    if (res.status === 200 && res.body.includes('"decision":"allow"')) {
      allowed++;
      latencies.push(t1 - t0);
    } else other++;
  }
}
log(`bench: ${concurrency} concurrent clients for 1 s warm-up + ${seconds} s against ${ready.url}`);
await Promise.all(Array.from({ length: concurrency }, worker));
latencies.sort((a, b) => a - b);
const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
const result = {
  backend: 'file',
  concurrency,
  seconds,
  releases: allowed,
  notAllowed: other,
  releasesPerSecond: allowed / seconds,
  p50ms: pct(50),
  p90ms: pct(90),
  p99ms: pct(99),
  maxMs: latencies[latencies.length - 1],
  logEntries: null,
};
server.kill('SIGTERM');
await new Promise((r) => server.once('exit', r));
server = undefined;
const audit = spawnSync(process.execPath, [BIN, '--keys', keys, '--json', 'audit', 'verify', '--store', join(data, 'log')], { maxBuffer: 1 << 26 });
result.logEntries = JSON.parse(audit.stdout.toString()).size ?? null;
result.auditOk = audit.status === 0;
if (json) console.log(JSON.stringify(result));
else {
  console.log(`file store, ${concurrency} clients, ${seconds} s: ${result.releasesPerSecond.toFixed(0)} releases/s (${allowed} allowed, ${other} other)`);
  console.log(`latency of allowed releases: p50 ${result.p50ms.toFixed(1)} ms, p90 ${result.p90ms.toFixed(1)} ms, p99 ${result.p99ms.toFixed(1)} ms, max ${result.maxMs.toFixed(1)} ms`);
  console.log(`log: ${result.logEntries} entries, audit ${result.auditOk ? 'clean' : 'FAILED'}`);
  console.log(`target (>= 1,000 releases/s, p99 <= 25 ms): ${result.releasesPerSecond >= 1000 && result.p99ms <= 25 ? 'PASS' : 'FAIL'}`);
}
