/**
 * `seal --license X` for a release-service recipient asks the running service (`modelseal serve`)
 * whether X covers the recipient, the model and the destinations and is in force: exit 18 and no
 * package when it does not, saying which part failed; `--no-license-check` seals anyway with a
 * warning. A license naming the original model covers the fingerprinted copy, which then opens.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../support/fixtures.js';
import { makeModel, writeSafetensors } from '../support/checkpoints.js';
import { BIN, cli, serveCli, type ServedCli } from '../support/cli.js';

const dir = tempDir('modelseal-cli-license-');
const keys = join(dir, 'keys');
const data = join(dir, 'data');
const ckpt = join(dir, 'ckpt');
const ms = cli(keys, dir);
let served: ServedCli | undefined;
let url = '';
let model = '';

const license = (id: string, over: Record<string, unknown> = {}) => ({
  id,
  holder: 'acme-labs',
  artifacts: [model],
  destinations: ['DE', 'FR'],
  notBefore: '2020-01-01T00:00:00Z',
  notAfter: '2100-01-01T00:00:00Z',
  maxReleases: 10,
  ...over,
});

beforeAll(async () => {
  expect(ms(['init', '--log-origin', 'license.cli.test/log']).code).toBe(0);
  mkdirSync(ckpt, { recursive: true });
  writeSafetensors(join(ckpt, 'model.safetensors'), makeModel(3, 2, 64, 96, 'F32'));
  // The publisher knows its model's root digest before sealing it for anyone: here from a local seal.
  model = ms(['--json', 'seal', ckpt, '--to', 'local', '-o', join(dir, 'probe.mseal')]).json().model.rootDigest;
  const who = 'recipient issue acme-labs --org Acme-Labs --country DE --nationality DE'.split(' ');
  const issued = ms([...who, '--data', data, '-o', join(dir, 'acme.identity')]);
  expect(issued.code, issued.stderr).toBe(0);
  mkdirSync(join(data, 'policy'), { recursive: true });
  writeFileSync(
    join(data, 'policy', 'licenses.json'),
    JSON.stringify({
      licenses: [
        license('L-OK'),
        license('L-OTHER-MODEL', { artifacts: [`sha256:${'0'.repeat(64)}`] }),
        license('L-EXPIRED', { notAfter: '2021-01-01T00:00:00Z' }),
      ],
    }),
  );
  served = await serveCli(keys, dir, data);
  url = served.url;
}, 60_000);

afterAll(() => {
  served?.stop();
});

const sealFor = (out: string, ...extra: string[]) =>
  ms(['--json', 'seal', ckpt, '--to', `release:${url}#acme-labs`, '--fingerprint', '-o', join(dir, out), ...extra]);

describe('seal --license checks with the release service', () => {
  it('seals a fingerprinted copy under a license naming the original model, and the copy opens', () => {
    const sealed = sealFor('ok.mseal', '--license', 'L-OK', '--destination', 'DE');
    expect(sealed.code, sealed.stderr).toBe(0);
    expect(sealed.json().model.rootDigest).not.toBe(model); // the marked copy's digest
    expect(sealed.json().recipients).toEqual([expect.objectContaining({ type: 'release', model })]);
    const human = ms([
      'seal',
      ckpt,
      '--to',
      `release:${url}#acme-labs`,
      '--license',
      'L-OK',
      '-o',
      join(dir, 'h.mseal'),
    ]);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stderr).toMatch(
      /license L-OK covers acme-labs \(\d+ of 10 releases used, until 2100-01-01T00:00:00Z\)/,
    );
    const opened = ms([
      '--json',
      'open',
      join(dir, 'ok.mseal'),
      '-o',
      join(dir, 'ok-out'),
      '--server',
      url,
      '--identity',
      join(dir, 'acme.identity'),
      '--destination',
      'DE',
    ]);
    expect(opened.code, opened.stderr).toBe(0);
  });

  it.each([
    ['L-NOPE', [], /no license of that id/],
    ['L-OTHER-MODEL', [], /does not name this model/],
    ['L-EXPIRED', [], /has expired/],
    ['L-OK', ['--destination', 'CN'], /does not cover this destination \(CN\)/],
  ])('refuses %s %j with exit 18, saying why, and writes nothing', (id, extra, why) => {
    const out = `refused-${id}-${extra.length}.mseal`;
    const r = sealFor(out, '--license', id, ...extra);
    expect(r.code, r.stderr).toBe(18);
    expect(r.json().error).toMatchObject({ code: 'LICENSE_NOT_COVERED' });
    expect(r.json().error.message).toMatch(why);
    expect(existsSync(join(dir, out))).toBe(false);
  });

  it('seals ahead of the license with --no-license-check, warning on stderr', () => {
    const r = sealFor('ahead.mseal', '--license', 'L-NOPE', '--no-license-check');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/warning: --no-license-check: license L-NOPE was not checked/);
    expect(existsSync(join(dir, 'ahead.mseal'))).toBe(true);
  });

  it('says PROVIDER_UNAVAILABLE (exit 9), naming --no-license-check, when the service does not answer the check', async () => {
    // A service from before the license check: it answers /v1/info (so the package can be sealed
    // for it) but not POST /v1/licenses/check.
    const info = await (await fetch(`${url}/v1/info`)).text();
    const old = createServer((req, res) => {
      res.writeHead(req.url === '/v1/info' ? 200 : 404, { 'content-type': 'application/json' });
      res.end(req.url === '/v1/info' ? info : '{"error":{"code":"NOT_FOUND","message":"no such resource"}}');
    });
    await new Promise<void>((r) => old.listen(0, '127.0.0.1', r));
    try {
      const at = `http://127.0.0.1:${(old.address() as { port: number }).port}`;
      // Spawned asynchronously: this process must keep serving the old service meanwhile.
      const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
        const args = ['--keys', keys, '--json', 'seal', ckpt, '--to', `release:${at}#acme-labs`, '--license', 'L-OK'];
        const child = spawn(process.execPath, [BIN, ...args, '-o', join(dir, 'old.mseal')], { cwd: dir });
        let out = '';
        child.stdout.on('data', (b: Buffer) => (out += b.toString()));
        child.once('exit', (c) => resolve({ code: c, stdout: out }));
      });
      expect(code).toBe(9);
      const error = (JSON.parse(stdout) as { error: { code: string; message: string } }).error;
      expect(error.code).toBe('PROVIDER_UNAVAILABLE');
      expect(error.message).toMatch(/did not answer the license check.*--no-license-check/);
      expect(existsSync(join(dir, 'old.mseal'))).toBe(false);
    } finally {
      await new Promise((r) => old.close(r));
    }
  });

  it('refuses a malformed --destination, and --destination without a license to check', () => {
    expect(sealFor('bad-dest.mseal', '--license', 'L-OK', '--destination', 'Germany').code).toBe(2);
    const r = ms(['--json', 'seal', ckpt, '--to', 'local', '--destination', 'DE', '-o', join(dir, 'local.mseal')]);
    expect(r.code).toBe(2);
    expect(r.json().error.message).toMatch(/--destination is checked against the license of a release service/);
  });
});
