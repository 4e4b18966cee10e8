/**
 * Waiting in tests for something to happen, never for a length of time: each helper returns as
 * soon as its condition holds and fails, saying what did not happen, after a generous bound that
 * only a broken or badly overloaded machine reaches. test/unit/no-sleeps.test.ts keeps fixed
 * sleeps out of the tests.
 */
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';

/** What a truthy value of type `T` can be (`cond && value` waits for `value`, not for `false`). */
export type Truthy<T> = Exclude<T, false | 0 | '' | null | undefined>;

/**
 * Resolves to the first truthy value of `condition`, asked again every 10 ms (the asking is the
 * cost: a condition that runs a process waits for it); throws after `ms` naming `what`.
 */
export async function within<T>(ms: number, what: string, condition: () => T | Promise<T>): Promise<Truthy<T>> {
  const deadline = performance.now() + ms;
  for (;;) {
    const v = await condition();
    // Truthy here, which TypeScript does not narrow a type parameter to.
    if (v) return v as Truthy<T>;
    if (performance.now() > deadline) throw new Error(`waited ${ms} ms for ${what}, and it did not happen`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** GET `url` as JSON on a connection of its own (no keep-alive socket left to go stale). */
function getJson(url: string, ca?: string | Buffer): Promise<unknown> {
  const get = url.startsWith('https:') ? httpsGet : httpGet;
  return new Promise((resolve, reject) => {
    get(url, { agent: false, ...(ca !== undefined && { ca }) }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        try {
          resolve(JSON.parse(body));
        } catch (e) {
          reject(e instanceof Error ? e : new Error(String(e)));
        }
      });
    }).on('error', reject);
  });
}

/**
 * Waits until the release service at `url` reports the policy set `hash` in force and its files on
 * disk valid (GET /v1/info): an edit of its policy files has been seen and loaded. `ca` is the
 * certificate to trust for https.
 */
export async function policyInForce(url: string, hash: string, opts: { ca?: string | Buffer; ms?: number } = {}) {
  const ms = opts.ms ?? 15_000;
  await within(ms, `the service at ${url} to load policy set ${hash.slice(0, 16)}…`, async () => {
    const info = (await getJson(`${url}/v1/info`, opts.ca)) as { policySet?: string; policy?: { status?: string } };
    return info.policySet === hash && info.policy?.status === 'ok';
  });
}
