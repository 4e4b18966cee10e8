/**
 * Waiting in tests for something to happen, never for a length of time: each helper returns as
 * soon as its condition holds and fails, saying what did not happen, after a generous bound that
 * only a broken or badly overloaded machine reaches. test/unit/no-sleeps.test.ts keeps fixed
 * sleeps out of the tests.
 */
import type { Readable } from 'node:stream';

/**
 * Resolves to the first truthy value of `condition`, asked again every 10 ms (the asking is the
 * cost: a condition that runs a process waits for it); throws after `ms` naming `what`.
 */
export async function within<T>(ms: number, what: string, condition: () => T | Promise<T>): Promise<NonNullable<T>> {
  const deadline = performance.now() + ms;
  for (;;) {
    const v = await condition();
    if (v) return v as NonNullable<T>;
    if (performance.now() > deadline) throw new Error(`waited ${ms} ms for ${what}, and it did not happen`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Resolves with everything `stream` has written once it matches `pattern` (including what was
 * written before, given as `sofar`); throws after `ms` naming the pattern.
 */
export function outputMatching(stream: Readable, pattern: RegExp, ms: number, sofar = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = sofar;
    const done = (e?: Error) => {
      clearTimeout(timer);
      stream.off('data', onData);
      if (e) reject(e);
      else resolve(text);
    };
    const onData = (b: Buffer) => {
      text += b.toString();
      if (pattern.test(text)) done();
    };
    const timer = setTimeout(
      () => done(new Error(`no output matching ${pattern} within ${ms} ms: ${text.slice(-2000)}`)),
      ms,
    );
    if (pattern.test(text)) return done();
    stream.on('data', onData);
  });
}

/**
 * Waits until the release service at `url` reports the policy set `hash` in force and its files on
 * disk valid (GET /v1/info): an edit of its policy files has been seen and loaded.
 */
export async function policyInForce(url: string, hash: string, ms = 15_000): Promise<void> {
  await within(ms, `the service at ${url} to load policy set ${hash.slice(0, 16)}…`, async () => {
    const info = (await (await fetch(`${url}/v1/info`)).json()) as { policySet?: string; policy?: { status?: string } };
    return info.policySet === hash && info.policy?.status === 'ok';
  });
}
