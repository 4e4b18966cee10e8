/**
 * Ctrl-C and kill -9 in the middle of seal and open (the built binary, on a 256 MiB input):
 * nothing may appear at the output path. After Ctrl-C the command also removes its temporary
 * file and exits 130; after kill -9 only a hidden .mseal-partial-* temporary may remain.
 */
import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
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
    expect(
      spawnSync(process.execPath, [BIN, '--keys', keys, '--quiet', 'seal', input, '--to', 'local', '-o', pkg]).status,
    ).toBe(0);
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
    // What is left is private until a later run or `modelseal clean` removes it.
    expect(partials('killed.mseal').map((p) => (statSync(join(dir, p)).mode & 0o777).toString(8))).toEqual(['600']);
    const opened = join(dir, 'killed.bin');
    expect(await interrupt(['open', pkg, '-o', opened], 'killed.bin', 'SIGKILL')).toBe(null);
    expect(existsSync(opened)).toBe(false);
    expect(existsSync(`${opened}.sig`)).toBe(false);
  }, 60_000);
});

/** Every entry under `p` (itself included) with its permission bits. */
function modes(p: string): [string, number][] {
  const st = statSync(p);
  const here: [string, number][] = [[p, st.mode & 0o777]];
  return st.isDirectory() ? [...here, ...readdirSync(p).flatMap((n) => modes(join(p, n)))] : here;
}

function ms(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, '--keys', keys, ...args], { cwd: dir });
  return {
    code: r.status,
    stdout: r.stdout.toString(),
    stderr: r.stderr.toString(),
    json: () => JSON.parse(r.stdout.toString()),
  };
}

describe('partials of killed runs are private, and the next run removes them', () => {
  const folderIn = join(dir, 'ckpt');
  const folderPkg = join(dir, 'ckpt.mseal');
  const pkg = join(dir, 'weights.mseal');

  it('kill -9 of open (a file and a folder package) leaves only 0600 files in 0700 folders; the next open removes them and says so', async () => {
    mkdirSync(join(folderIn, 'sub'), { recursive: true });
    writeFileSync(join(folderIn, 'a.bin'), randomBytes(8 << 20));
    writeFileSync(join(folderIn, 'sub', 'b.bin'), randomBytes(128 << 20));
    expect(ms(['--quiet', 'seal', folderIn, '--to', 'local', '-o', folderPkg]).code).toBe(0);
    for (const [from, out] of [
      [pkg, join(dir, 'k9.bin')],
      [folderPkg, join(dir, 'k9-folder')],
    ] as const) {
      const name = out.slice(dir.length + 1);
      const child = spawn(
        process.execPath,
        [BIN, '--keys', keys, '--quiet', '--threads', '1', 'open', from, '-o', out],
        { stdio: 'ignore' },
      );
      const exited = new Promise((res) => child.on('exit', res));
      // Kill once plaintext is being written: the partial file, or a file inside the partial folder, has bytes.
      const deadline = Date.now() + 20_000;
      const writing = () =>
        partials(name).some((p) => modes(join(dir, p)).some(([f]) => statSync(f).isFile() && statSync(f).size > 0));
      while (!writing()) {
        if (Date.now() > deadline) throw new Error(`open ${from} wrote no plaintext within 20 s`);
        await new Promise((r) => setTimeout(r, 2));
      }
      child.kill('SIGKILL');
      await exited;
      const left = partials(name);
      expect(left).toHaveLength(1);
      const entries = modes(join(dir, left[0]!));
      expect(entries.length).toBeGreaterThan(out.endsWith('folder') ? 1 : 0);
      for (const [p, mode] of entries)
        expect({ p, mode: mode.toString(8) }).toEqual({
          p,
          mode: (statSync(p).isDirectory() ? 0o700 : 0o600).toString(8),
        });
      expect(existsSync(out)).toBe(false);

      // The next run at that destination removes the stale partial (its process is dead), says so, and succeeds.
      const again = ms(['--json', 'open', from, '-o', out]);
      expect(again.code, again.stderr).toBe(0);
      expect(again.json().staleRemoved).toEqual([join(dir, left[0]!)]);
      expect(again.stderr).toContain(`removed ${join(dir, left[0]!)}: a partial ${name} left by modelseal process`);
      expect(partials(name)).toEqual([]);
      // The committed output has ordinary modes again (0644 files, 0755 folders, less the umask).
      for (const [p, mode] of modes(out))
        expect({ p, mode: mode & 0o700 }).toEqual({ p, mode: statSync(p).isDirectory() ? 0o700 : 0o600 });
      expect(modes(out).every(([, m]) => (m & 0o044) === 0o044)).toBe(true);
    }
  }, 120_000);

  it("modelseal clean removes only our stale partials: not a live process's, not another naming, not another host's", () => {
    const host = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);
    const deadPid = 2 ** 22 + 12345; // above the default pid_max: never a running process
    const made = {
      staleFile: `.x.bin.mseal-partial-${host}-${deadPid}-${'a'.repeat(12)}`,
      staleFolder: `.y.mseal-partial-${host}-${deadPid}-${'b'.repeat(12)}`,
      live: `.z.bin.mseal-partial-${host}-${process.pid}-${'c'.repeat(12)}`,
      otherHost: `.w.bin.mseal-partial-00000000-${deadPid}-${'d'.repeat(12)}`,
      legacy: '.v.bin.mseal-partial-0123456789ab',
      lookalike: `x.bin.mseal-partial-${host}-${deadPid}-${'e'.repeat(12)}`,
    };
    const cleanDir = join(dir, 'clean');
    mkdirSync(cleanDir);
    for (const [k, n] of Object.entries(made)) {
      if (k === 'staleFolder') {
        mkdirSync(join(cleanDir, n, 'sub'), { recursive: true });
        writeFileSync(join(cleanDir, n, 'sub', 'w.bin'), 'x');
      } else writeFileSync(join(cleanDir, n), 'x');
    }
    const dry = ms(['--json', 'clean', cleanDir, '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.json()).toMatchObject({
      removed: [],
      stale: [
        { path: join(cleanDir, made.staleFile), pid: deadPid },
        { path: join(cleanDir, made.staleFolder), pid: deadPid },
      ],
    });
    expect(readdirSync(cleanDir)).toHaveLength(6);
    const r = ms(['--json', 'clean', cleanDir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().removed).toEqual([join(cleanDir, made.staleFile), join(cleanDir, made.staleFolder)]);
    expect(readdirSync(cleanDir).sort()).toEqual([made.live, made.otherHost, made.legacy, made.lookalike].sort());
    expect(ms(['--json', 'clean', join(cleanDir, made.live)]).code).toBe(2);
    expect(ms(['--json', 'clean', join(dir, 'no-such-folder')]).json().error.message).toMatch(/no such file/);
  });
});
