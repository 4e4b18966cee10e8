#!/usr/bin/env node
// npm run bench:audit [-- --entries N --per-checkpoint K --runs R --json]
//
// Builds a file-store transparency log of N release-sized events (~500 bytes of canonical JSON),
// committed K at a time — one fsync'd commit and one signed checkpoint per K entries, as a server
// under load makes them (at 1,000 releases/s with commits 15 ms apart, K = 15) — then times
// `modelseal audit verify --log` on it, R times, as a child process under GNU time, and prints
// the median, min/max and peak RSS. The target: 1,000,000 entries in ≤ 10 s.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'dist/cli/modelseal.bundle.mjs');
const { FileStore, NoteSigner, encodeEvent, formatCheckpoint, signNote } = await import(
  join(ROOT, 'dist/src/index.js')
);

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : (process.env[`BENCH_${name.toUpperCase().replace(/-/g, '_')}`] ?? def);
};
if (args.includes('--help')) {
  console.log(
    'usage: node bench/log-audit.mjs [--entries N (1000000)] [--per-checkpoint K (15)] [--runs R (3)] [--json]',
  );
  process.exit(0);
}
const N = Number(opt('entries', '1000000'));
const K = Number(opt('per-checkpoint', '15'));
const runs = Number(opt('runs', '3'));
const json = args.includes('--json');
const log = (s) => json || process.stderr.write(s + '\n');

const work = mkdtempSync(join(tmpdir(), 'modelseal-bench-log-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
const signer = NoteSigner.generate('bench.modelseal.example/log');
writeFileSync(join(work, 'log.vkey'), signer.verifierKey);

const event = (i) =>
  encodeEvent({
    v: 1,
    type: 'export',
    time: new Date(1.8e12 + i * 1000).toISOString(),
    package: (i * 2654435761).toString(16).padStart(64, '0').slice(-64),
    artifact: `sha256:${'ab'.repeat(32)}`,
    model: 'llama-3-70b',
    recipient: `x25519:${'Q'.repeat(43)}`,
    provider: 'x25519',
    license: `EAR-${i % 97}`,
    policy: 'c'.repeat(64),
    publisher: `sha256:${'d'.repeat(64)}`,
    fingerprint: `fp-${i}`,
  });

log(`bench: building a log of ${N} entries, ${K} per commit (${Math.ceil(N / K)} checkpoints) in ${work}`);
const t0 = performance.now();
{
  // Straight to the store, K entries per append: exactly one commit and one checkpoint each.
  const store = FileStore.open(join(work, 'store'));
  const sign = ({ size, root }) =>
    signNote(formatCheckpoint({ origin: signer.name, size, root, extensions: [] }), [signer]);
  for (let i = 0; i < N; i += K) {
    await store.append(
      Array.from({ length: Math.min(K, N - i) }, (_, j) => event(i + j)),
      sign,
    );
    if (i % 100_000 < K) log(`  ${i} entries, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  }
  await store.close();
}
const buildS = (performance.now() - t0) / 1000;

const times = [];
let rss = 0;
let report;
for (let r = 0; r < runs; r++) {
  spawnSync('sync');
  const start = performance.now();
  const p = spawnSync(
    '/usr/bin/time',
    [
      '-f',
      'RSS_KB=%M',
      process.execPath,
      BIN,
      '--json',
      'audit',
      'verify',
      '--log',
      join(work, 'store'),
      '--log-key',
      join(work, 'log.vkey'),
    ],
    {
      maxBuffer: 1 << 24,
    },
  );
  const secs = (performance.now() - start) / 1000;
  if (p.status !== 0) {
    process.stderr.write(`bench: audit verify failed (exit ${p.status}): ${p.stdout}${p.stderr}\n`);
    process.exit(1);
  }
  report = JSON.parse(p.stdout.toString());
  rss = Math.max(rss, Number(/RSS_KB=(\d+)/.exec(p.stderr.toString())?.[1] ?? 0) / 1024);
  times.push(secs);
  log(`  audit verify run ${r + 1}: ${secs.toFixed(2)} s`);
}
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)];
const result = {
  entries: report.size,
  checkpoints: report.checkpoints,
  buildS,
  auditMedianS: median,
  auditMinS: times[0],
  auditMaxS: times[times.length - 1],
  peakRssMiB: rss,
  target: 'audit verify of 1,000,000 entries ≤ 10 s',
};
if (json) console.log(JSON.stringify(result));
else {
  console.log(
    `log: ${report.size} entries, ${report.checkpoints} checkpoints (built in ${buildS.toFixed(0)} s, fsync-durable)`,
  );
  console.log(
    `audit verify: median ${median.toFixed(2)} s (min ${times[0].toFixed(2)}, max ` +
      `${times[times.length - 1].toFixed(2)}, ${runs} runs), peak RSS ${rss.toFixed(0)} MiB`,
  );
  console.log(
    `target (1,000,000 entries ≤ 10 s): ${report.size >= 1e6 ? (median <= 10 ? 'PASS' : 'FAIL') : 'n/a at this size'}`,
  );
}
