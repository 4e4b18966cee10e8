#!/usr/bin/env node
// npm run bench:registry [-- --size MiB --runs N]   (or BENCH_SIZE / BENCH_RUNS)
//
// `modelseal push` and `modelseal pull` of a multi-GB sealed package against a local Debian
// docker-registry (plain HTTP on loopback), beside `oras push` / `oras pull` of the same file in the
// same run. Each command is a child process under GNU time (`/usr/bin/time -f %M`: peak RSS); wall
// time is measured here. Every push goes to a fresh repository (nothing to skip or mount), every
// pull to a removed output. Prints medians of `runs` rounds, MB/s, and peak RSS against the 128 MiB
// target. `modelseal pull` includes the verification of the whole package (every chunk hashed and
// the signature) before the rename; `oras pull` checks the digest only. A benchmark, not a test: it
// exits non-zero only when a command fails, a pulled file differs, or it cannot run.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, statfsSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeBf16Checkpoint } from './bf16-checkpoint.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'dist/cli/modelseal.bundle.mjs');
const OUT = join(ROOT, 'bench/out/registry');
const TIME = '/usr/bin/time';
const REGISTRY = '/usr/bin/docker-registry';
const MiB = 1 << 20;
const RSS_TARGET_MIB = 128;

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  if (i > 0) return Number(process.argv[i + 1]);
  const env = process.env[`BENCH_${name.toUpperCase()}`];
  return env ? Number(env) : fallback;
}
const SIZE_MIB = option('size', 3072);
const RUNS = option('runs', 3);

function fail(msg) {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(1);
}

function orasBin() {
  const version = readFileSync(join(ROOT, 'test/peers/oras.version'), 'utf8').trim();
  const bin = join(ROOT, '.peers', `oras-${version}`);
  if (!existsSync(bin)) fail(`${bin} is missing: run bash test/peers/setup.sh`);
  return bin;
}

/** Runs a command under GNU time; returns wall seconds and peak RSS in MiB. */
function timed(cmd, args, cwd = OUT) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(TIME, ['-f', '%M', cmd, ...args], { cwd, maxBuffer: 64 * MiB });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) fail(`${[cmd, ...args].join(' ')} failed:\n${r.stderr}`);
  const kib = Number(r.stderr.toString().trim().split('\n').pop());
  return { s, rssMiB: kib / 1024 };
}

function freePort() {
  return new Promise((ok, no) => {
    const srv = createServer();
    srv.once('error', no);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

async function startRegistry(storage) {
  if (!existsSync(REGISTRY)) fail(`${REGISTRY} is missing: apt-get install docker-registry (test/peers/setup.sh)`);
  const port = await freePort();
  const config = join(OUT, 'registry.yml');
  writeFileSync(
    config,
    `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${storage}\n` +
      `  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n`,
  );
  const child = spawn(REGISTRY, ['serve', config], { stdio: 'ignore' });
  const host = `127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    const ok = await fetch(`http://${host}/v2/`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return { host, stop: () => child.kill() };
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  fail('docker-registry did not start');
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

async function main() {
  if (!existsSync(BIN)) fail(`${BIN} is missing: npm run build`);
  const free = statfsSync(ROOT).bavail * statfsSync(ROOT).bsize;
  if (free < 6 * SIZE_MIB * MiB) fail(`needs ${6 * SIZE_MIB} MiB free beside the repo, has ${Math.floor(free / MiB)}`);
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  const oras = orasBin();
  const { encodeSafetensorsHeader } = await import(join(ROOT, 'dist/src/index.js'));
  const keys = join(OUT, 'keys');
  const ms = (args) => [BIN, '--keys', keys, ...args];
  process.stderr.write(`bench: making a ${SIZE_MIB} MiB checkpoint and sealing it…\n`);
  mkdirSync(join(OUT, 'ckpt'));
  writeBf16Checkpoint(join(OUT, 'ckpt/model.safetensors'), SIZE_MIB, encodeSafetensorsHeader);
  timed(process.execPath, ms(['--quiet', 'init']));
  const pkg = join(OUT, 'model.mseal');
  timed(process.execPath, ms(['--quiet', 'seal', join(OUT, 'ckpt'), '--to', 'local', '-o', pkg]));
  rmSync(join(OUT, 'ckpt'), { recursive: true });
  const bytes = statSync(pkg).size;
  const reg = await startRegistry(join(OUT, 'storage'));
  const rows = { 'modelseal push': [], 'modelseal pull': [], 'oras push': [], 'oras pull': [] };
  try {
    for (let run = 0; run < RUNS; run++) {
      const repo = `${reg.host}/bench/run${run}`;
      rows['modelseal push'].push(timed(process.execPath, ms(['--quiet', 'push', pkg, `oci://${repo}:ms`])));
      const pulled = join(OUT, 'pulled.mseal');
      rmSync(pulled, { force: true });
      rows['modelseal pull'].push(timed(process.execPath, ms(['--quiet', 'pull', `oci://${repo}:ms`, '-o', pulled])));
      if (statSync(pulled).size !== bytes) fail('modelseal pull wrote another size');
      rmSync(pulled);
      const orasRepo = `${reg.host}/bench/oras${run}:v1`;
      rows['oras push'].push(timed(oras, ['push', '--plain-http', orasRepo, 'model.mseal']));
      rmSync(join(OUT, 'oras-out'), { recursive: true, force: true });
      rows['oras pull'].push(timed(oras, ['pull', '--plain-http', orasRepo, '-o', join(OUT, 'oras-out')]));
      rmSync(join(OUT, 'oras-out'), { recursive: true, force: true });
    }
  } finally {
    reg.stop();
  }
  const mb = bytes / 1e6;
  process.stdout.write(`package ${(bytes / MiB).toFixed(0)} MiB, ${RUNS} runs, medians (peak RSS: max of runs)\n`);
  for (const [name, xs] of Object.entries(rows)) {
    const s = median(xs.map((x) => x.s));
    const rss = Math.max(...xs.map((x) => x.rssMiB));
    const mark = name.startsWith('modelseal') ? (rss < RSS_TARGET_MIB ? ' (< 128 MiB: ok)' : ' (OVER 128 MiB)') : '';
    process.stdout.write(
      `${name.padEnd(15)} ${s.toFixed(1).padStart(6)} s  ${(mb / s).toFixed(0).padStart(5)} MB/s  ` +
        `peak RSS ${rss.toFixed(0).padStart(4)} MiB${mark}\n`,
    );
  }
  rmSync(OUT, { recursive: true, force: true });
}

await main();
