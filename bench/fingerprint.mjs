#!/usr/bin/env node
// npm run bench:fingerprint [-- --size-mib 1024 --runs 5 --json]
//
// Times `modelseal seal` of a BF16 safetensors checkpoint with and without `--fingerprint`
// (round-robin, fresh output each run) and prints the medians and their ratio.
// Target (issue 5): fingerprinting while sealing costs at most 1.5× sealing alone.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { COLS, ROWS, writeBf16Checkpoint } from './bf16-checkpoint.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'dist/cli/modelseal.bundle.mjs');
const { encodeSafetensorsHeader } = await import(join(ROOT, 'dist/src/index.js'));

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const sizeMiB = Number(opt('size-mib', 1024));
const runs = Number(opt('runs', 5));
const json = args.includes('--json');
const log = (s) => json || process.stderr.write(s + '\n');

const work = mkdtempSync(join(tmpdir(), 'modelseal-bench-fp-'));
process.on('exit', () => process.env.BENCH_KEEP || rmSync(work, { recursive: true, force: true }));

// ---- a BF16 checkpoint: 64 MiB tensors [4096, 8192] of normal weights around ±2^-7..2^-1 ----
const input = join(work, 'model.safetensors');
const { bytes: total, count } = writeBf16Checkpoint(input, sizeMiB, encodeSafetensorsHeader);
const rows = ROWS;
const cols = COLS;

const ms = (...a) => {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [BIN, '--keys', join(work, 'keys'), '--json', ...a], {
    cwd: work,
    maxBuffer: 1 << 26,
  });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`bench: modelseal ${a.join(' ')} failed: ${r.stderr}`);
  return { s, out: JSON.parse(r.stdout.toString() || '{}') };
};
ms('init');
log(
  `bench: ${(total / 2 ** 30).toFixed(2)} GiB BF16 checkpoint (${count} tensors [${rows}, ${cols}]), ${runs} runs ` +
    `each, ${cpus().length} cores, node ${process.version}`,
);

const times = { seal: [], sealFingerprint: [] };
let last;
for (let r = 0; r < runs; r++) {
  // Each output is deleted right after its run, so neither command runs while the other's 1 GiB of
  // dirty pages is being written back.
  times.seal.push(ms('seal', input, '--to', 'local', '-o', join(work, 'a.mseal')).s);
  rmSync(join(work, 'a.mseal'));
  const f = ms('seal', input, '--to', 'local', '--fingerprint', `bench-${r}`, '-o', join(work, 'b.mseal'));
  rmSync(join(work, 'b.mseal'));
  times.sealFingerprint.push(f.s);
  last = f.out;
  log(`  run ${r + 1}: seal ${times.seal.at(-1).toFixed(2)} s, seal --fingerprint ${f.s.toFixed(2)} s`);
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const result = {
  bytes: total,
  runs,
  sealMedianS: median(times.seal),
  sealFingerprintMedianS: median(times.sealFingerprint),
  ratio: median(times.sealFingerprint) / median(times.seal),
  // Run 1 is the first seal of this checkpoint: it also hashes the unmarked plaintext (later runs
  // take that digest from fingerprints/originals.json).
  firstSealFingerprintS: times.sealFingerprint[0],
  firstRatio: times.sealFingerprint[0] / median(times.seal),
  markedWeights: last?.fingerprint?.record.positions,
  maxRelativeRms: last?.fingerprint?.record.maxRelativeRms,
};
if (json) console.log(JSON.stringify(result));
else {
  console.log(
    `seal:               median ${result.sealMedianS.toFixed(2)} s ` +
      `(${(total / 2 ** 20 / result.sealMedianS).toFixed(0)} MiB/s)`,
  );
  console.log(
    `seal --fingerprint: median ${result.sealFingerprintMedianS.toFixed(2)} s ` +
      `(${(total / 2 ** 20 / result.sealFingerprintMedianS).toFixed(0)} MiB/s), ${result.markedWeights} weights ` +
      `marked, max relative RMS ${result.maxRelativeRms?.toExponential(2)}`,
  );
  console.log(
    `ratio seal --fingerprint / seal: ${result.ratio.toFixed(2)} (target <= 1.5: ` +
      `${result.ratio <= 1.5 ? 'PASS' : 'FAIL'})`,
  );
  console.log(
    `first seal --fingerprint of this checkpoint (also hashes the original): ` +
      `${result.firstSealFingerprintS.toFixed(2)} s, ratio ${result.firstRatio.toFixed(2)}`,
  );
}
