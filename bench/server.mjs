#!/usr/bin/env node
// npm run bench:server [-- --seconds S --concurrency C --backend file|postgres --json]
//
// Drives `modelseal serve` (a child process: local keys, a durable log) with release requests from
// this separate process over loopback, and prints releases/s and the p50, p90, p99 and max latency
// of allowed releases, for each backend: the file store (fdatasync) and PostgreSQL (COMMIT; the
// test peer of test/peers/setup.sh, or $MODELSEAL_BENCH_PG). Every request is signed anew (unique
// nonce, fresh time) by a registered Ed25519 recipient key, as it is sent. After the run, the log
// is audited. Target on the 2-core machine (file store): >= 1,000 releases/s with p99 <= 25 ms.
import { spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
  return i >= 0 ? args[i + 1] : (process.env[`BENCH_${name.toUpperCase()}`] ?? def);
};
const seconds = Number(opt('seconds', 10));
const concurrency = Number(opt('concurrency', 32));
const backends = String(opt('backend', 'file,postgres')).split(',');
const json = args.includes('--json');
const log = (s) => json || process.stderr.write(s + '\n');

const work = mkdtempSync(join(tmpdir(), 'modelseal-bench-server-'));
let server;
process.on('exit', () => {
  server?.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

function postgresUrl() {
  if (process.env.MODELSEAL_BENCH_PG) return process.env.MODELSEAL_BENCH_PG;
  const file = join(ROOT, '.peers/postgres.url');
  if (!existsSync(file)) {
    log('bench: starting the PostgreSQL test peer (test/peers/setup.sh)');
    const r = spawnSync('bash', [join(ROOT, 'test/peers/setup.sh')], { stdio: ['ignore', 'ignore', 'inherit'] });
    if (r.status !== 0 || !existsSync(file)) throw new Error('bench: no PostgreSQL: test/peers/setup.sh failed; set MODELSEAL_BENCH_PG=postgres://… to use another');
  }
  return readFileSync(file, 'utf8').trim();
}

async function run(backend) {
  const dir = join(work, backend);
  const keys = join(dir, 'keys');
  const data = join(dir, 'data');
  // A schema of its own in the PostgreSQL database, so each run starts with an empty log.
  const store = backend === 'postgres' ? `${postgresUrl()}?schema=bench_${randomBytes(4).toString('hex')}` : undefined;
  const ms = (...a) => {
    const r = spawnSync(process.execPath, [BIN, '--keys', keys, '--json', ...a], { cwd: work, maxBuffer: 1 << 26 });
    if (r.status !== 0) throw new Error(`bench: modelseal ${a.join(' ')} failed: ${r.stderr}`);
    return JSON.parse(r.stdout.toString() || '{}');
  };

  // ---- setup: keys, an Ed25519 recipient, the service, a package, a license ----
  ms('init', '--log-origin', 'bench.modelseal.example/log');
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  writeFileSync(join(dir, 'bench.pub'), publicKey.export({ format: 'pem', type: 'spki' }));
  ms('recipient', 'register', 'bench-co', '--data', data, '--org', 'Bench Co', '--country', 'DE', '--nationality', 'DE', '--public-key', join(dir, 'bench.pub'));
  // BENCH_SERVER_NODE_ARGS: extra node flags for the server (e.g. --cpu-prof to profile it).
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  server = spawn(process.execPath, [...nodeArgs, BIN, '--keys', keys, '--json', 'serve', '--data', data, '--port', '0', ...(store ? ['--store', store] : [])], {
    cwd: work,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ready = JSON.parse(await new Promise((res) => createInterface({ input: server.stdout }).once('line', res)));
  let died;
  const exited = new Promise((r) => server.once('exit', (code, signal) => r((died = { code, signal }))));
  const url = new URL(ready.url);
  const sealed = ms('seal', join(ROOT, 'samples/checkpoint'), '--to', `release:${ready.url}#bench-co`, '--license', 'BENCH', '-o', join(dir, 'm.mseal'));
  writeFileSync(
    join(data, 'policy', 'licenses.json'),
    JSON.stringify({ licenses: [{ id: 'BENCH', holder: 'bench-co', artifacts: [sealed.model.rootDigest], destinations: ['DE'], notBefore: '2020-01-01T00:00:00Z', notAfter: '2100-01-01T00:00:00Z', maxReleases: 1e9 }] }),
  );
  await new Promise((r) => setTimeout(r, 1500)); // the service re-reads the policy within a second

  const h = (await readHead(join(dir, 'm.mseal'))).parsed.header;
  const template = {
    v: 1,
    package: Buffer.from(h.packageId).toString('hex'),
    artifact: `sha256:${Buffer.from(h.model.rootDigest).toString('hex')}`,
    stanza: stanzaToJson(h.stanzas[0]),
    destination: 'DE',
    recipient: 'bench-co',
  };
  // Ephemeral keys are made before the clock starts (the client's cost, not the service's).
  const budget = Math.ceil(seconds * 3000) + 1000;
  const ephemerals = Array.from({ length: budget }, () => newEphemeral().public);

  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const post = (body) =>
    new Promise((resolvePost, reject) => {
      const text = Buffer.from(body);
      const req = request({ host: url.hostname, port: url.port, path: '/v1/release', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': text.length } }, (res) => {
        const parts = [];
        res.on('data', (b) => parts.push(b));
        res.on('end', () => resolvePost({ status: res.statusCode, body: Buffer.concat(parts) }));
      });
      req.on('error', reject);
      req.end(text);
    });

  let next = 0;
  const latencies = [];
  let allowed = 0;
  let other = 0;
  const failed = new Map();
  const warmupEnd = performance.now() + 1000;
  const end = warmupEnd + seconds * 1000;
  async function client() {
    while (performance.now() < end && next < budget) {
      const i = next++;
      const r = { ...template, ephemeral: ephemerals[i], nonce: toB64(Buffer.from(i.toString(16).padStart(32, '0'), 'hex')), time: new Date().toISOString() };
      const body = JSON.stringify({ request: r, signature: signRequest(r, privateKey) });
      const t0 = performance.now();
      let res;
      try {
        res = await post(body);
      } catch (e) {
        // A connection reset (seen once in many runs) is counted and reported, not fatal.
        failed.set(e.code ?? e.message, (failed.get(e.code ?? e.message) ?? 0) + 1);
        continue;
      }
      const t1 = performance.now();
      if (t0 < warmupEnd) continue;
      if (res.status === 200 && res.body.includes('"decision":"allow"')) {
        allowed++;
        latencies.push(t1 - t0);
      } else other++;
    }
  }
  log(`bench: ${backend} store, ${concurrency} concurrent clients for 1 s warm-up + ${seconds} s against ${ready.url}`);
  await Promise.all(Array.from({ length: concurrency }, client));
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
  if (died) throw new Error(`bench: the service exited during the run (code ${died.code}, signal ${died.signal}); its stderr is above`);
  server.kill('SIGTERM');
  await exited;
  server = undefined;
  const audit = spawnSync(process.execPath, [BIN, '--keys', keys, '--json', 'audit', 'verify', '--store', store ?? join(data, 'log')], { maxBuffer: 1 << 26 });
  if (store) dropSchema(store);
  return {
    backend,
    concurrency,
    seconds,
    releases: allowed,
    notAllowed: other,
    failedRequests: Object.fromEntries(failed),
    releasesPerSecond: allowed / seconds,
    p50ms: pct(50),
    p90ms: pct(90),
    p99ms: pct(99),
    maxMs: latencies[latencies.length - 1],
    logEntries: JSON.parse(audit.stdout.toString() || '{}').size ?? null,
    auditOk: audit.status === 0,
  };
}

function dropSchema(store) {
  const u = new URL(store);
  const schema = u.searchParams.get('schema');
  u.search = '';
  spawnSync('psql', ['-X', '-q', u.toString(), '-c', `DROP SCHEMA IF EXISTS "${schema}" CASCADE`], { stdio: 'ignore' });
}

const results = [];
for (const b of backends) results.push(await run(b));
if (json) console.log(JSON.stringify(results));
else {
  for (const r of results) {
    console.log(`${r.backend} store, ${r.concurrency} clients, ${r.seconds} s: ${r.releasesPerSecond.toFixed(0)} releases/s (${r.releases} allowed, ${r.notAllowed} other)`);
    const failures = Object.entries(r.failedRequests);
    if (failures.length) console.log(`  requests that got no answer: ${failures.map(([k, n]) => `${n} × ${k}`).join(', ')}`);
    console.log(`  latency of allowed releases: p50 ${r.p50ms.toFixed(1)} ms, p90 ${r.p90ms.toFixed(1)} ms, p99 ${r.p99ms.toFixed(1)} ms, max ${r.maxMs.toFixed(1)} ms`);
    console.log(`  log: ${r.logEntries} entries, audit ${r.auditOk ? 'clean' : 'FAILED'}`);
  }
  const file = results.find((r) => r.backend === 'file');
  if (file) console.log(`target, file store (>= 1,000 releases/s, p99 <= 25 ms): ${file.releasesPerSecond >= 1000 && file.p99ms <= 25 ? 'PASS' : 'FAIL'}`);
}
