// The gateway of `npm run bench:gate`: a key store and data directory with a registered recipient,
// its API key and a license for the served model, and `modelseal gate` started in front of the
// model server (the built CLI, a child process).
import { join } from 'node:path';
import { auditLog, prepare, startServe } from './load.mjs';

/** A key store with the recipient `bench-co` (bench/load.mjs `prepare`), its API key for `model`, and a license. */
export function prepareGate(dir, model) {
  const env = prepare(dir);
  const apiKey = issueKey(env, model);
  return { ...env, apiKey, audit: () => auditLog(env) };
}

/** `bench-co`'s API key for `model` (its secret, printed once by `recipient key issue`). */
function issueKey(env, model) {
  void model;
  void env;
  throw new Error('bench: the gateway (brief G) and its API keys (brief Q) are not merged yet');
}

/** `modelseal gate` in front of `upstream`, serving `model` on a free loopback port. */
export function startGate(env, upstream, model) {
  return startServe(env, {
    command: ['gate', '--upstream', upstream, '--model', model, '--data', env.data, '--port', '0'],
    extraEnv: { MODELSEAL_BENCH: '1' },
  }).then((s) => ({ ...s, data: join(env.data) }));
}
