/**
 * `modelseal mlflow register` against a real MLflow tracking server (mlflow==3.17.2, sqlite backend,
 * loopback port), through the built binary, read back through MLflow's REST API: the version, its
 * source, its tags and the alias; registering again makes version 2 and moves the alias.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Determination } from '../../src/index.js';
import { cli, serveCli } from '../support/cli.js';
import { tempDir } from '../support/fixtures.js';
import { startMlflow, type Mlflow } from '../support/mlflow.js';

const dir = tempDir('modelseal-mlflow-');
const keys = join(dir, 'keys');
const ms = cli(keys, dir);
const pkg = join(dir, 'demo.mseal');
const logDir = join(dir, 'log');
let mlflow: Mlflow;
let logged: number[];
let modelDigest: string;
/** `mlflow register` against the test's server, with --json. */
const register = (args: string[]) => ms(['--json', 'mlflow', 'register', '--tracking-uri', mlflow.url, ...args]);
const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

beforeAll(async () => {
  mlflow = await startMlflow(dir);
  expect(ms(['--json', 'init', '--log-origin', 'mlflow.test/log']).code).toBe(0);
  const sealed = ms(['--json', 'seal', resolve('samples/checkpoint'), '--to', 'local', '-o', pkg, '--log', logDir]);
  expect(sealed.code, sealed.stderr).toBe(0);
  logged = (sealed.json().log.entries as { index: number }[]).map((e) => e.index);
  modelDigest = ms(['--json', 'inspect', pkg]).json().model.rootDigest as string;
}, 180_000);

afterAll(() => mlflow.stop());

describe('mlflow register', () => {
  it('uploads the package to a run, registers version 1 with the tags, and sets the alias', async () => {
    const r = register(['--name', 'demo', pkg, '--log', logDir]);
    expect(r.code, r.stderr).toBe(0);
    const reg = r.json().registration;
    expect(reg).toMatchObject({ name: 'demo', version: '1', alias: 'sealed', createdModel: true });
    const mv = (await mlflow.get('model-versions/get', { name: 'demo', version: '1' })).model_version;
    expect(mv.source).toBe(`runs:/${reg.runId}/${basename(pkg)}`);
    expect(mv.run_id).toBe(reg.runId);
    const tags = Object.fromEntries((mv.tags as { key: string; value: string }[]).map((t) => [t.key, t.value]));
    expect(tags).toEqual({
      'modelseal.package_digest': sha256(readFileSync(pkg)),
      'modelseal.model_digest': modelDigest,
      'modelseal.classification': expect.any(String),
      'modelseal.log_index': logged.join(','),
    });
    // The US-EAR classification the signed header binds (the sample, without its training compute: undetermined).
    const determinations = ms(['--json', 'inspect', pkg]).json().classification.determinations as Determination[];
    expect(tags['modelseal.classification']).toBe(determinations.find((d) => d.regime === 'US-EAR')!.classification);
    const alias = (await mlflow.get('registered-models/alias', { name: 'demo', alias: 'sealed' })).model_version;
    expect(alias.version).toBe('1');
    // The uploaded artifact is the package, byte for byte.
    const run = (await mlflow.get('runs/get', { run_id: reg.runId })).run.info;
    expect(run.status).toBe('FINISHED');
    const root = new URL(run.artifact_uri as string).pathname.replace(/^\/+/, '');
    const art = await mlflow.bytes(`/api/2.0/mlflow-artifacts/artifacts/${root}/${basename(pkg)}`);
    expect(sha256(art)).toBe(sha256(readFileSync(pkg)));
  });

  it('registering again makes version 2 and moves the alias; --source and --log-index are taken as given', async () => {
    const args = ['mlflow', 'register', '--tracking-uri', mlflow.url, '--name', 'demo', pkg];
    const r = ms(['--json', ...args, '--source', 's3://models/demo.mseal', '--log-index', '7,8', '--alias', 'prod']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().registration).toMatchObject({ version: '2', runId: null, createdModel: false });
    const mv = (await mlflow.get('model-versions/get', { name: 'demo', version: '2' })).model_version;
    expect(mv.source).toBe('s3://models/demo.mseal');
    expect(mv.tags).toContainEqual({ key: 'modelseal.log_index', value: '7,8' });
    // The tracking server from MLFLOW_TRACKING_URI, as MLflow's clients take it.
    process.env.MLFLOW_TRACKING_URI = mlflow.url;
    let again;
    try {
      again = ms([
        '--json',
        'mlflow',
        'register',
        '--name',
        'demo',
        pkg,
        '--source',
        's3://models/demo.mseal',
        '--log-index',
        '9',
      ]);
    } finally {
      delete process.env.MLFLOW_TRACKING_URI;
    }
    expect(again.code, again.stderr).toBe(0);
    expect(again.json().registration.version).toBe('3');
    expect((await mlflow.get('registered-models/alias', { name: 'demo', alias: 'sealed' })).model_version.version).toBe(
      '3',
    );
    expect((await mlflow.get('registered-models/alias', { name: 'demo', alias: 'prod' })).model_version.version).toBe(
      '2',
    );
  });

  it('refuses a log that does not record the package, and an unreachable server, with their exit codes', () => {
    const other = join(dir, 'otherlog');
    const s = ms(['--json', 'seal', resolve('samples/checkpoint'), '--to', 'local', '-o', join(dir, 'b.mseal')]);
    expect(s.code, s.stderr).toBe(0);
    expect(
      ms(['seal', resolve('samples/checkpoint'), '--to', 'local', '-o', join(dir, 'c.mseal'), '--log', other]).code,
    ).toBe(0);
    const r = register(['--name', 'x', join(dir, 'b.mseal'), '--log', other]);
    expect(r.code).toBe(2);
    expect(r.json().error.message).toMatch(/records no export of package/);
    const down = ms(['--json', 'mlflow', 'register', '--tracking-uri', 'http://127.0.0.1:9', '--name', 'x', pkg]);
    expect(down.code).toBe(28);
    expect(down.json().error.code).toBe('MLFLOW_UNAVAILABLE');
  });

  it('tags the release service of a package sealed for one, and finds its export in the service log', async () => {
    const data = join(dir, 'data');
    const issued = ms(['recipient', 'issue', 'acme-labs', '--org', 'Acme Labs', '--country', 'DE', '--data', data]);
    expect(issued.code, issued.stderr).toBe(0);
    const served = await serveCli(keys, dir, data, ['--geoip', 'none']);
    try {
      const released = join(dir, 'released.mseal');
      const to = ['--to', `release:${served.url}#acme-labs`, '--license', 'EAR-M', '--no-license-check'];
      const sealed = ms(['--json', 'seal', resolve('samples/checkpoint'), ...to, '--log', served.url, '-o', released]);
      expect(sealed.code, sealed.stderr).toBe(0);
      const entries = (sealed.json().log.entries as { index: number }[]).map((e) => e.index);
      const r = register(['--name', 'released', released, '--log', served.url, '--source', 's3://m/released.mseal']);
      expect(r.code, r.stderr).toBe(0);
      const mv = (await mlflow.get('model-versions/get', { name: 'released', version: '1' })).model_version;
      expect(mv.tags).toContainEqual({ key: 'modelseal.release_url', value: served.url });
      expect(mv.tags).toContainEqual({ key: 'modelseal.log_index', value: entries.join(',') });
    } finally {
      served.stop();
    }
  });
});
