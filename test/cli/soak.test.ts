/**
 * The soak test in CI (issue 16, item 0): `modelseal serve` under 32 keep-alive clients of mixed
 * requests for two rounds of 12 s, each round a fresh service process on the same data directory,
 * on loopback with the file store. It fails on any death of the service (an exit, a signal, a
 * fatal error on stderr), on any 5xx but a deliberate 503, on an unclean stop, and on a log that
 * does not audit clean. `npm run soak` is the long form (bench/soak.mjs).
 */
import { rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { inlinesWasmCallsUnsafely } from '../../src/policy/engine.js';
import { tempDir } from '../support/fixtures.js';
// A JavaScript module of the benchmarks (bench/soak.mjs and bench/server.mjs use it too).
import {
  auditLog,
  driveLoad,
  licensedTemplate,
  prepare,
  SOAK_MIX,
  startServe,
  type Service,
} from '../../bench/load.mjs';

const ROUNDS = 2;
const SECONDS = Number(process.env.SOAK_SECONDS ?? 12);
const CLIENTS = 32;
const dir = tempDir('modelseal-soak-');
let service: Service | undefined;
afterAll(() => {
  service?.child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('release service soak', () => {
  it(`${ROUNDS} rounds of ${SECONDS} s under ${CLIENTS} clients: no death, no unexpected 5xx, a clean log`, async () => {
    const env = prepare(dir);
    let template;
    let allowed = 0;
    const kinds = new Set<string>();
    for (let round = 1; round <= ROUNDS; round++) {
      // The observer reports every V8 flag the service sets (test/support/v8-flags.mjs).
      const s = await startServe(env, { echo: false, nodeArgs: ['--import', resolve('test/support/v8-flags.mjs')] });
      service = s;
      template ??= await licensedTemplate(env, s.url);
      const stats = await driveLoad({
        url: s.url,
        template,
        privateKey: env.privateKey,
        seconds: SECONDS,
        concurrency: CLIENTS,
        mix: SOAK_MIX,
        dead: () => s.death(),
      });
      const death = s.death() ?? (await s.stop());
      service = undefined;
      const context =
        `round ${round}: ${JSON.stringify({ ...stats, latencies: undefined })}\n` + `service stderr:\n${s.stderr()}`;
      expect(death, context).toBeNull();
      expect(stats.unexpected5xx, context).toBe(0);
      allowed += stats.allowed;
      for (const k of Object.keys(stats.byKind)) kinds.add(k);
      // The only V8 flag the service sets (on its main thread and the decider's) is the Cedar guard,
      // where this V8 needs it; never the bulk code's --expose-gc (src/crypto/bulk.ts).
      const flags = new Set([...s.stderr().matchAll(/^v8-flags-set: (.*)$/gm)].map((m) => m[1]));
      expect([...flags], context).toEqual(inlinesWasmCallsUnsafely() ? ['--no-turbo-inline-js-wasm-calls'] : []);
      const audit = auditLog(env);
      expect(audit.ok, audit.stderr).toBe(true);
    }
    // Real load: hundreds of releases a second on the 2-core machine, and every kind of request.
    expect(allowed).toBeGreaterThan(ROUNDS * SECONDS * 20);
    expect([...kinds].sort()).toEqual(Object.keys(SOAK_MIX).sort());
  }, 180_000);
});
