/**
 * Usage errors are usage errors (issue 16, item 7): an unreadable --passphrase-file, commander's own
 * errors under --json, and a --log-key of the wrong kind all exit 2 with INVALID_ARGUMENT and one
 * JSON object on stdout, naming what was wrong, never echoing a secret.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../support/fixtures.js';

const BIN = resolve('dist/cli/modelseal.bundle.mjs');
const dir = tempDir('modelseal-cli-usage-');
const keys = join(dir, 'keys');

function ms(args: string[], env: Record<string, string> = {}) {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` (npm test does)`);
  const r = spawnSync(process.execPath, [BIN, '--keys', keys, ...args], { cwd: dir, env: { ...process.env, ...env } });
  return { code: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** stdout is exactly one JSON line: the error object of docs/ERRORS.md. */
function jsonError(r: { stdout: string }) {
  const lines = r.stdout.split('\n').filter(Boolean);
  expect(lines, `stdout: ${r.stdout}`).toHaveLength(1);
  const o = JSON.parse(lines[0]!) as { ok: boolean; error: { code: string; exitCode: number; message: string } };
  expect(o.ok).toBe(false);
  return o.error;
}

describe('usage errors', () => {
  it('a reader that stops early (`--help | head -1`) ends the command quietly, with no stack trace', () => {
    if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` (npm test does)`);
    const r = spawnSync('bash', ['-c', `set -o pipefail; "${process.execPath}" "${BIN}" gate --help | head -c 1`], {
      cwd: dir,
    });
    expect(r.stderr.toString()).not.toMatch(/EPIPE|Unhandled|at /);
    expect(r.status).toBe(0);
  });

  it('a missing or unreadable --passphrase-file is INVALID_ARGUMENT naming the file and the cause', () => {
    const missing = join(dir, 'no-such-passphrase');
    for (const [args, env, name, cause] of [
      [['--passphrase-file', missing], {}, '--passphrase-file', /no such file \(ENOENT\)/],
      [['--passphrase-file', dir], {}, '--passphrase-file', /it is a directory \(EISDIR\)/],
      [[], { MODELSEAL_PASSPHRASE_FILE: missing }, 'MODELSEAL_PASSPHRASE_FILE', /no such file/],
    ] as const) {
      const r = ms(['--json', ...args, 'init', '--protect'], env);
      expect(r.code, r.stdout + r.stderr).toBe(2);
      const e = jsonError(r);
      expect(e).toMatchObject({ code: 'INVALID_ARGUMENT', exitCode: 2 });
      expect(e.message).toContain(`${name} ${args.length ? args[1] : missing}`);
      expect(e.message).toMatch(cause);
      // And without --json, the same on stderr.
      const human = ms([...args, 'init', '--protect'], env);
      expect(human.code).toBe(2);
      expect(human.stderr).toMatch(/error INVALID_ARGUMENT: .*passphrase/i);
    }
    expect(existsSync(keys)).toBe(false);
  });

  it('warns when the passphrase file is readable by its group or by everyone, not when it is 0600', () => {
    const file = join(dir, 'pass.txt');
    writeFileSync(file, 'correct horse battery staple\n');
    chmodSync(file, 0o644);
    const loose = ms(['--json', '--passphrase-file', file, 'keygen', '--protect', '-o', join(dir, 'k1')]);
    expect(loose.code, loose.stderr).toBe(0);
    expect(loose.stderr).toMatch(
      new RegExp(`warning: --passphrase-file ${file} is readable by everyone \\(mode 0644\\): run chmod 600`),
    );
    expect(JSON.parse(loose.stdout)).toMatchObject({ ok: true });
    chmodSync(file, 0o640);
    const group = ms(['--passphrase-file', file, 'keygen', '--protect', '-o', join(dir, 'k2')]);
    expect(group.stderr).toMatch(/readable by its group \(mode 0640\)/);
    chmodSync(file, 0o600);
    const tight = ms(['--passphrase-file', file, 'keygen', '--protect', '-o', join(dir, 'k3')]);
    expect(tight.code).toBe(0);
    expect(tight.stderr).not.toMatch(/warning/);
    for (const r of [loose, group, tight]) expect(r.stdout + r.stderr).not.toContain('correct horse');
  });

  it("--json: commander's usage errors print the JSON error object on stdout and nothing else", () => {
    const cases: [string[], RegExp][] = [
      [['--json', '--bogus'], /unknown option '--bogus'/],
      [['seal', '--json', '--nope', 'x', '-o', 'y'], /unknown option '--nope'/],
      [['--json', 'seal', 'in'], /required option '-o, --output <package>' not specified/],
      [['--json', 'inspect'], /missing required argument 'package'/],
      [['--json', 'frobnicate'], /unknown command 'frobnicate'/],
      [['--json', 'verify', 'a', 'b', 'c'], /too many arguments/],
      [['--json', 'open', 'x.mseal', '-o'], /option '-o, --output <path>' argument missing/],
      [['--json'], /no command given/],
    ];
    for (const [args, why] of cases) {
      const r = ms(args);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      const e = jsonError(r);
      expect(e).toMatchObject({ code: 'INVALID_ARGUMENT', exitCode: 2 });
      expect(e.message).toMatch(why);
      expect(r.stderr, `${args.join(' ')}: nothing on stderr with --json`).toBe('');
    }
    // Without --json: commander's text on stderr, nothing on stdout, exit 2.
    const human = ms(['--bogus']);
    expect(human).toMatchObject({ code: 2, stdout: '' });
    expect(human.stderr).toMatch(/unknown option '--bogus'/);
    // --help and --version still succeed.
    expect(ms(['--json', '--version']).code).toBe(0);
    expect(ms(['--help']).code).toBe(0);
  });

  it('receipt verify --log-key of the wrong kind is a usage error that names the expected key, without echoing the file', () => {
    expect(ms(['init', '--log-origin', 'usage.test/log']).code).toBe(0);
    const receipt = join(dir, 'r.tlog-proof');
    writeFileSync(receipt, 'c2sp.org/tlog-proof@v1\n');
    const logKeyFile = readFileSync(join(keys, 'log.key'), 'utf8');
    const secret = JSON.parse(logKeyFile).secret as string;
    mkdirSync(join(dir, 'adir'), { recursive: true });
    for (const [key, kind] of [
      [join(keys, 'publisher.pub'), /a PEM public key, not a log verifier key/],
      [join(keys, 'log.key'), /a modelseal log-ed25519 key file \(the log's secret signing key/],
      [join(keys, 'local.kek'), /a modelseal local-kek key file/],
      [
        readFileSync(join(keys, 'log.vkey'), 'utf8')
          .trim()
          .replace(/\+[0-9a-f]{8}\+/, '+00000000+'),
        /key ID does not match/,
      ],
    ] as const) {
      const r = ms(['--json', 'receipt', 'verify', receipt, '--log-key', key]);
      expect({ key, code: r.code }).toEqual({ key, code: 2 });
      const e = jsonError(r);
      expect(e.code).toBe('INVALID_ARGUMENT');
      expect(e.message).toMatch(kind);
      expect(e.message).toMatch(/expected the log's Ed25519 verifier key \(origin\+id\+key/);
      expect(r.stdout + r.stderr).not.toContain(secret);
      expect(r.stdout + r.stderr).not.toContain('"secret"');
    }
  });

  it('rewrap of a folder with an unreadable subfolder is an IO error naming it, not INTERNAL', () => {
    // /proc/1/fdinfo cannot be listed here, even by root: a real unreadable folder.
    const r = ms(['--json', 'rewrap', '/proc/1', '--add', 'local']);
    expect(r.code, r.stdout).not.toBe(70);
    if (r.code !== 0)
      expect(jsonError(r)).toMatchObject({
        code: 'IO',
        message: expect.stringMatching(
          /cannot search \/proc\/1 for packages: permission denied \(EACCES\) in \/proc\/1\//,
        ),
      });
  });

  it('a file-system error the library did not wrap is IO (exit 3) naming the path, not INTERNAL', () => {
    const file = join(dir, 'plain-file');
    writeFileSync(file, 'x');
    const loop = join(dir, 'loop');
    if (!existsSync(loop)) symlinkSync(loop, loop);
    for (const [args, why] of [
      [
        ['policy', 'init', '--data', file],
        /cannot mkdir .*plain-file\/policy: a part of the path is not a directory \(ENOTDIR\)/,
      ],
      [['init', '--keys', loop], /cannot mkdir .*loop: too many symbolic links \(ELOOP\)/],
    ] as const) {
      const r = ms(['--json', ...args]);
      expect({ args, code: r.code }).toEqual({ args, code: 3 });
      expect(jsonError(r)).toMatchObject({ code: 'IO', message: expect.stringMatching(why) });
    }
  });

  it('an x25519 recipient that is a low-order point is a usage error, not INTERNAL', () => {
    if (!existsSync(join(keys, 'publisher.key'))) expect(ms(['init']).code).toBe(0);
    const input = join(dir, 'small.bin');
    writeFileSync(input, 'weights');
    const r = ms(['--json', 'seal', input, '--to', `x25519:${'A'.repeat(43)}`, '-o', join(dir, 'small.mseal')]);
    expect(r.code, r.stdout).toBe(2);
    expect(jsonError(r)).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/not a usable x25519 public key \(a low-order point\)/),
    });
    expect(existsSync(join(dir, 'small.mseal'))).toBe(false);
  });
  it('a malformed service or log URL is a usage error, not INTERNAL (found by the CLI fuzzer)', () => {
    for (const args of [
      ['policy', 'check', '--server', 'not a url'],
      ['serve', '--port', '0', '--log-url', '::bad'],
    ]) {
      const r = ms(['--json', ...args]);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(jsonError(r)).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/URL/) });
    }
  });
});
