/** The release service from the command line: serve, recipient issue/revoke, seal --to release:, open --server. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../support/fixtures.js';

const BIN = resolve('dist/cli/modelseal.bundle.mjs');
const dir = tempDir('modelseal-cli-serve-');
const keys = join(dir, 'keys');
const data = join(dir, 'data');
let server: ChildProcess | undefined;

function ms(args: string[]) {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` (npm test does)`);
  const r = spawnSync(process.execPath, [BIN, '--keys', keys, ...args], { cwd: dir, maxBuffer: 64 << 20 });
  return { code: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString(), json: () => JSON.parse(r.stdout.toString()) };
}

afterAll(() => {
  server?.kill('SIGTERM');
});

describe('modelseal serve', () => {
  it('releases a key to a licensed recipient through the CLI, refuses after revocation, and the log records both', async () => {
    expect(ms(['init', '--log-origin', 'cli.test/log']).code).toBe(0);
    const issued = ms(['--json', 'recipient', 'issue', 'acme-labs', '--data', data, '--org', 'Acme Labs GmbH', '--country', 'DE', '--nationality', 'DE', '-o', join(dir, 'acme.identity')]);
    expect(issued.code, issued.stderr).toBe(0);
    expect(issued.json().recipient).toMatchObject({ name: 'acme-labs', certificate: expect.stringContaining('BEGIN CERTIFICATE'), revoked: null });

    server = spawn(process.execPath, [BIN, '--keys', keys, '--json', 'serve', '--data', data, '--port', '0'], { cwd: dir });
    const first = await new Promise<string>((res, rej) => {
      createInterface({ input: server!.stdout! }).once('line', res);
      server!.once('exit', (code) => rej(new Error(`serve exited ${code}`)));
    });
    const ready = JSON.parse(first) as { url: string; origin: string };
    expect(ready.origin).toBe('cli.test/log');

    const sealed = ms(['--json', 'seal', resolve('samples/checkpoint'), '--to', `release:${ready.url}#acme-labs`, '--license', 'EAR-9', '-o', join(dir, 'm.mseal')]);
    expect(sealed.code, sealed.stderr).toBe(0);
    const digest = sealed.json().model.rootDigest;
    // The operator adds the license while the service runs; it is picked up within a second.
    writeFileSync(
      join(data, 'policy', 'licenses.json'),
      JSON.stringify({ licenses: [{ id: 'EAR-9', holder: 'acme-labs', artifacts: [digest], destinations: ['DE'], notBefore: '2020-01-01T00:00:00Z', notAfter: '2100-01-01T00:00:00Z', maxReleases: 10 }] }),
    );
    expect(ms(['--json', 'policy', 'check', '--data', data]).json().licenses).toEqual(['EAR-9']);
    await new Promise((r) => setTimeout(r, 1100));

    const openArgs = (out: string) => ['--json', 'open', join(dir, 'm.mseal'), '-o', join(dir, out), '--server', ready.url, '--identity', join(dir, 'acme.identity'), '--destination', 'DE'];
    const opened = ms(openArgs('out'));
    expect(opened.code, opened.stderr).toBe(0);
    expect(opened.json().release.receipt).toBe(join(dir, 'out.release.tlog-proof'));
    expect(readFileSync(join(dir, 'out', 'model.safetensors')).equals(readFileSync('samples/checkpoint/model.safetensors'))).toBe(true);
    const rv = ms(['--json', 'receipt', 'verify', join(dir, 'out.release.tlog-proof')]);
    expect(JSON.parse(rv.json().entry)).toMatchObject({ type: 'release', decision: 'allow', recipient: 'acme-labs', license: 'EAR-9' });

    expect(ms(['recipient', 'revoke', 'acme-labs', '--data', data]).code).toBe(0);
    const refused = ms(openArgs('out2'));
    expect(refused.code).toBe(14);
    expect(refused.json().error).toMatchObject({ code: 'RELEASE_DENIED', details: { reason: 'revoked-identity' } });
    expect(existsSync(join(dir, 'out2'))).toBe(false);

    // Stop the service; the auditor checks its log: the release and the refusal are both there.
    server.kill('SIGTERM');
    await new Promise((r) => server!.once('exit', r));
    const audit = ms(['--json', 'audit', 'verify', '--store', join(data, 'log')]);
    expect(audit.code, audit.stderr).toBe(0);
    expect(audit.json()).toMatchObject({ ok: true, size: 2 });
  }, 60_000);
});
