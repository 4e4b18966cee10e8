/**
 * A real MLflow tracking server for the tests: `mlflow server` (PyPI `mlflow==3.17.2`, installed
 * into .peers/venv by test/peers/setup.sh) on a free loopback port, with a sqlite backend and a
 * local artifact store in a temporary folder; and reading back through its REST API.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { join, resolve } from 'node:path';
import { freePort } from './moto.js';
import { within } from './wait.js';

const MLFLOW = resolve('.peers/venv/bin/mlflow');

export interface Mlflow {
  url: string;
  /** GET a REST 2.0 endpoint (under /api/2.0/mlflow/) and parse its JSON. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each test reads its own shape
  get: (path: string, query: Record<string, string>) => Promise<any>;
  /** GET any path of the server as bytes (an artifact). */
  bytes: (path: string) => Promise<Buffer>;
  stop(): Promise<void>;
}

/**
 * GET `url` on a connection of its own: uvicorn closes idle keep-alive connections after 5 s, and a
 * pooled one reused after a CLI run would fail with "other side closed".
 */
function getBytes(url: string): Promise<Buffer> {
  return new Promise((ok, fail) => {
    httpGet(url, { agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (b: Buffer) => parts.push(b));
      res.on('end', () => ok(Buffer.concat(parts)));
    }).on('error', fail);
  });
}

/**
 * Starts `mlflow server` with its stores under `dir` and waits until /health answers. With
 * `adminPassword`, MLflow's basic-auth app runs in front (`--app-name basic-auth`, PyPI `mlflow[auth]`),
 * its user store in `dir` too, and user `admin` gets that password.
 */
export async function startMlflow(dir: string, adminPassword?: string): Promise<Mlflow> {
  if (!existsSync(MLFLOW))
    throw new Error(
      `${MLFLOW} is missing: run \`bash test/peers/setup.sh\` (npm test does); the MLflow tests need a real ` +
        'tracking server (mlflow==3.17.2 in test/peers/requirements.txt)',
    );
  const port = await freePort();
  const args = ['server', '--backend-store-uri', `sqlite:///${join(dir, 'mlflow.db')}`];
  args.push('--artifacts-destination', join(dir, 'artifacts'), '--host', '127.0.0.1', '--port', String(port));
  args.push('--workers', '1');
  const env = { ...process.env };
  if (adminPassword !== undefined) {
    const ini = join(dir, 'basic_auth.ini');
    const conf = ['[mlflow]', 'default_permission = READ', `database_uri = sqlite:///${join(dir, 'auth.db')}`];
    conf.push('admin_username = admin', 'authorization_function = mlflow.server.auth:authenticate_request_basic_auth');
    writeFileSync(ini, conf.join('\n') + '\n');
    Object.assign(env, {
      MLFLOW_AUTH_CONFIG_PATH: ini,
      MLFLOW_AUTH_ADMIN_PASSWORD: adminPassword,
      // The auth app's CSRF protection wants a fixed secret.
      MLFLOW_FLASK_SERVER_SECRET_KEY: randomBytes(16).toString('hex'),
    });
    args.push('--app-name', 'basic-auth');
  }
  // Its own process group: `mlflow server` runs uvicorn as a child, and stopping must stop both.
  const child = spawn(MLFLOW, args, { cwd: dir, env, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let log = '';
  child.stderr.on('data', (b: Buffer) => (log = (log + b.toString()).slice(-4000)));
  const url = `http://127.0.0.1:${port}`;
  await within(120_000, `mlflow server to answer on ${url}`, async () => {
    if (child.exitCode !== null) throw new Error(`mlflow server exited (${child.exitCode}): ${log}`);
    return fetch(`${url}/health`).then(
      (r) => r.ok,
      () => false, // not listening yet
    );
  });
  return {
    url,
    get: async (path, query) =>
      JSON.parse((await getBytes(`${url}/api/2.0/mlflow/${path}?${new URLSearchParams(query).toString()}`)).toString()),
    bytes: (path) => getBytes(`${url}${path}`),
    stop: () =>
      new Promise((r) => {
        if (child.exitCode !== null) {
          r();
          return;
        }
        child.once('exit', () => r());
        process.kill(-child.pid!, 'SIGTERM');
      }),
  };
}
