/** The built CLI as the tests run it: `node dist/cli/modelseal.bundle.mjs --keys <keys> ...args`. */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

export const BIN = resolve('dist/cli/modelseal.bundle.mjs');

/** One run's exit code and output; `json()` parses stdout. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  json: () => any; // eslint-disable-line @typescript-eslint/no-explicit-any -- each test reads its own shape
}

/** A runner of the built bundle with the key store `keys`, in the folder `cwd`. */
export function cli(keys: string, cwd: string): (args: string[]) => CliRun {
  return (args) => {
    if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` (npm test does)`);
    const r = spawnSync(process.execPath, [BIN, '--keys', keys, ...args], { cwd, maxBuffer: 64 << 20 });
    const stdout = r.stdout.toString();
    return { code: r.status, stdout, stderr: r.stderr.toString(), json: () => JSON.parse(stdout) };
  };
}

/** A running `modelseal serve` (the built bundle) on a free loopback port, and how to stop it. */
export interface ServedCli {
  url: string;
  stop: () => void;
}

/** Starts `modelseal --keys <keys> --json serve --data <data> --port 0 ...args` and waits for its first line. */
export async function serveCli(keys: string, cwd: string, data: string, args: string[] = []): Promise<ServedCli> {
  const { spawn } = await import('node:child_process');
  const { createInterface } = await import('node:readline');
  const child = spawn(
    process.execPath,
    [BIN, '--keys', keys, '--json', 'serve', '--data', data, '--port', '0', ...args],
    {
      cwd,
    },
  );
  const first = await new Promise<string>((res, rej) => {
    createInterface({ input: child.stdout }).once('line', res);
    child.once('exit', (code) => rej(new Error(`serve exited ${code}`)));
  });
  return { url: (JSON.parse(first) as { url: string }).url, stop: () => child.kill('SIGTERM') };
}
