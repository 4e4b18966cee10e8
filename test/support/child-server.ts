/**
 * A small HTTP server of the tests' own (a test/peers/*.mjs script) as a child process: tests that
 * run the CLI with spawnSync block their own event loop, so an in-process server would not answer.
 * The script listens on a kernel-chosen loopback port, prints {"port": N} on stdout, and exits when
 * its stdin closes (on close(), or when the test process dies).
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface ChildServer {
  readonly port: number;
  /** Its stderr so far (the last 4 KiB), for failure messages. */
  log(): string;
  close(): Promise<void>;
}

/** Starts `script` with node and exactly the environment `env` (plus PATH); waits for its port. */
export async function startChildServer(script: string, env: Record<string, string>): Promise<ChildServer> {
  const child = spawn(process.execPath, [script], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH, ...env },
  });
  let log = '';
  child.stderr.on('data', (b: Buffer) => (log = (log + b.toString()).slice(-4096)));
  const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
  const port = await new Promise<number>((ok, fail) => {
    createInterface({ input: child.stdout }).once('line', (l) => ok((JSON.parse(l) as { port: number }).port));
    void exited.then(() => fail(new Error(`${script} exited (${child.exitCode ?? child.signalCode}): ${log}`)));
  });
  return {
    port,
    log: () => log,
    close: async () => {
      child.stdin.end();
      await exited;
    },
  };
}
