/**
 * `mlflow register` against a real MLflow tracking server behind MLflow's basic-auth app
 * (`mlflow server --app-name basic-auth`, PyPI `mlflow[auth]`): credentials from
 * MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD, as MLflow's clients take them; without them
 * the refusal is MLFLOW_REJECTED (exit 29); the password is in no output.
 */
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../support/cli.js';
import { tempDir } from '../support/fixtures.js';
import { startMlflow, type Mlflow } from '../support/mlflow.js';

const dir = tempDir('modelseal-mlflow-auth-');
const keys = join(dir, 'keys');
const ms = cli(keys, dir);
const pkg = join(dir, 'demo.mseal');
const password = `pw-${randomBytes(12).toString('hex')}`;
let mlflow: Mlflow;

beforeAll(async () => {
  mlflow = await startMlflow(dir, password);
  expect(ms(['init']).code).toBe(0);
  expect(ms(['seal', resolve('samples/checkpoint'), '--to', 'local', '-o', pkg]).code).toBe(0);
}, 180_000);
afterAll(() => mlflow.stop());

/** `mlflow register` with `env` added to the environment for this one run. */
function registerWith(env: { MLFLOW_TRACKING_USERNAME?: string; MLFLOW_TRACKING_PASSWORD?: string }) {
  delete process.env.MLFLOW_TRACKING_TOKEN; // nothing from the shell running the tests
  delete process.env.MLFLOW_TRACKING_USERNAME;
  delete process.env.MLFLOW_TRACKING_PASSWORD;
  Object.assign(process.env, env);
  try {
    const args = ['--tracking-uri', mlflow.url, '--name', 'guarded', pkg, '--log-index', '1'];
    return ms(['--json', 'mlflow', 'register', ...args]);
  } finally {
    delete process.env.MLFLOW_TRACKING_USERNAME; // left set, it would reach the next run
    delete process.env.MLFLOW_TRACKING_PASSWORD;
  }
}

describe('mlflow register with MLflow basic auth', () => {
  it('is refused without credentials (exit 29), and says which variables to set', () => {
    const r = registerWith({});
    expect(r.code).toBe(29);
    expect(r.json().error).toMatchObject({ code: 'MLFLOW_REJECTED', message: expect.stringMatching(/HTTP 401/) });
    expect(r.json().error.message).toMatch(/MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD/);
  });

  it('is refused with a wrong password, and the password is in no output', () => {
    const r = registerWith({ MLFLOW_TRACKING_USERNAME: 'admin', MLFLOW_TRACKING_PASSWORD: `${password}x` });
    expect(r.code).toBe(29);
    expect(r.stdout + r.stderr).not.toContain(password);
  });

  it('registers with MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (Basic), the upload included', () => {
    const r = registerWith({ MLFLOW_TRACKING_USERNAME: 'admin', MLFLOW_TRACKING_PASSWORD: password });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().registration).toMatchObject({ name: 'guarded', version: '1', createdModel: true });
    expect(r.json().registration.source).toMatch(/^runs:\/[0-9a-f]{32}\/demo\.mseal$/);
    expect(r.stdout + r.stderr).not.toContain(password);
  });
});
