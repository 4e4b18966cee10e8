/**
 * `modelseal rules list` (issue 20): the built bundle finds the embedded packs from any folder,
 * prints them with --json as one object, and names the field of an invalid pack file (exit 21).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cli } from '../support/cli.js';
import { tempDir } from '../support/fixtures.js';

const dir = tempDir('modelseal-cli-rules-');
const ms = cli(join(dir, 'keys'), dir); // cwd outside the repository: no rules/ folder beside it

describe('rules list', () => {
  it('lists every shipped pack with id, date, effective, end, status, regime and title', () => {
    const r = ms(['--json', 'rules', 'list']);
    expect(r.code, r.stderr).toBe(0);
    const packs = r.json().packs as Record<string, unknown>[];
    expect(packs.map((p) => p.name)).toEqual([
      'eu-ai-act-2024-1689@2024-07-12',
      'eu-dual-use-2025-2003@2025-11-14',
      'us-ear-ai-diffusion@2025-01-15',
    ]);
    expect(packs[2]).toMatchObject({ effective: '2025-01-13', end: null, status: 'not-enforced', regime: 'US-EAR' });
    const human = ms(['rules', 'list']);
    expect(human.stdout).toMatch(/us-ear-ai-diffusion@2025-01-15 +US-EAR +2025-01-13 .*not-enforced/);
  });

  it('lists and validates a custom pack file given with --rules: a new pack is just a file', () => {
    const pack = JSON.parse(readFileSync('rules/eu-dual-use-2025-2003.json', 'utf8')) as Record<string, unknown>;
    const file = join(dir, 'acme.json');
    writeFileSync(file, JSON.stringify({ ...pack, id: 'acme-internal', date: '2026-02-01', title: 'ACME house rule' }));
    const r = ms(['--json', 'rules', 'list', '--rules', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().packs.at(-1)).toMatchObject({ name: 'acme-internal@2026-02-01', title: 'ACME house rule' });
  });

  it('the compiled library (dist/src) finds the shipped packs too, from any folder', () => {
    const lib = pathToFileURL(resolve('dist/src/index.js')).href;
    const code = `import(${JSON.stringify(lib)}).then((m) => console.log(m.shippedRulePacks().length))`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd: dir });
    expect(r.stderr.toString()).toBe('');
    expect(r.stdout.toString().trim()).toBe('3');
  });

  it('an invalid pack file is exit 21 RULES_INVALID naming the field, an error object with --json', () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ schema: 'modelseal.rule-pack/1', id: 'x', date: '2026-13' }));
    const r = ms(['--json', 'rules', 'list', '--rules', file]);
    expect(r.code).toBe(21);
    const out = r.json();
    expect(out.ok).toBe(false);
    expect(JSON.stringify(out)).toContain('RULES_INVALID');
    expect(JSON.stringify(out)).toContain(`${file}: date must be a date YYYY-MM-DD`);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });
});
