/**
 * Ctrl-C and kill -9 in the middle of seal and open (the built binary, on a 256 MiB input):
 * nothing may appear at the output path. After Ctrl-C the command also removes its temporary
 * file and exits 130; after kill -9 only a hidden .mseal-partial-* temporary may remain.
 */
import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { tempDir } from '../support/fixtures.js';

const BIN = resolve('dist/cli/modelseal.bundle.mjs');
const dir = tempDir('modelseal-int-');
const keys = join(dir, 'keys');
const partials = (prefix: string) => readdirSync(dir).filter((f) => f.startsWith(`.${prefix}.mseal-partial-`));

/** Starts a command, waits until its temporary output exists (work under way), then sends `signal`. */
async function interrupt(args: string[], prefix: string, signal: NodeJS.Signals): Promise<number | null> {
  const child = spawn(process.execPath, [BIN, '--keys', keys, '--quiet', ...args], { stdio: 'ignore' });
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  const deadline = Date.now() + 20_000;
  while (partials(prefix).length === 0) {
    if (Date.now() > deadline) throw new Error(`no temporary ${prefix} output appeared`);
    await new Promise((r) => setTimeout(r, 2));
  }
  child.kill(signal);
  return exited;
}

describe('interrupted seal and open leave nothing at the output path', () => {
  const input = join(dir, 'weights.bin');
  const pkg = join(dir, 'weights.mseal');

  it('setup: a 256 MiB input and its package', () => {
    writeFileSync(input, randomBytes(256 << 20));
    expect(spawnSync(process.execPath, [BIN, '--keys', keys, '--quiet', 'init']).status).toBe(0);
    expect(spawnSync(process.execPath, [BIN, '--keys', keys, '--quiet', 'seal', input, '--to', 'local', '-o', pkg]).status).toBe(0);
  });

  it('Ctrl-C during seal: exit 130, no output, no temporary file', async () => {
    const out = join(dir, 'int.mseal');
    expect(await interrupt(['seal', input, '--to', 'local', '-o', out], 'int.mseal', 'SIGINT')).toBe(130);
    expect(existsSync(out)).toBe(false);
    expect(partials('int.mseal')).toEqual([]);
  }, 60_000);

  it('Ctrl-C during open: exit 130, no output, no temporary file', async () => {
    const out = join(dir, 'int.bin');
    expect(await interrupt(['open', pkg, '-o', out], 'int.bin', 'SIGINT')).toBe(130);
    expect(existsSync(out)).toBe(false);
    expect(existsSync(`${out}.sig`)).toBe(false);
    expect(partials('int.bin')).toEqual([]);
  }, 60_000);

  it('kill -9 during seal and open: nothing at the output paths', async () => {
    const sealed = join(dir, 'killed.mseal');
    expect(await interrupt(['seal', input, '--to', 'local', '-o', sealed], 'killed.mseal', 'SIGKILL')).toBe(null);
    expect(existsSync(sealed)).toBe(false);
    const opened = join(dir, 'killed.bin');
    expect(await interrupt(['open', pkg, '-o', opened], 'killed.bin', 'SIGKILL')).toBe(null);
    expect(existsSync(opened)).toBe(false);
    expect(existsSync(`${opened}.sig`)).toBe(false);
  }, 60_000);
});
