#!/usr/bin/env node
// npm run bench:gate [-- --rates 500,1000 --rounds 3 --seconds 5 --warmup 1 --json]
//
// What `modelseal gate` adds to an inference call. Three processes besides this one: a minimal
// OpenAI-compatible model server that answers at once (bench/gate-upstream.mjs), the gateway in
// front of it (the built CLI: a registered recipient, its API key and a license; the admit entry
// durable in the file log before each call is forwarded), and the load (bench/gate-load.mjs):
// open-loop chat completions at each rate, half of them streamed, to the model server directly
// and through the gateway, alternately in each round. Printed per rate, medians over the rounds:
// latency p50 and p99 of non-streamed calls, time to the first streamed token, both direct and
// through the gateway and the difference (what the gateway adds), calls answered per second, the
// gateway's CPU time per call, and errors. Then the gateway's log is audited (`audit verify`).
// Targets (docs/GATE.md, "Speed"): added p50 <= 2 ms, added p99 <= 20 ms, >= 1,000 calls/s.
import { fork } from 'node:child_process';
import { cpus } from 'node:os';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { option } from './load.mjs';
import { prepareGate, startGate } from './gate-setup.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const opt = (name, def) => option('BENCH', name, def);
const rates = String(opt('rates', '500,1000')).split(',').map(Number);
const rounds = Number(opt('rounds', 3));
const seconds = Number(opt('seconds', 5));
const warmup = Number(opt('warmup', 1));
const json = process.argv.includes('--json');
const say = (s) => json || process.stderr.write(s + '\n');
const MODEL = 'bench-model';

const work = mkdtempSync(join(tmpdir(), 'modelseal-bench-gate-'));
const children = [];
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
  if (!process.env.BENCH_KEEP) rmSync(work, { recursive: true, force: true });
});

/** A forked helper process and its first IPC message. */
function start(file, env = {}) {
  const child = fork(join(HERE, file), [], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.push(child);
  return { child, first: new Promise((resolve) => child.once('message', resolve)) };
}

/** One phase of the load process: its figures. */
function phase(load, m) {
  return new Promise((resolve, reject) => {
    load.once('message', (r) => (r.ok ? resolve(r.result) : reject(new Error(r.error))));
    load.send(m);
  });
}

/** CPU seconds so far of process `pid` (user + system), from /proc (Linux). */
function cpuSeconds(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

const median = (xs) => {
  const s = xs.filter((x) => x !== null && Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return null;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const upstream = start('gate-upstream.mjs', { BENCH_GATE_MODEL: MODEL });
const { port } = await upstream.first;
const upstreamUrl = `http://127.0.0.1:${port}`;
const env = prepareGate(join(work, 'gate'));
const gate = await startGate(env, upstreamUrl, MODEL);
children.push(gate.child);
const load = start('gate-load.mjs').child;

say(
  `bench: ${cpus().length} cores (shared by the model server, the gateway and the load), ` +
    `${rounds} rounds × (${warmup} s warm-up + ${seconds} s) per rate and target, open loop, half the calls streamed`,
);
say(`bench: model server ${upstreamUrl}, gateway ${gate.url}`);

const results = [];
for (const rate of rates) {
  const perRound = [];
  for (let round = 0; round < rounds; round++) {
    const targets = round % 2 === 0 ? ['direct', 'gate'] : ['gate', 'direct'];
    const got = {};
    for (const target of targets) {
      const url = target === 'gate' ? gate.url : upstreamUrl;
      const cpu0 = cpuSeconds(gate.child.pid);
      const r = await phase(load, { url, rate, seconds, warmup, key: env.apiKey, model: MODEL });
      const cpu = cpuSeconds(gate.child.pid) - cpu0;
      got[target] = { ...r, gateCpuPerCallUs: (cpu / r.answered) * 1e6 };
      const death = gate.death();
      if (death) throw new Error(`bench: the gateway ${death}`);
    }
    perRound.push(got);
    say(
      `  ${rate}/s round ${round + 1}: direct p50 ${fmt(got.direct.p50)} p99 ${fmt(got.direct.p99)} · gate p50 ` +
        `${fmt(got.gate.p50)} p99 ${fmt(got.gate.p99)} ms · gate ${got.gate.perSecond.toFixed(0)}/s, ` +
        `${errorsOf(got.gate)} errors, ${got.gate.gateCpuPerCallUs.toFixed(0)} µs CPU/call`,
    );
  }
  const m = (f) => median(perRound.map(f));
  results.push({
    rate,
    rounds,
    seconds,
    direct: { p50: m((r) => r.direct.p50), p99: m((r) => r.direct.p99), ttftP50: m((r) => r.direct.ttftP50) },
    gate: { p50: m((r) => r.gate.p50), p99: m((r) => r.gate.p99), ttftP50: m((r) => r.gate.ttftP50) },
    addedP50: m((r) => r.gate.p50 - r.direct.p50),
    addedP99: m((r) => r.gate.p99 - r.direct.p99),
    addedTtftP50: m((r) => r.gate.ttftP50 - r.direct.ttftP50),
    addedTtftP99: m((r) => r.gate.ttftP99 - r.direct.ttftP99),
    perSecond: m((r) => r.gate.perSecond),
    gateCpuPerCallUs: m((r) => r.gate.gateCpuPerCallUs - r.direct.gateCpuPerCallUs),
    gateErrors: perRound.reduce((n, r) => n + errorsOf(r.gate), 0),
    directErrors: perRound.reduce((n, r) => n + errorsOf(r.direct), 0),
    errorKinds: Object.assign({}, ...perRound.map((r) => r.gate.errors)),
  });
}

const death = gate.death() ?? (await gate.stop());
if (death) throw new Error(`bench: the gateway ${death}`);
const audit = env.audit();

function fmt(v) {
  return v === null || v === undefined ? '-' : v.toFixed(2);
}
function errorsOf(r) {
  return Object.values(r.errors).reduce((a, b) => a + b, 0);
}

if (json) console.log(JSON.stringify({ cores: cpus().length, results, audit }));
else {
  for (const r of results) {
    console.log(`${r.rate} calls/s offered, open loop, medians of ${r.rounds} rounds of ${r.seconds} s:`);
    console.log(
      `  latency (non-streamed) direct p50 ${fmt(r.direct.p50)} ms p99 ${fmt(r.direct.p99)} ms; through the ` +
        `gateway p50 ${fmt(r.gate.p50)} ms p99 ${fmt(r.gate.p99)} ms; added p50 ${fmt(r.addedP50)} ms, ` +
        `p99 ${fmt(r.addedP99)} ms`,
    );
    console.log(
      `  first streamed token: direct p50 ${fmt(r.direct.ttftP50)} ms, gateway ${fmt(r.gate.ttftP50)} ms; ` +
        `added p50 ${fmt(r.addedTtftP50)} ms, p99 ${fmt(r.addedTtftP99)} ms`,
    );
    console.log(
      `  gateway: ${r.perSecond.toFixed(0)} calls/s answered, ${r.gateCpuPerCallUs.toFixed(0)} µs CPU per call, ` +
        `${r.gateErrors} errors${r.gateErrors ? ` (${JSON.stringify(r.errorKinds)})` : ''} ` +
        `(direct: ${r.directErrors} errors)`,
    );
    const pass = r.addedP50 <= 2 && r.addedP99 <= 20 && r.perSecond >= 0.99 * r.rate && r.gateErrors === 0;
    console.log(`  target (added p50 <= 2 ms, p99 <= 20 ms, all ${r.rate}/s answered): ${pass ? 'PASS' : 'FAIL'}`);
  }
  console.log(
    `log: ${audit.size ?? '?'} entries, audit ${audit.ok ? 'clean' : 'FAILED'}` +
      (audit.inference ? `; ${audit.inference.admitted} calls admitted, ${audit.inference.open} open` : ''),
  );
}
