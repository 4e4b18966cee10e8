#!/usr/bin/env node
// npm run bench [-- --size MiB --runs N --dir DIR --chunk-size SIZE --json]
//
// Times `modelseal seal / open / verify` against `age -r`, `age -d` and `openssl dgst -sha256` on
// the same random file. Each tool runs as its own child process under GNU time (`/usr/bin/time -f
// %M`, for peak RSS); wall time is measured here with process.hrtime. After one untimed warm-up
// round the tools run round-robin, `runs` rounds, so drift in the machine hits every tool alike.
// Before each timed command `sync` flushes the dirty pages left by the command before it, and then
// the command's previous output is removed (both untimed). In that order every writer starts alike:
// removed the other way round, the freed pages of a command that followed a writer sat idle through
// that writer's flush, and writing into them again cost this VM up to 3 s more system time per GiB
// (`open` and `age -d` took 2–4× as long as `seal` and `age -r`). Prints medians, min/max, MiB/s,
// peak RSS and the project's target ratios. A benchmark, not a test: it exits non-zero only when a
// command fails, a decrypted output differs from the input, or it cannot run at all; a missed
// target is reported, not failed.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readSync,
  rmSync,
  statfsSync,
  writeSync,
} from 'node:fs';
import { availableParallelism, cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'dist/cli/modelseal.bundle.mjs');
const TIME = '/usr/bin/time';
const MiB = 1 << 20;
const PIECE = 16 * MiB;

// The work folder, once made; removed by cleanup() unless it came from --dir.
let work;
let ownWork = false;
let cleaned = false;
function cleanup() {
  if (cleaned || !work) return;
  cleaned = true;
  if (ownWork) rmSync(work, { recursive: true, force: true });
}
function fail(msg, code = 1) {
  process.stderr.write(`bench: ${msg}\n`);
  try {
    cleanup();
  } catch {
    // exiting anyway with the first error; a leftover scratch folder is the lesser harm
  }
  process.exit(code);
}

// ---- options: --name value, --name=value, or BENCH_NAME in the environment ----
const argv = process.argv.slice(2);
const flags = new Set(['json', 'help']);
const opts = {};
for (let i = 0; i < argv.length; i++) {
  const m = /^--([a-z-]+)(?:=(.*))?$/.exec(argv[i]);
  if (!m) fail(`unexpected argument ${JSON.stringify(argv[i])} (try --help)`, 2);
  const [, name, inline] = m;
  if (flags.has(name)) opts[name] = true;
  else if (['size', 'runs', 'dir', 'chunk-size'].includes(name)) {
    const v = inline ?? argv[++i];
    if (v === undefined) fail(`--${name} needs a value`, 2);
    opts[name] = v;
  } else fail(`unknown option --${name} (try --help)`, 2);
}
const opt = (name, def) => opts[name] ?? process.env[`BENCH_${name.toUpperCase().replace(/-/g, '_')}`] ?? def;
if (opts.help) {
  console.log(`usage: node bench/seal-open-verify.mjs [--size MiB] [--runs N] [--dir DIR] [--chunk-size SIZE] [--json]
  --size MiB          input file size in MiB (default 1024; env BENCH_SIZE)
  --runs N            timed rounds after one warm-up round (default 5; env BENCH_RUNS)
  --dir DIR           work folder, kept afterwards (default: a temp folder, removed; env BENCH_DIR)
  --chunk-size SIZE   passed to modelseal seal --chunk-size (default: modelseal's; env BENCH_CHUNK_SIZE)
  --json              print one JSON object instead of tables (env BENCH_JSON=1)`);
  process.exit(0);
}
const sizeMiB = Number(opt('size', '1024'));
const runs = Number(opt('runs', '5'));
const chunkSize = opt('chunk-size', undefined);
const json = Boolean(opts.json) || process.env.BENCH_JSON === '1';
const dirOpt = opt('dir', undefined);
if (!(sizeMiB > 0) || !Number.isFinite(sizeMiB)) fail(`--size must be a positive number of MiB, not ${opt('size')}`, 2);
if (!Number.isInteger(runs) || runs < 1) fail(`--runs must be a positive integer, not ${opt('runs')}`, 2);
const sizeBytes = Math.round(sizeMiB * MiB);

const log = (s) => {
  if (!json) process.stderr.write(s + '\n');
};

// ---- prerequisites, before anything is written ----
if (!existsSync(BIN)) fail(`${BIN} is missing: run \`npm run build\` (or \`npm run bench\`, which builds first)`);
for (const [tool, hint] of [
  ['age', 'run `bash test/peers/setup.sh` (installs the Debian package age)'],
  ['age-keygen', 'run `bash test/peers/setup.sh` (installs the Debian package age)'],
  ['openssl', 'install openssl'],
]) {
  const r = spawnSync(tool, ['--version']);
  if (r.error) fail(`${tool} is missing: ${hint}`);
}
{
  const r = spawnSync(TIME, ['--version']);
  const text = r.error ? '' : `${r.stdout}${r.stderr}`;
  if (!/GNU/.test(text))
    fail(
      `${TIME} (GNU time, for peak RSS) is ${r.error ? 'missing' : 'not GNU time'}: install the Debian package ` +
        `\`time\` (apt-get install time) and rerun`,
    );
}

// ---- work folder: a temp folder we remove, or --dir which we keep ----
work = dirOpt ? resolve(dirOpt) : mkdtempSync(join(tmpdir(), 'modelseal-bench-'));
ownWork = !dirOpt;
mkdirSync(work, { recursive: true });
for (const sig of ['SIGINT', 'SIGTERM'])
  process.on(sig, () => {
    cleanup();
    process.exit(130);
  });

// input + x.mseal + x.out + x.age + x.age.out, plus a margin
{
  const need = 5 * sizeBytes + 256 * MiB;
  const fs = statfsSync(work);
  const avail = fs.bavail * fs.bsize;
  if (avail < need)
    fail(
      `${work} has ${(avail / MiB).toFixed(0)} MiB free, the benchmark needs about ${(need / MiB).toFixed(0)} MiB (5 ` +
        `× --size): use --dir on a bigger disk or a smaller --size`,
    );
}

const out = (n) => join(work, n);
const input = out('input.bin');
const keys = out('keys');
const ageKey = out('age.key');

log(`bench: writing ${sizeMiB} MiB of random data to ${input}`);
{
  const fd = openSync(input, 'w');
  try {
    for (let left = sizeBytes; left > 0; left -= PIECE) writeSync(fd, randomBytes(Math.min(left, PIECE)));
  } finally {
    closeSync(fd);
  }
}

function setup(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error || r.status !== 0)
    fail(`setup \`${[cmd, ...args].join(' ')}\` failed (exit ${r.status ?? r.error}): ${(r.stderr || '').trim()}`);
  return r.stdout;
}
rmSync(keys, { recursive: true, force: true });
rmSync(ageKey, { force: true });
setup(process.execPath, [BIN, '--keys', keys, '--quiet', 'init']);
setup('age-keygen', ['-o', ageKey]);
const ageRecipient = setup('age-keygen', ['-y', ageKey]).trim();
if (!/^age1[0-9a-z]+$/.test(ageRecipient))
  fail(`age-keygen -y gave an unexpected recipient ${JSON.stringify(ageRecipient)}`);

// ---- the commands ----
const ms = (...a) => [process.execPath, BIN, '--keys', keys, '--quiet', ...a];
const tools = [
  {
    name: 'modelseal seal',
    cmd: ms(
      'seal',
      input,
      '--to',
      'local',
      '-o',
      out('x.mseal'),
      '--force',
      ...(chunkSize ? ['--chunk-size', chunkSize] : []),
    ),
    clean: ['x.mseal'],
  },
  {
    name: 'modelseal open',
    cmd: ms('open', out('x.mseal'), '-o', out('x.out'), '--force'),
    clean: ['x.out', 'x.out.sig'],
  },
  { name: 'modelseal verify', cmd: ms('verify', out('x.mseal')), clean: [] },
  { name: 'age -r', cmd: ['age', '-r', ageRecipient, '-o', out('x.age'), input], clean: ['x.age'] },
  { name: 'age -d', cmd: ['age', '-d', '-i', ageKey, '-o', out('x.age.out'), out('x.age')], clean: ['x.age.out'] },
  { name: 'openssl dgst -sha256', cmd: ['openssl', 'dgst', '-sha256', input], clean: [] },
];
const MARK = 'BENCH_MAXRSS_KB=';
let lastOpensslOut = '';

function run(t) {
  spawnSync('sync'); // flush the previous command's dirty pages outside the timed window
  for (const c of t.clean) rmSync(out(c), { recursive: true, force: true });
  const start = process.hrtime.bigint();
  const r = spawnSync(TIME, ['-f', `${MARK}%M %U %S`, ...t.cmd], {
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 * MiB,
  });
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  const stderr = r.stderr ? r.stderr.toString() : '';
  if (r.error || r.status !== 0) {
    const shown = stderr
      .split('\n')
      .filter((l) => !l.startsWith(MARK))
      .join('\n')
      .trim();
    fail(
      `${t.name} failed (exit ${r.status ?? r.error}${r.signal ? `, signal ${r.signal}` : ''}): ` +
        `\`${t.cmd.join(' ')}\`\n${shown.slice(-2000)}`,
    );
  }
  const m = [...stderr.matchAll(new RegExp(`${MARK}(\\d+) ([\\d.]+) ([\\d.]+)`, 'g'))].pop();
  if (!m) fail(`${t.name}: no peak RSS in GNU time's output: ${stderr.slice(-500)}`);
  if (t.name.startsWith('openssl')) lastOpensslOut = r.stdout.toString();
  return { secs, rssMiB: Number(m[1]) / 1024, userS: Number(m[2]), sysS: Number(m[3]) };
}

const results = new Map(tools.map((t) => [t.name, []]));
log(`bench: ${sizeMiB} MiB, 1 warm-up + ${runs} timed rounds, round-robin over ${tools.length} commands, in ${work}`);
for (let round = 0; round <= runs; round++) {
  const times = [];
  for (const t of tools) {
    const r = run(t);
    times.push(`${t.name.replace('modelseal ', '')} ${r.secs.toFixed(2)}s`);
    if (round > 0) results.get(t.name).push(r);
  }
  log(`  round ${round}${round === 0 ? ' (warm-up)' : ''}: ${times.join(', ')}`);
}

// ---- outputs must equal the input ----
function sha256File(p) {
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(PIECE);
  const fd = openSync(p, 'r');
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}
const want = sha256File(input);
if (!lastOpensslOut.includes(want))
  fail(`openssl dgst printed ${JSON.stringify(lastOpensslOut.trim())}, expected ${want}`);
const mismatches = [];
for (const n of ['x.out', 'x.age.out']) {
  if (!existsSync(out(n))) mismatches.push(`${n} is missing`);
  else {
    const got = sha256File(out(n));
    if (got !== want) mismatches.push(`${n} sha256 ${got} differs from the input's ${want}`);
  }
}

// ---- summary ----
const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const rows = tools.map((t) => {
  const r = results.get(t.name);
  const secs = r.map((x) => x.secs);
  const med = median(secs);
  return {
    tool: t.name,
    medianS: med,
    minS: Math.min(...secs),
    maxS: Math.max(...secs),
    mibPerS: sizeMiB / med,
    peakRssMiB: Math.max(...r.map((x) => x.rssMiB)),
    // CPU time, from GNU time: system time is where this machine's noise shows (see bench/README.md).
    userMedianS: median(r.map((x) => x.userS)),
    sysMedianS: median(r.map((x) => x.sysS)),
    runsS: secs,
  };
});
const m = Object.fromEntries(rows.map((r) => [r.tool, r]));
const ratio = (a, b, target) => {
  const value = m[a].medianS / m[b].medianS;
  return {
    ratio: `${a.replace('modelseal ', '')} / ${b}`,
    value,
    target,
    pass: target === undefined ? undefined : value <= target,
  };
};
const ratios = [
  ratio('modelseal seal', 'age -r', 1.2),
  ratio('modelseal open', 'age -r', 1.0),
  ratio('modelseal verify', 'openssl dgst -sha256', 0.7),
  ratio('age -d', 'age -r'),
];
ratios[3].ratio += ' (context)';
const RSS_TARGET = 128;
const rss = ['modelseal seal', 'modelseal open', 'modelseal verify'].map((t) => ({
  tool: t,
  peakRssMiB: m[t].peakRssMiB,
  targetMiB: RSS_TARGET,
  pass: m[t].peakRssMiB <= RSS_TARGET,
}));

const tryRun = (cmd, args) => {
  try {
    return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'], cwd: ROOT })
      .toString()
      .trim();
  } catch {
    return undefined;
  }
};
// NODE_EXTRA_CA_CERTS makes Node 20 build its whole root certificate store at every start, before
// any code of ours runs: a fixed cost for every Node program here, none for age or openssl.
const startS = (env) =>
  median(
    Array.from({ length: 5 }, () => {
      const t = process.hrtime.bigint();
      spawnSync(process.execPath, ['-e', '0'], { env });
      return Number(process.hrtime.bigint() - t) / 1e9;
    }),
  );
let extraCa;
if (process.env.NODE_EXTRA_CA_CERTS) {
  const { NODE_EXTRA_CA_CERTS: _, ...without } = process.env;
  extraCa = {
    path: process.env.NODE_EXTRA_CA_CERTS,
    nodeStartS: startS(process.env),
    nodeStartWithoutS: startS(without),
  };
}
const head = tryRun('git', ['rev-parse', '--short', 'HEAD']);
const dirty = tryRun('git', ['status', '--porcelain', '--untracked-files=no', '--', 'src', 'cli']);
const machine = {
  nproc: Number(tryRun('nproc', [])) || availableParallelism(),
  cpu: cpus()[0]?.model ?? 'unknown',
  memGiB: Number((totalmem() / 2 ** 30).toFixed(1)),
  node: process.version,
  age: tryRun('age', ['--version']),
  openssl: tryRun('openssl', ['version']),
  modelseal: head ? `${head}${dirty ? ' + uncommitted changes in src/ or cli/' : ''}` : 'unknown',
  fileMiB: sizeMiB,
  fileBytes: sizeBytes,
  runs,
  chunkSize: chunkSize ?? 'default',
  workDir: work,
  ...(extraCa ? { extraCa } : {}),
};
cleanup();

const allPass = ratios.every((r) => r.pass !== false) && rss.every((r) => r.pass);
if (json) {
  console.log(
    JSON.stringify({
      machine,
      rows,
      ratios,
      rss,
      allTargetsPass: allPass,
      outputsMatch: mismatches.length === 0,
      mismatches,
    }),
  );
} else {
  const f = (n, d = 3) => n.toFixed(d);
  console.log(
    `machine: nproc ${machine.nproc} (${machine.cpu}), ${machine.memGiB} GiB RAM, node ${machine.node}, age ` +
      `${machine.age}, ${machine.openssl}`,
  );
  if (extraCa)
    console.log(
      `NODE_EXTRA_CA_CERTS=${extraCa.path}: every node start takes ${f(extraCa.nodeStartS)} s here ` +
        `(${f(extraCa.nodeStartWithoutS)} s without it)`,
    );
  console.log(
    `modelseal ${machine.modelseal}; file ${sizeMiB} MiB (${sizeBytes} bytes); ${runs} timed runs + 1 warm-up; chunk ` +
      `size ${machine.chunkSize}`,
  );
  console.log('');
  console.log(
    `${'tool'.padEnd(22)} ${'median s'.padStart(9)} ${'min s'.padStart(8)} ${'max s'.padStart(8)} ` +
      `${'MiB/s'.padStart(8)} ${'peak RSS MiB'.padStart(13)} ${'user s'.padStart(7)} ${'sys s'.padStart(6)}`,
  );
  for (const r of rows)
    console.log(
      `${r.tool.padEnd(22)} ${f(r.medianS).padStart(9)} ${f(r.minS).padStart(8)} ${f(r.maxS).padStart(8)} ` +
        `${f(r.mibPerS, 0).padStart(8)} ${f(r.peakRssMiB, 1).padStart(13)} ${f(r.userMedianS, 2).padStart(7)} ` +
        `${f(r.sysMedianS, 2).padStart(6)}`,
    );
  console.log('');
  console.log(`${'ratio of medians'.padEnd(36)} ${'value'.padStart(6)}  target`);
  for (const r of ratios)
    console.log(
      (
        `${r.ratio.padEnd(36)} ${f(r.value, 2).padStart(6)}  ` +
        `${r.target === undefined ? '' : `≤ ${r.target.toFixed(1)}  ${r.pass ? 'PASS' : 'FAIL'}`}`
      ).trimEnd(),
    );
  for (const r of rss)
    console.log(
      `${`peak RSS ${r.tool}`.padEnd(36)} ${f(r.peakRssMiB, 1).padStart(6)}  ≤ ${r.targetMiB} MiB  ` +
        `${r.pass ? 'PASS' : 'FAIL'}`,
    );
  console.log('');
  console.log(
    `outputs: ${mismatches.length === 0 ? 'x.out and x.age.out equal the input (sha256)' : mismatches.join('; ')}`,
  );
  console.log(`targets: ${allPass ? 'all PASS' : 'some FAIL (reported only; exit status ignores targets)'}`);
}
if (mismatches.length) {
  process.stderr.write(`bench: ${mismatches.join('; ')}\n`);
  process.exit(1);
}
