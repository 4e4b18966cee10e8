/**
 * `serve --retain <period>` through the built CLI: at start the service checks that every record
 * the period's log entries rest on is kept, says what is missing on the service log and in
 * GET /v1/info, and starts all the same (an old missing record must not stop today's releases).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, cli } from '../support/cli.js';
import { tempDir } from '../support/fixtures.js';

const dir = tempDir('modelseal-cli-retain-');
const keys = join(dir, 'keys');
const data = join(dir, 'data');
const ms = cli(keys, dir);
let server: ChildProcess | undefined;

afterAll(() => {
  server?.kill('SIGTERM');
});

/** `serve --json` on a free port: its first line, and its stderr (the service log) so far. */
async function serve(args: string[]) {
  let stderr = '';
  server = spawn(process.execPath, [BIN, '--keys', keys, '--json', 'serve', '--data', data, '--port', '0', ...args], {
    cwd: dir,
  });
  server.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const first = await new Promise<string>((res, rej) => {
    createInterface({ input: server!.stdout! }).once('line', res);
    server!.once('exit', (code) => rej(new Error(`serve exited ${code}: ${stderr}`)));
  });
  return { started: JSON.parse(first) as { url: string; policySet: string }, stderr: () => stderr };
}

async function stop(): Promise<void> {
  const s = server!;
  server = undefined;
  s.kill('SIGTERM');
  await new Promise((r) => s.once('exit', r));
}

const info = async (url: string) => (await (await fetch(`${url}/v1/info`)).json()) as Record<string, unknown>;

describe('modelseal serve --retain', () => {
  it('reports the records the period rests on in GET /v1/info and on the service log, and serves all the same', async () => {
    expect(ms(['init', '--log-origin', 'retain.test/log']).code).toBe(0);
    const first = await serve(['--retain', '5y']);
    const url = first.started.url;
    const since = new Date();
    since.setUTCFullYear(since.getUTCFullYear() - 5);
    const r0 = (await info(url)).retention as { period: string; since: string; complete: boolean; missing: unknown[] };
    expect(r0).toMatchObject({ period: '5y', complete: true, missing: [] });
    expect(Math.abs(Date.parse(r0.since) - since.getTime())).toBeLessThan(60_000);
    // A decision logged under the set in force (a malformed request is a logged denial).
    expect((await fetch(`${url}/v1/release`, { method: 'POST', body: '{}' })).status).toBe(400);
    const logged = first.started.policySet;
    await stop();

    // The set of that decision is lost (a restored backup without records/), and the policy was edited since.
    rmSync(join(data, 'records', 'policy-sets', `${logged}.json`));
    const licenses = join(data, 'policy', 'licenses.json');
    writeFileSync(licenses, JSON.stringify({ licenses: [] }));
    const second = await serve(['--retain', '5y']);
    expect(second.started.policySet).not.toBe(logged);
    expect(readdirSync(join(data, 'records', 'policy-sets'))).toEqual([`${second.started.policySet}.json`]);
    const r1 = (await info(second.started.url)).retention;
    expect(r1).toMatchObject({
      period: '5y',
      complete: false,
      missing: [{ kind: 'policy-set', id: logged, entry: 0, problem: 'missing' }],
    });
    expect(second.stderr()).toContain(`retention 5y: 1 record the log entries since`);
    expect(second.stderr()).toContain(`policy-set ${logged} (entry 0): missing`);
    // Still deciding and logging.
    expect((await fetch(`${second.started.url}/v1/release`, { method: 'POST', body: '{}' })).status).toBe(400);
    await stop();

    // `clean` removes only partial outputs of killed runs, never a record.
    const kept = readdirSync(join(data, 'records', 'policy-sets'));
    const cleaned = ms(['--json', 'clean', join(data, 'records', 'policy-sets')]);
    expect(cleaned.code, cleaned.stderr).toBe(0);
    expect(cleaned.json()).toMatchObject({ removed: [] });
    expect(readdirSync(join(data, 'records', 'policy-sets'))).toEqual(kept);
    // Without --retain, no retention in /v1/info; the archive is kept all the same.
    const third = await serve([]);
    expect((await info(third.started.url)).retention).toBeUndefined();
    await stop();
    expect(
      JSON.parse(readFileSync(join(data, 'records', 'policy-sets', `${second.started.policySet}.json`), 'utf8')),
    ).toMatchObject({ files: { licenses: JSON.stringify({ licenses: [] }) } });
  });

  it('refuses a period it cannot read, saying how to write one', () => {
    const r = ms(['serve', '--data', data, '--port', '0', '--retain', '5 years']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--retain "5 years": expected whole years, months or days, e\.g\. 5y/);
  });
});
