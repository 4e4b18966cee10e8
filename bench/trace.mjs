#!/usr/bin/env node
// npm run bench:trace [-- --sizes 1024,4096 --runs 3 --recipients 3 --json]
//
// For each size: writes a BF16 safetensors checkpoint (streamed, in a temp dir), marks a copy for
// each of `recipients` recipients with `fingerprint embed` (the first one's copy is "the leak"; the
// others are deleted once recorded), then times `modelseal trace leak --original model` against
// `openssl dgst -sha256 leak` in the same run, round-robin, and takes the medians. Each command runs
// under GNU time (`/usr/bin/time -f %M`) for its peak RSS. Once per size it also traces the
// original itself (un-fingerprinted: nothing decides early), for the time and RSS of a full read.
// Targets (issue 17): trace ≤ 2× the hash time and ≤ 512 MiB RSS at every size.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeBf16Checkpoint } from './bf16-checkpoint.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'dist/cli/modelseal.bundle.mjs');
const TIME = '/usr/bin/time';
const { encodeSafetensorsHeader } = await import(join(ROOT, 'dist/src/index.js'));

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : (process.env[`BENCH_${name.toUpperCase().replace(/-/g, '_')}`] ?? def);
};
const sizes = String(opt('sizes', '1024,4096')).split(',').map(Number);
const runs = Number(opt('runs', 3));
const recipients = Number(opt('recipients', 3));
const json = args.includes('--json');
const log = (s) => json || process.stderr.write(s + '\n');

const work = mkdtempSync(join(tmpdir(), 'modelseal-bench-trace-'));
process.on('exit', () => process.env.BENCH_KEEP || rmSync(work, { recursive: true, force: true }));

/** Runs a command under GNU time: wall seconds, peak RSS in bytes, stdout. */
function timed(cmd, cmdArgs) {
  spawnSync('sync');
  const t0 = process.hrtime.bigint();
  const r = spawnSync(TIME, ['-f', '%M', cmd, ...cmdArgs], { cwd: work, maxBuffer: 1 << 26 });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`bench: ${cmd} ${cmdArgs.join(' ')} failed: ${r.stderr}`);
  const lines = r.stderr.toString().trim().split('\n');
  return { s, rss: Number(lines.at(-1)) * 1024, out: r.stdout.toString() };
}
const modelseal = (...a) => timed(process.execPath, [BIN, '--keys', join(work, 'keys'), '--json', ...a]);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

modelseal('init');
log(
  `bench: trace vs openssl dgst -sha256, sizes ${sizes.join(', ')} MiB, ${recipients} recipients, ${runs} runs, ` +
    `${cpus().length} cores, node ${process.version}`,
);
const results = [];
for (const sizeMiB of sizes) {
  const model = join(work, `model-${sizeMiB}.safetensors`);
  const leak = join(work, `leak-${sizeMiB}.safetensors`);
  const registry = join(work, `registry-${sizeMiB}.jsonl`);
  const { bytes } = writeBf16Checkpoint(model, sizeMiB, encodeSafetensorsHeader);
  for (let r = 0; r < recipients; r++) {
    const out = r === 0 ? leak : join(work, 'other.safetensors');
    modelseal('fingerprint', 'embed', model, '--recipient', `recipient-${r}`, '--registry', registry, '-o', out);
    if (r > 0) rmSync(out);
  }
  const times = { trace: [], openssl: [] };
  const rss = { trace: [], openssl: [] };
  let report;
  for (let run = 0; run < runs; run++) {
    const t = modelseal('trace', leak, '--original', model, '--recipients', registry);
    report = JSON.parse(t.out);
    const o = timed('openssl', ['dgst', '-sha256', leak]);
    times.trace.push(t.s);
    rss.trace.push(t.rss);
    times.openssl.push(o.s);
    rss.openssl.push(o.rss);
    log(
      `  ${sizeMiB} MiB run ${run + 1}: trace ${t.s.toFixed(2)} s (${(t.rss / 2 ** 20).toFixed(0)} MiB), openssl ` +
        `${o.s.toFixed(2)} s`,
    );
  }
  // Reading everything: the original traced as a leak carries no mark, so no look decides (one run).
  const full = modelseal('trace', model, '--original', model, '--recipients', registry);
  const fullReport = JSON.parse(full.out);
  if (fullReport.accused.length || fullReport.read.fraction !== 1)
    throw new Error('bench: the un-fingerprinted original was not read to the end, or accused someone');
  log(
    `  ${sizeMiB} MiB, un-fingerprinted copy read to the end: ${full.s.toFixed(2)} s ` +
      `(${(full.rss / 2 ** 20).toFixed(0)} MiB)`,
  );
  if (report.accused.map((a) => a.recipient).join() !== 'recipient-0')
    throw new Error(
      `bench: trace accused ${JSON.stringify(report.accused.map((a) => a.recipient))}, expected recipient-0`,
    );
  const res = {
    sizeMiB,
    bytes,
    traceMedianS: median(times.trace),
    opensslMedianS: median(times.openssl),
    ratio: median(times.trace) / median(times.openssl),
    tracePeakRssMiB: Math.max(...rss.trace) / 2 ** 20,
    z: report.accused[0].z,
    threshold: report.threshold,
    looks: report.looks,
    read: report.read,
    fullReadS: full.s,
    fullReadPeakRssMiB: full.rss / 2 ** 20,
  };
  results.push(res);
  if (!process.env.BENCH_KEEP) {
    rmSync(model);
    rmSync(leak);
  }
}
if (json) console.log(JSON.stringify(results));
else {
  for (const r of results) {
    const ok = r.ratio <= 2 && r.tracePeakRssMiB <= 512 && r.fullReadPeakRssMiB <= 512;
    console.log(
      `${(r.bytes / 2 ** 30).toFixed(2)} GiB: trace median ${r.traceMedianS.toFixed(2)} s, openssl dgst -sha256 ` +
        `${r.opensslMedianS.toFixed(2)} s, ratio ${r.ratio.toFixed(2)}; trace peak RSS ` +
        `${r.tracePeakRssMiB.toFixed(0)} MiB; ` +
        `z ${r.z.toFixed(1)} ≥ τ ${r.threshold.toFixed(2)} (K = ${r.looks}), read ` +
        `${(100 * r.read.fraction).toFixed(1)}% (${r.read.tensors}/${r.read.tensorsTotal} tensors); read to the ` +
        `end (un-fingerprinted copy) ${r.fullReadS.toFixed(2)} s, ${r.fullReadPeakRssMiB.toFixed(0)} MiB — ` +
        `target ≤ 2× and ≤ 512 MiB: ${ok ? 'PASS' : 'FAIL'}`,
    );
  }
}
