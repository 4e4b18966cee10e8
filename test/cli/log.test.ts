/** The transparency log from the command line: seal --log, audit verify, audit proof, receipt verify. */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../support/fixtures.js';

const BIN = resolve('dist/cli/modelseal.bundle.mjs');
const dir = tempDir('modelseal-cli-log-');
const keys = join(dir, 'keys');
const logDir = join(dir, 'log');

function ms(args: string[]) {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` (npm test does)`);
  const r = spawnSync(process.execPath, [BIN, '--keys', keys, ...args], { maxBuffer: 64 << 20 });
  return {
    code: r.status,
    stdout: r.stdout.toString(),
    stderr: r.stderr.toString(),
    json: () => JSON.parse(r.stdout.toString()),
  };
}

describe('modelseal and its transparency log', () => {
  it('records every export before the package is written, and an auditor checks it', () => {
    const init = ms(['--json', 'init', '--log-origin', 'exports.example/log']);
    expect(init.code, init.stderr).toBe(0);
    expect(init.json().logVerifierKey).toMatch(/^exports\.example\/log\+[0-9a-f]{8}\+/);
    expect(readFileSync(join(keys, 'log.vkey'), 'utf8').trim()).toBe(init.json().logVerifierKey);

    const a = ms([
      '--json',
      'seal',
      'samples/checkpoint',
      '--to',
      'local',
      '--to',
      'x25519:samples/keys/recipient.x25519.pub',
      '--license',
      'EAR-7',
      '-o',
      join(dir, 'a.mseal'),
      '--log',
      logDir,
    ]);
    expect(a.code, a.stderr).toBe(0);
    expect(a.json().log).toEqual({
      origin: 'exports.example/log',
      entries: [
        { index: 0, recipient: a.json().recipients[0].recipient },
        { index: 1, recipient: a.json().recipients[1].recipient },
      ],
    });
    const b = ms([
      '--json',
      'seal',
      'samples/checkpoint',
      '--to',
      'local',
      '-o',
      join(dir, 'b.mseal'),
      '--log',
      logDir,
    ]);
    expect(b.json().log.entries).toEqual([{ index: 2, recipient: b.json().recipients[0].recipient }]);

    expect(ms(['--json', 'audit', 'verify', '--store', logDir]).json()).toMatchObject({
      ok: true,
      origin: 'exports.example/log',
      size: 3,
    });

    // A receipt for entry 1, checked offline: it names the package, recipient and license.
    const proof = ms(['audit', 'proof', '1', '--store', logDir]);
    expect(proof.code, proof.stderr).toBe(0);
    writeFileSync(join(dir, 'r1.tlog-proof'), proof.stdout);
    const rv = ms(['--json', 'receipt', 'verify', join(dir, 'r1.tlog-proof'), '--log-key', init.json().logVerifierKey]);
    expect(rv.code, rv.stderr).toBe(0);
    expect(JSON.parse(rv.json().entry)).toMatchObject({
      type: 'export',
      package: a.json().packageId,
      license: 'EAR-7',
      provider: 'x25519',
    });
    writeFileSync(join(dir, 'r1-bad.tlog-proof'), proof.stdout.replace('index 1', 'index 2'));
    expect(ms(['receipt', 'verify', join(dir, 'r1-bad.tlog-proof')]).code).toBe(12);

    // Rewriting history: the license of entry 0 edited in place.
    const entries = readFileSync(join(logDir, 'entries'));
    entries.write('EAR-8', entries.indexOf('EAR-7'));
    writeFileSync(join(logDir, 'entries'), entries);
    const bad = ms(['--json', 'audit', 'verify', '--store', logDir]);
    expect(bad.code).toBe(12);
    expect(bad.json().error).toMatchObject({ code: 'LOG_INVALID', details: { problem: { kind: 'entry', index: 0 } } });
  });

  it('fails closed: when the log cannot be written, no package is', () => {
    const blocked = join(dir, 'not-a-dir');
    writeFileSync(blocked, 'a file where the log directory should be');
    const out = join(dir, 'c.mseal');
    const r = ms(['seal', 'samples/checkpoint', '--to', 'local', '-o', out, '--log', join(blocked, 'log')]);
    expect(r.code, r.stderr).toBe(11);
    expect(r.stderr).toMatch(/LOG_UNAVAILABLE/);
    expect(existsSync(out)).toBe(false);
  });
});
