/**
 * One name for one thing (issue 18): the transparency log is `--log` on every command that reads it,
 * as on `seal`, with `--store` and `--server` kept as hidden aliases; `policy check` names its folder
 * `--policy-dir`, apart from the policy-set hash `seal --policy` binds, with `--policy` a hidden alias.
 * Each new spelling works, each old one still does, help shows only the new one, and two spellings
 * of one option together are a usage error naming both.
 */
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../support/cli.js';
import { tempDir } from '../support/fixtures.js';

const dir = tempDir('modelseal-cli-vocabulary-');
const keys = join(dir, 'keys');
const logDir = join(dir, 'log');
const data = join(dir, 'data');
const ms = cli(keys, dir);

/** The options a command's --help lists (its descriptions may mention other commands' flags). */
function helpOptions(command: string[]): string[] {
  const help = ms([...command, '--help']);
  expect(help.code, help.stderr).toBe(0);
  return [...help.stdout.matchAll(/^ {2}(?:-\w, )?(--[a-z-]+)/gm)].map((m) => m[1]!); // wrapped text is indented more
}

beforeAll(() => {
  expect(ms(['init']).code).toBe(0);
  for (const out of ['a.mseal', 'b.mseal']) {
    const r = ms(['seal', resolve('samples/checkpoint'), '--to', 'local', '-o', join(dir, out), '--log', logDir]);
    expect(r.code, r.stderr).toBe(0);
  }
  expect(ms(['policy', 'init', '--data', data]).code).toBe(0);
});

describe('the log is --log on every command', () => {
  it('help shows --log on audit verify, list, proof and trace, never --store or --server', () => {
    for (const command of [['audit', 'verify'], ['audit', 'list'], ['audit', 'proof'], ['trace']]) {
      const options = helpOptions(command);
      expect(options, command.join(' ')).toContain('--log');
      if (command[0] === 'audit') expect(options, command.join(' ')).toContain('--log-key');
      expect(
        options.filter((o) => o === '--store' || o === '--server'),
        command.join(' '),
      ).toEqual([]);
    }
    expect(ms(['audit', 'verify', '--help']).stdout).toMatch(/--log <dir\|postgres-url\|url>/);
  });

  it('audit verify, list and proof read a store given as --log, as they do under the old --store', () => {
    for (const command of [
      ['--json', 'audit', 'verify'],
      ['--json', 'audit', 'list'],
      ['audit', 'list', '--csv'],
      ['audit', 'proof', '1'],
    ]) {
      const byLog = ms([...command, '--log', logDir]);
      const byStore = ms([...command, '--store', logDir]);
      expect(byLog.code, byLog.stderr).toBe(0);
      expect(byStore.code, byStore.stderr).toBe(0);
      expect(byLog.stdout).toBe(byStore.stdout);
    }
    expect(ms(['--json', 'audit', 'verify', '--log', logDir]).json()).toMatchObject({ ok: true, size: 2 });
    expect(ms(['audit', 'proof', '1', '--log', logDir]).stdout).toMatch(/^c2sp.org\/tlog-proof@v1\nextra /);
  });

  it('two spellings of the log together are a usage error naming both, before anything is read', () => {
    const url = 'http://127.0.0.1:1';
    for (const [a, b, args] of [
      ['--log', '--store', ['audit', 'verify', '--log', logDir, '--store', logDir]],
      ['--log', '--server', ['audit', 'list', '--server', url, '--log', logDir]],
      ['--store', '--server', ['audit', 'verify', '--store', logDir, '--server', url]],
      ['--log', '--store', ['audit', 'proof', '0', '--log', logDir, '--store', logDir]],
      // The leak does not exist: the flags are refused before it would be read.
      [
        '--log',
        '--server',
        ['trace', join(dir, 'no-leak'), '--original', 'samples/checkpoint', '--log', logDir, '--server', url],
      ],
    ] as const) {
      const r = ms(['--json', ...args]);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      const e = r.json().error;
      expect(e.code).toBe('INVALID_ARGUMENT');
      expect(e.message).toContain(`${a} and ${b} both name the log`);
    }
  });

  it('no log, an empty one, or a proof asked of a log read over HTTP is a usage error that names --log', () => {
    for (const [args, message] of [
      [['audit', 'verify'], /give the log as --log <dir\|postgres-url\|url>/],
      [['audit', 'list', '--log', ''], /--log: expected a directory, a PostgreSQL URL or an http\(s\) URL/],
      [['audit', 'proof', '0', '--log', 'http://127.0.0.1:1'], /audit proof reads the log store \(--log <dir/],
    ] as const) {
      const r = ms(['--json', ...args]);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.json().error.message).toMatch(message);
    }
  });

  it('the old spellings keep their meaning: --server is always a service, --store always a store', () => {
    const server = ms(['--json', 'audit', 'verify', '--server', logDir]);
    expect(server.code).toBe(11);
    expect(server.json().error.message).toMatch(/cannot be reached; check the log's URL/);
    const store = ms(['--json', 'audit', 'verify', '--store', 'http://127.0.0.1:1']);
    expect(store.code).toBe(11);
    expect(store.json().error.message).toMatch(/is not a log store/);
    // --log reads the spelling: a URL is a service.
    const log = ms(['--json', 'audit', 'verify', '--log', 'http://127.0.0.1:1']);
    expect(log.code).toBe(11);
    expect(log.json().error.message).toMatch(/the log at http:\/\/127\.0\.0\.1:1 cannot be reached/);
  });
});

describe('policy check names its folder --policy-dir', () => {
  it('help shows --policy-dir, not --policy (which seal and rewrap use for a policy-set hash)', () => {
    const options = helpOptions(['policy', 'check']);
    expect(options).toContain('--policy-dir');
    expect(options).not.toContain('--policy');
    expect(helpOptions(['seal'])).toContain('--policy');
  });

  it('checks the folder given as --policy-dir, or as the old --policy; both together is a usage error', () => {
    const folder = join(data, 'policy');
    const byNew = ms(['--json', 'policy', 'check', '--policy-dir', folder]);
    const byOld = ms(['--json', 'policy', 'check', '--policy', folder]);
    expect(byNew.code, byNew.stderr).toBe(0);
    expect(byNew.json()).toMatchObject({ dir: folder, hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(byOld.stdout).toBe(byNew.stdout);
    // Without it, the default folder (here: none) is checked, so the option was what found the files.
    expect(ms(['--json', 'policy', 'check', '--data', join(dir, 'empty')]).code).toBe(3);
    const both = ms(['--json', 'policy', 'check', '--policy-dir', folder, '--policy', folder]);
    expect(both.code).toBe(2);
    expect(both.json().error).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/--policy is the old spelling of --policy-dir/),
    });
  });
});
