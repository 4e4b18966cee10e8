/**
 * `modelseal hf export` through the built binary: the folder holds the package byte for byte, the
 * model card parses with huggingface_hub's ModelCard (the test venv's Python) with the Hub's fields,
 * model.sig is included only when it is this package's; the folder appears whole or not at all.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../support/cli.js';
import { tempDir } from '../support/fixtures.js';

const PYTHON = resolve('.peers/venv/bin/python');
const dir = tempDir('modelseal-hf-');
const keys = join(dir, 'keys');
const ms = cli(keys, dir);
const pkg = join(dir, 'demo.mseal');

/** What huggingface_hub's ModelCard makes of the card at `path`: its metadata and its text. */
function parseCard(path: string): { data: Record<string, unknown>; text: string } {
  if (!existsSync(PYTHON))
    throw new Error(`${PYTHON} is missing: run \`bash test/peers/setup.sh\` (huggingface_hub in the test venv)`);
  const code = [
    'import json, sys',
    'from huggingface_hub import ModelCard',
    'card = ModelCard.load(sys.argv[1])',
    'print(json.dumps({"data": card.data.to_dict(), "text": card.text}))',
  ].join('\n');
  const r = spawnSync(PYTHON, ['-c', code, path], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`ModelCard.load failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { data: Record<string, unknown>; text: string };
}

beforeAll(() => {
  expect(ms(['--json', 'init']).code).toBe(0);
  const s = ms(['--json', 'seal', resolve('samples/checkpoint'), '--to', 'local', '-o', pkg]);
  expect(s.code, s.stderr).toBe(0);
});

describe('hf export', () => {
  it("writes the package and a card the Hub's parser reads, with license, tags, base_model and gating", () => {
    const out = join(dir, 'hf');
    const url = 'https://release.example:7411';
    const args = ['--license', 'Apache-2.0', '--base-model', 'acme/base-7b', '--release-url', url];
    const r = ms(['--json', 'hf', 'export', pkg, '-o', out, ...args]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toMatchObject({ files: ['demo.mseal', 'README.md'], signature: false });
    expect(readdirSync(out).sort()).toEqual(['README.md', 'demo.mseal']);
    expect(readFileSync(join(out, 'demo.mseal')).equals(readFileSync(pkg))).toBe(true);
    const card = parseCard(join(out, 'README.md'));
    expect(card.data).toMatchObject({
      license: 'apache-2.0',
      tags: ['modelseal', 'encrypted', 'export-controlled'],
      base_model: 'acme/base-7b',
      extra_gated_prompt: expect.stringMatching(/export-controlled/),
      extra_gated_fields: expect.objectContaining({ Country: 'country', Organisation: 'text' }),
    });
    const digest = r.json().facts.packageDigest as string;
    expect(card.text).toContain(digest);
    expect(card.text).toContain(`modelseal open demo.mseal -o ./weights --server ${url}`);
    expect(card.text).toMatch(/modelseal license issue/);
  });

  it('a license that is not a Hub id becomes license: other with its name; no base_model unless given', () => {
    const out = join(dir, 'hf-other');
    const r = ms(['hf', 'export', pkg, '-o', out, '--license', 'ACME Export License v2']);
    expect(r.code, r.stderr).toBe(0);
    const { data } = parseCard(join(out, 'README.md'));
    expect(data).toMatchObject({ license: 'other', license_name: 'acme-export-license-v2' });
    expect(data).not.toHaveProperty('base_model');
  });

  it("includes model.sig only when it is this package's signature (exit 7 otherwise, and nothing written)", () => {
    const opened = join(dir, 'opened');
    expect(ms(['open', pkg, '-o', opened]).code).toBe(0);
    const out = join(dir, 'hf-sig');
    const r = ms(['--json', 'hf', 'export', pkg, '-o', out, '--signature', join(opened, 'model.sig')]);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['README.md', 'demo.mseal', 'model.sig']);
    expect(readFileSync(join(out, 'model.sig'), 'utf8')).toBe(readFileSync(join(opened, 'model.sig'), 'utf8'));
    // Another model's signature by the same publisher verifies, but is not this package's: refused.
    const other = join(dir, 'other-ckpt');
    cpSync(resolve('samples/checkpoint'), other, { recursive: true });
    writeFileSync(join(other, 'extra.txt'), 'another model\n');
    expect(ms(['seal', other, '--to', 'local', '-o', join(dir, 'other.mseal')]).code).toBe(0);
    expect(ms(['open', join(dir, 'other.mseal'), '-o', join(dir, 'other-opened')]).code).toBe(0);
    copyFileSync(join(dir, 'other-opened', 'model.sig'), join(dir, 'bad.sig'));
    const bad = ms(['--json', 'hf', 'export', pkg, '-o', join(dir, 'hf-bad'), '--signature', join(dir, 'bad.sig')]);
    expect(bad.code).toBe(7);
    expect(bad.json().error.message).toMatch(/not this package's sha256:/);
    expect(existsSync(join(dir, 'hf-bad'))).toBe(false);
  });

  it('refuses an existing output (exit 10) and leaves no partial folder behind', () => {
    const out = join(dir, 'hf');
    const r = ms(['--json', 'hf', 'export', pkg, '-o', out]);
    expect(r.code).toBe(10);
    expect(readdirSync(dir).filter((n) => n.includes('mseal-partial'))).toEqual([]);
    expect(ms(['hf', 'export', pkg, '-o', out, '--force']).code).toBe(0);
  });

  it('names a package with spaces and Markdown characters literally: quoted in the commands, escaped in the text', () => {
    const odd = join(dir, 'my *model* (v2).mseal');
    copyFileSync(pkg, odd);
    const out = join(dir, 'hf-odd');
    expect(ms(['hf', 'export', odd, '-o', out]).code).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['README.md', 'my *model* (v2).mseal']);
    const { text } = parseCard(join(out, 'README.md'));
    expect(text).toContain("modelseal open 'my *model* (v2).mseal' -o ./weights");
    expect(text).toContain('This repository holds my \\*model\\* (v2).mseal,');
  });
});
