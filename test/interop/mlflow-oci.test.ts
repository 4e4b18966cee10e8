/**
 * `mlflow register oci://…` against a real MLflow tracking server and a real registry (Debian's
 * docker-registry, test/support/registry.ts): a package pushed with `modelseal push` is registered
 * by its reference, which the version's source names resolved to the manifest digest, with the tags
 * the manifest's annotations give (the package's digest, its model, classification and release URL).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../support/cli.js';
import { tempDir } from '../support/fixtures.js';
import { startMlflow, type Mlflow } from '../support/mlflow.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';

const dir = tempDir('modelseal-mlflow-oci-');
const keys = join(dir, 'keys');
const ms = cli(keys, dir);
const pkg = join(dir, 'model.mseal');
let mlflow: Mlflow;
let reg: TestRegistry;

beforeAll(async () => {
  for (const args of [
    ['--json', 'init', '--log-origin', 'mlflow-oci.test/log'],
    [
      '--json',
      'seal',
      resolve('samples/checkpoint'),
      '--to',
      'local',
      '--training-flops',
      '2e26',
      '--closed-weights',
      '-o',
      pkg,
    ],
  ]) {
    const r = ms(args);
    expect(r.code, r.stderr).toBe(0);
  }
  [mlflow, reg] = await Promise.all([
    startMlflow(tempDir('modelseal-mlflow-oci-server-')),
    startRegistry({ auth: 'none' }),
  ]);
}, 180_000);
afterAll(async () => {
  await Promise.all([mlflow.stop(), reg.stop()]);
});

/** `[global flags] mlflow register --tracking-uri <server> --name demo-oci <args>`. */
const register = (global: string[], args: string[]) =>
  ms([...global, 'mlflow', 'register', '--tracking-uri', mlflow.url, '--name', 'demo-oci', ...args]);

describe('mlflow register oci://…', () => {
  it('registers the digest reference as the source, with the tags from the manifest', async () => {
    const ref = `oci://${reg.host}/models/demo:v1`;
    const pushed = ms(['push', pkg, ref]);
    expect(pushed.code, pushed.stderr).toBe(0);
    const digest = pushed.stdout.trim();
    const r = register(['--json'], [ref, '--log-index', '4']);
    expect(r.code, r.stderr).toBe(0);
    const source = `oci://${reg.host}/models/demo@${digest}`;
    expect(r.json().registration).toMatchObject({ version: '1', source, alias: 'sealed' });
    const mv = (await mlflow.get('model-versions/get', { name: 'demo-oci', version: '1' })).model_version;
    expect(mv.source).toBe(source);
    const tags = Object.fromEntries((mv.tags as { key: string; value: string }[]).map((t) => [t.key, t.value]));
    const inspected = ms(['--json', 'inspect', pkg]).json();
    expect(tags).toEqual({
      'modelseal.package_digest': `sha256:${createHash('sha256').update(readFileSync(pkg)).digest('hex')}`,
      'modelseal.model_digest': inspected.model.rootDigest,
      'modelseal.classification': '4E091',
      'modelseal.log_index': '4',
    });
  });

  it('refuses --log for a reference: the package id is in the package, not the manifest', () => {
    const r = register([], [`oci://${reg.host}/models/demo:v1`, '--log', join(dir, 'log')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/for an OCI reference give --log-index/);
  });
});
