// classify's bench (bench/README.md, "classify"): a 1,000-shard Hugging Face index of tiny
// safetensors shards, classified from the headers; the median of 5 runs, in process (the library)
// and through the built CLI (node start-up included). Runs the built code: `npm run bench:classify`.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeShardedIndex } from './classify-data.mjs';

const lib = await import('../dist/src/index.js');
const args = process.argv.slice(2);
const at = args.indexOf('--shards');
const shards = at >= 0 ? Number(args[at + 1]) : 1000;
const RUNS = 5;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const dir = mkdtempSync(join(os.tmpdir(), 'modelseal-bench-classify-'));
try {
  const expected = writeShardedIndex(dir, shards, lib.encodeSafetensorsHeader);
  const inProcess = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    const r = await lib.classifyPath(dir);
    inProcess.push(performance.now() - t);
    if (r.facts.parameters !== expected.parameters || r.facts.tensors !== expected.tensors)
      throw new Error(`wrong counts: ${r.facts.parameters} parameters, ${r.facts.tensors} tensors`);
  }
  const bin = fileURLToPath(new URL('../dist/cli/modelseal.bundle.mjs', import.meta.url));
  const viaCli = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    const r = spawnSync(process.execPath, [bin, '--json', 'classify', dir], { encoding: 'utf8' });
    viaCli.push(performance.now() - t);
    if (r.status !== 0) throw new Error(`classify failed: ${r.stdout}${r.stderr}`);
  }
  const ms = (x) => `${x.toFixed(0)} ms`;
  console.log(
    `classify: ${shards} shards, ${expected.tensors} tensors (${os.cpus().length} cores, node ${process.version})`,
  );
  console.log(`  library  median of ${RUNS}: ${ms(median(inProcess))}  (runs: ${inProcess.map(ms).join(', ')})`);
  console.log(
    `  CLI      median of ${RUNS}: ${ms(median(viaCli))}  (runs: ${viaCli.map(ms).join(', ')}; node start-up included)`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
