/**
 * A real KMS wire protocol for the tests: moto_server (PyPI `moto[server]`, installed into
 * .peers/venv by test/peers/setup.sh) on a free loopback port, with dummy AWS credentials.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { within } from './wait.js';

const MOTO = resolve('.peers/venv/bin/moto_server');

/** A loopback port free now (for a peer the test starts next). */
export async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    });
  });
}

export interface Moto {
  endpoint: string;
  stop(): Promise<void>;
}

export async function startMoto(): Promise<Moto> {
  if (!existsSync(MOTO))
    throw new Error(
      `${MOTO} is missing: run \`bash test/peers/setup.sh\` (npm test does); the KMS tests need a real moto server`,
    );
  process.env.AWS_ACCESS_KEY_ID = 'testing';
  process.env.AWS_SECRET_ACCESS_KEY = 'testing';
  process.env.AWS_REGION = 'us-east-1';
  delete process.env.AWS_PROFILE;
  const port = await freePort();
  const child: ChildProcess = spawn(MOTO, ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr!.on('data', (b: Buffer) => (log = (log + b.toString()).slice(-4000)));
  const endpoint = `http://127.0.0.1:${port}`;
  await within(30_000, `moto_server to answer on ${endpoint}`, async () => {
    if (child.exitCode !== null) throw new Error(`moto_server exited (${child.exitCode})`);
    return fetch(endpoint).then(
      (r) => r.ok,
      () => false, // not listening yet
    );
  }).catch((e: unknown) => Promise.reject(new Error(`${e instanceof Error ? e.message : String(e)}: ${log}`)));
  return {
    endpoint,
    stop: () =>
      new Promise((r) => {
        child.once('exit', () => r());
        child.kill();
      }),
  };
}
