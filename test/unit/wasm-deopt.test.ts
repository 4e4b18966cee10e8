/**
 * The V8 bug that killed the release service under load on Node 20 (issue 16, item 0): a lazy
 * deopt of optimised JavaScript that inlined a call to a Wasm export returning externref aborts
 * the process ("unreachable code", V8_Fatal in Deoptimizer::DoComputeBuiltinContinuation,
 * SIGTRAP). Every Cedar export returns externref. The scripts run in child processes, since the
 * failure is the death of the process.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
const inlinesWasmCallsUnsafely = () => Number(process.versions.v8.split('.')[0]) < 13;

const DIR = resolve('test/support/deopt');
const affected = inlinesWasmCallsUnsafely();

function run(script: string, args: string[], nodeFlags: string[] = []) {
  const r = spawnSync(process.execPath, ['--allow-natives-syntax', ...nodeFlags, resolve(DIR, script), ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  return { status: r.status, signal: r.signal, stderr: r.stderr, out: r.status === 0 ? JSON.parse(line) : undefined };
}

function expectV8Abort(r: ReturnType<typeof run>) {
  expect(r.signal, `expected the V8 abort, got exit ${r.status}: ${r.stderr}`).toBe('SIGTRAP');
  expect(r.stderr).toContain('unreachable code');
}

describe('lazy deopt inside a call to Cedar (WebAssembly)', () => {
  it('the policy engine survives it: it turns the inlining off on the V8 lines that need it, and only there', () => {
    if (!existsSync(resolve('dist/src/policy/engine.js')))
      throw new Error('dist/ is missing: run `npm run build` (npm test does)');
    const r = run('cedar-deopt.mjs', ['guarded']);
    expect(r.status, r.stderr).toBe(0);
    // The deopt really hit optimised code inside the Wasm call, or this proves nothing.
    expect(r.out.optimisedAtDeopt).toBe(true);
    expect(r.out.flagsSet).toEqual(affected ? ['--no-turbo-inline-js-wasm-calls'] : []);
  });

  it(`the control: without the guard this V8 (${process.versions.v8}) ${affected ? 'dies as the service did' : 'survives'}`, () => {
    const r = run('cedar-deopt.mjs', ['unguarded']);
    if (affected) expectV8Abort(r);
    else expect(r.status, r.stderr).toBe(0);
  });

  it(`the smallest form, a hand-built module: ${affected ? 'only an externref result kills this V8, and only with the inlining on' : 'no result kind kills this V8'}`, () => {
    for (const kind of ['i32', 'i64', 'f32', 'f64']) {
      const r = run('handmade-wasm.mjs', [kind]);
      expect(r.status, `${kind}: ${r.stderr}`).toBe(0);
      expect(r.out).toEqual({ kind, optimisedAtDeopt: true, same: true });
    }
    const inlined = run('handmade-wasm.mjs', ['externref']);
    if (affected) expectV8Abort(inlined);
    else expect(inlined.status, inlined.stderr).toBe(0);
    const notInlined = run('handmade-wasm.mjs', ['externref'], ['--no-turbo-inline-js-wasm-calls']);
    expect(notInlined.status, notInlined.stderr).toBe(0);
    expect(notInlined.out).toEqual({ kind: 'externref', optimisedAtDeopt: true, same: true });
  });
});
