#!/usr/bin/env node
// npm run bench [-- --size MiB --runs N --dir DIR]: times modelseal seal/open/verify against
// `age -r`, `age -d` and `openssl dgst -sha256` on the same file, alternating, after a warm-up
// round; prints medians, the project's target ratios, and peak RSS (GNU time). A benchmark, not a
// test: it exits non-zero only when a command fails or an output differs from the input.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync, mkdtempSync, openSync, rmSync, writeSync, closeSync, mkdirSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : process.env[`BENCH_${name.toUpperCase()}`] ?? def;
};
const sizeMiB = Number(arg('size', '1024'));
const runs = Number(arg('runs', '5'));
const json = process.argv.includes('--json');
const keep = arg('dir', undefined);
const work = keep ? resolve(keep) : mkdtempSync(join(tmpdir(), 'modelseal-bench-'));
mkdirSync(work, { recursive: true });
const BIN = resolve('dist/cli/modelseal.js');
const log = (s) => !json && process.stderr.write(s + '\n');

for (const [tool, hint] of [['age', 'bash test/peers/setup.sh'], ['/usr/bin/time', 'apt-get install time']]) {
  if (spawnSync(tool, ['--version']).error) {
    console.error(`bench: ${tool} is missing: run \`${hint}\``);
    process.exit(1);
  }
}

const input = join(work, 'input.bin');
const fd = openSync(input, 'w');
for (let left = sizeMiB << 20; left > 0; left -= 16 << 20) writeSync(fd, randomBytes(Math.min(left, 16 << 20)));
closeSync(fd);
const keys = join(work, 'keys');
execFileSync(process.execPath, [BIN, '--keys', keys, '--quiet', 'init', '--force']);
execFileSync('age-keygen', ['-o', join(work, 'age.key')], { stdio: 'ignore' });
const ageRecipient = execFileSync('age-keygen', ['-y', join(work, 'age.key')]).toString().trim();

const ms = (...a) => [process.execPath, BIN, '--keys', keys, '--quiet', ...a];
const out = (n) => join(work, n);
const tools = [
  { name: 'modelseal seal', cmd: ms('seal', input, '--to', 'local', '-o', out('x.mseal'), '--force'), clean: ['x.mseal'] },
  { name: 'modelseal open', cmd: ms('open', out('x.mseal'), '-o', out('x.out'), '--force'), clean: ['x.out', 'x.out.sig'] },
  { name: 'modelseal verify', cmd: ms('verify', out('x.mseal')), clean: [] },
  { name: 'age -r', cmd: ['age', '-r', ageRecipient, '-o', out('x.age'), input], clean: ['x.age'] },
  { name: 'age -d', cmd: ['age', '-d', '-i', join(work, 'age.key'), '-o', out('x.age.out'), out('x.age')], clean: ['x.age.out'] },
  { name: 'openssl dgst -sha256', cmd: ['openssl', 'dgst', '-sha256', input], clean: [] },
];

function run(t) {
  for (const c of t.clean) rmSync(out(c), { force: true });
  const start = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', ...t.cmd], { maxBuffer: 1 << 20 });
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  if (r.status !== 0) {
    console.error(`bench: ${t.name} failed (exit ${r.status}): ${r.stderr.toString().slice(-500)}`);
    process.exit(1);
  }
  const rssKiB = Number(r.stderr.toString().trim().split('\n').pop());
  return { secs, rssMiB: rssKiB / 1024 };
}

const results = new Map(tools.map((t) => [t.name, []]));
log(`bench: ${sizeMiB} MiB, ${runs} runs + 1 warm-up, alternating, in ${work}`);
for (let round = 0; round <= runs; round++) {
  for (const t of tools) {
    const r = run(t);
    if (round > 0) results.get(t.name).push(r);
  }
  log(`  round ${round}${round === 0 ? ' (warm-up)' : ''} done`);
}

const sha = (p) =>
  new Promise((res) => {
    const h = createHash('sha256');
    createReadStream(p).on('data', (b) => h.update(b)).on('end', () => res(h.digest('hex')));
  });
const want = await sha(input);
for (const p of [out('x.out'), out('x.age.out')]) {
  if ((await sha(p)) !== want) {
    console.error(`bench: ${p} differs from the input`);
    process.exit(1);
  }
}

const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const rows = tools.map((t) => {
  const r = results.get(t.name);
  const secs = r.map((x) => x.secs);
  const med = median(secs);
  return { tool: t.name, median: med, min: Math.min(...secs), max: Math.max(...secs), mibPerS: sizeMiB / med, peakRssMiB: Math.max(...r.map((x) => x.rssMiB)) };
});
const m = Object.fromEntries(rows.map((r) => [r.tool, r]));
const ratios = [
  { ratio: 'seal / age -r', value: m['modelseal seal'].median / m['age -r'].median, target: 1.2 },
  { ratio: 'open / age -r', value: m['modelseal open'].median / m['age -r'].median, target: 1.0 },
  { ratio: 'verify / openssl dgst -sha256', value: m['modelseal verify'].median / m['openssl dgst -sha256'].median, target: 0.7 },
  { ratio: 'age -d / age -r (context)', value: m['age -d'].median / m['age -r'].median },
];
const rss = ['modelseal seal', 'modelseal open', 'modelseal verify'].map((t) => ({ tool: t, peakRssMiB: m[t].peakRssMiB, target: 128 }));
const machine = {
  cores: availableParallelism(),
  node: process.version,
  age: execFileSync('age', ['--version']).toString().trim(),
  openssl: execFileSync('openssl', ['version']).toString().trim(),
  sizeMiB,
  runs,
};
if (!keep) rmSync(work, { recursive: true, force: true });

if (json) {
  console.log(JSON.stringify({ machine, rows, ratios, rss }));
} else {
  const f = (n, d = 3) => n.toFixed(d);
  console.log(`machine: ${machine.cores} cores, node ${machine.node}, age ${machine.age}, ${machine.openssl}; file ${sizeMiB} MiB; ${runs} runs`);
  console.log('tool                    median s   min s   max s    MiB/s  peak RSS MiB');
  for (const r of rows) console.log(`${r.tool.padEnd(22)} ${f(r.median).padStart(8)} ${f(r.min).padStart(7)} ${f(r.max).padStart(7)} ${f(r.mibPerS, 0).padStart(8)} ${f(r.peakRssMiB, 1).padStart(12)}`);
  console.log('\nratio (medians)                     value  target');
  for (const r of ratios) console.log(`${r.ratio.padEnd(34)} ${f(r.value, 2).padStart(6)}  ${r.target ? `≤ ${r.target}  ${r.value <= r.target ? 'PASS' : 'FAIL'}` : ''}`);
  for (const r of rss) console.log(`peak RSS ${r.tool.padEnd(25)} ${f(r.peakRssMiB, 1).padStart(6)}  ≤ ${r.target} MiB  ${r.peakRssMiB <= r.target ? 'PASS' : 'FAIL'}`);
}
