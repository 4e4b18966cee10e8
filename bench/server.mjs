#!/usr/bin/env node
// npm run bench:server [-- --seconds S --concurrency C --backend file|postgres --json]
//
// Drives `modelseal serve` (a child process: local keys, a durable log) with release requests from
// this separate process over loopback, and prints releases/s and the p50, p90, p99 and max latency
// of allowed releases, for each backend: the file store (fdatasync) and PostgreSQL (COMMIT; the
// test peer of test/peers/setup.sh, or $MODELSEAL_BENCH_PG). Every request is signed anew (unique
// nonce, fresh time) by a registered Ed25519 recipient key, as it is sent, over a keep-alive
// connection per client. After the run, the log is audited. Target on the 2-core machine (file
// store): >= 1,000 releases/s with p99 <= 25 ms.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  auditLog,
  connection,
  dropSchema,
  ephemerals,
  licensedTemplate,
  option,
  postgresStore,
  prepare,
  requestSigner,
  startServe,
} from './load.mjs';

const opt = (name, def) => option('BENCH', name, def);
const seconds = Number(opt('seconds', 10));
const concurrency = Number(opt('concurrency', 32));
const backends = String(opt('backend', 'file,postgres')).split(',');
const json = process.argv.includes('--json');
const log = (s) => json || process.stderr.write(s + '\n');

const work = mkdtempSync(join(tmpdir(), 'modelseal-bench-server-'));
let server;
process.on('exit', () => {
  server?.child.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

async function run(backend) {
  const env = prepare(join(work, backend));
  const store = backend === 'postgres' ? postgresStore(log) : undefined;
  // BENCH_SERVER_NODE_ARGS: extra node flags for the server (e.g. --cpu-prof to profile it).
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  server = await startServe(env, { store, nodeArgs });
  const template = await licensedTemplate(env, server.url);
  // Ephemeral keys are made before the clock starts (the client's cost, not the service's).
  const budget = Math.ceil(seconds * 3000) + 1000;
  const keys = await ephemerals(budget);
  const sign = await requestSigner(template, env.privateKey);

  let next = 0;
  const latencies = [];
  let allowed = 0;
  let other = 0;
  const failed = new Map();
  const warmupEnd = performance.now() + 1000;
  const end = warmupEnd + seconds * 1000;
  async function client() {
    let conn = connection(server.url);
    while (performance.now() < end && next < budget) {
      const i = next++;
      const body = sign(keys[i]);
      const t0 = performance.now();
      let res;
      try {
        res = await conn.post('/v1/release', body);
      } catch (e) {
        // A connection reset (seen once in many runs) is counted and reported, not fatal; the
        // client goes on with a new connection.
        failed.set(e.code ?? e.message, (failed.get(e.code ?? e.message) ?? 0) + 1);
        conn.close();
        conn = connection(server.url);
        continue;
      }
      const t1 = performance.now();
      if (t0 < warmupEnd) continue;
      if (res.status === 200 && res.body.includes('"decision":"allow"')) {
        allowed++;
        latencies.push(t1 - t0);
      } else other++;
    }
    conn.close();
  }
  log(
    `bench: ${backend} store, ${concurrency} concurrent clients for 1 s warm-up + ${seconds} s against ${server.url}`,
  );
  let cpuAtStart = null;
  const startTimer = setTimeout(() => (cpuAtStart = cpuSnapshot(server.child.pid)), warmupEnd - performance.now());
  await Promise.all(Array.from({ length: concurrency }, client));
  clearTimeout(startTimer);
  const cpu = cpuShares(cpuAtStart, cpuSnapshot(server.child.pid));
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
  const death = server.death() ?? (await server.stop());
  if (death) throw new Error(`bench: ${death}; its stderr is above`);
  server = undefined;
  const audit = auditLog(env, store);
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
    logEntries: audit.size,
    auditOk: audit.ok,
    cpu,
  };
}

/**
 * CPU time so far of the service and of this driver, and the machine's idle and total time, from
 * /proc (Linux; null elsewhere). /proc counts in USER_HZ ticks, 100 a second on Linux.
 */
function cpuSnapshot(pid) {
  try {
    // Fields after "(comm) ": state is the 3rd of /proc/<pid>/stat, utime the 14th, stime the 15th.
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    const machine = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const driver = process.cpuUsage();
    return {
      service: (Number(f[11]) + Number(f[12])) / 100,
      driver: (driver.user + driver.system) / 1e6,
      idle: (machine[3] + machine[4]) / 100,
      total: machine.reduce((a, b) => a + b, 0) / 100,
      at: performance.now() / 1000,
    };
  } catch {
    return null;
  }
}

/** Shares of one core used by the service and the driver between two snapshots, and the machine's idle share. */
function cpuShares(a, b) {
  if (!a || !b || b.at <= a.at) return null;
  const pct = (x) => Math.round(100 * x);
  return {
    servicePercent: pct((b.service - a.service) / (b.at - a.at)),
    driverPercent: pct((b.driver - a.driver) / (b.at - a.at)),
    machineIdlePercent: pct((b.idle - a.idle) / (b.total - a.total)),
  };
}

const results = [];
for (const b of backends) results.push(await run(b));
if (json) console.log(JSON.stringify(results));
else {
  for (const r of results) {
    console.log(
      `${r.backend} store, ${r.concurrency} clients, ${r.seconds} s: ${r.releasesPerSecond.toFixed(0)} releases/s ` +
        `(${r.releases} allowed, ${r.notAllowed} other)`,
    );
    const failures = Object.entries(r.failedRequests);
    if (failures.length)
      console.log(`  requests that got no answer: ${failures.map(([k, n]) => `${n} × ${k}`).join(', ')}`);
    console.log(
      `  latency of allowed releases: p50 ${r.p50ms.toFixed(1)} ms, p90 ${r.p90ms.toFixed(1)} ms, p99 ` +
        `${r.p99ms.toFixed(1)} ms, max ${r.maxMs.toFixed(1)} ms`,
    );
    if (r.cpu)
      console.log(
        `  CPU: the service ${r.cpu.servicePercent} % of a core, this driver ${r.cpu.driverPercent} %; the machine ` +
          `${r.cpu.machineIdlePercent} % idle`,
      );
    console.log(`  log: ${r.logEntries} entries, audit ${r.auditOk ? 'clean' : 'FAILED'}`);
  }
  const file = results.find((r) => r.backend === 'file');
  if (file)
    console.log(
      `target, file store (>= 1,000 releases/s, p99 <= 25 ms): ` +
        `${file.releasesPerSecond >= 1000 && file.p99ms <= 25 ? 'PASS' : 'FAIL'}`,
    );
}
