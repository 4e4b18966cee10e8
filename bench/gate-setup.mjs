// The gateway of `npm run bench:gate`: a key store and data directory with a registered recipient
// (bench-co), a package of the sample checkpoint (the served model's digest), a license of bench-co
// for it and bench-co's API key; the gateway started in front of the model server on a free
// loopback port: `modelseal gate` from the built CLI, or with BENCH_GATE_LIBRARY=1 its library
// entry (bench/gate-server.mjs).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { auditLog, FATAL, prepare, ROOT, startServe } from './load.mjs';

/** The key store, data directory, package and API key the gateway runs with; `audit()` checks its log. */
export function prepareGate(dir) {
  const env = prepare(dir);
  const pkg = join(dir, 'model.mseal');
  env.ms('seal', join(ROOT, 'samples/checkpoint'), '--to', 'local', '-o', pkg, '--no-license-check');
  const license = ['license', 'issue', 'BENCH', '--holder', 'bench-co', '--model', pkg, '--destination', 'DE'];
  env.ms(...license, '--max-releases', '1000000000', '--data', env.data);
  const { apiKey } = env.ms('recipient', 'key', 'issue', 'bench-co', '--data', env.data);
  return { ...env, pkg, apiKey, audit: () => auditLog(env) };
}

/** The gateway serving `model` (the package) in front of `upstream`: its process, URL, death() and stop(). */
export function startGate(env, upstream, model) {
  if (process.env.BENCH_GATE_LIBRARY) return startLibraryGate(env, upstream, model);
  const gate = ['gate', '--upstream', upstream, '--model', model, '--package', env.pkg];
  // BENCH_GATE_COMMIT_MS: the log's least time between commits (`gate --commit-interval`), to see its share.
  if (process.env.BENCH_GATE_COMMIT_MS) gate.push('--commit-interval', process.env.BENCH_GATE_COMMIT_MS);
  const nodeArgs = (process.env.BENCH_GATE_NODE_ARGS ?? '').split(' ').filter(Boolean);
  return startServe(env, { command: [...gate, '--data', env.data, '--port', '0'], nodeArgs });
}

async function startLibraryGate(env, upstream, model) {
  // BENCH_GATE_NODE_ARGS: extra node flags for the gateway (e.g. --cpu-prof to profile it).
  const nodeArgs = (process.env.BENCH_GATE_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const args = [...nodeArgs, join(ROOT, 'bench/gate-server.mjs'), env.data, env.keys, upstream, model, env.pkg];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-65536)));
  let exit = null;
  let stopping = false;
  const exited = new Promise((r) => child.once('exit', (code, signal) => r((exit = { code, signal }))));
  const line = await Promise.race([
    new Promise((r) => createInterface({ input: child.stdout }).once('line', r)),
    exited.then(() => null),
  ]);
  if (line === null) throw new Error(`the gateway exited before it was ready: ${stderr}`);
  const death = () =>
    FATAL.test(stderr) || (exit && !(stopping && exit.code === 0)) ? `died: ${stderr.slice(-2000)}` : null;
  return {
    child,
    url: JSON.parse(line).url,
    death,
    async stop() {
      stopping = true;
      if (!exit) child.kill('SIGTERM');
      await exited;
      return death();
    },
  };
}
