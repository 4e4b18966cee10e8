/**
 * `modelseal classify` through the built CLI: the issue's --json shape (facts at the top level),
 * the human summary, the datasheet file, usage errors, and bad checkpoints as one JSON error
 * object on stdout with the documented exit code and never a stack trace.
 */
import { copyFileSync, mkdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../support/cli.js';
import { tempDir } from '../support/fixtures.js';
import { decoderTensors, requirePythonPeers, TINY_LLAMA, writeHfFolder } from '../support/classify.js';

const dir = tempDir('modelseal-cli-classify-');
const ms = cli(join(dir, 'keys'), dir);
const SAMPLE = resolve('samples/checkpoint');

function expectJsonError(args: string[], code: string, exitCode: number, message: RegExp): void {
  const r = ms(['--json', 'classify', ...args]);
  expect(r.code).toBe(exitCode);
  expect(r.stdout.trim().split('\n')).toHaveLength(1);
  expect(r.json()).toEqual({
    ok: false,
    error: expect.objectContaining({ code, exitCode, message: expect.stringMatching(message) }),
  });
  expect(r.stderr).not.toMatch(/\n\s+at /);
  const human = ms(['classify', ...args]);
  expect(human.code).toBe(exitCode);
  expect(human.stdout).toBe('');
  expect(human.stderr).toMatch(new RegExp(`^modelseal: error ${code}: `));
  expect(human.stderr).not.toMatch(/\n\s+at /);
}

beforeAll(() => requirePythonPeers());

describe('modelseal classify', () => {
  it('--json: one object in the issue shape, facts at the top level', () => {
    const r = ms(['--json', 'classify', SAMPLE, '--training-flops', '2e26', '--closed-weights', '--destination', 'cn']);
    expect(r.code).toBe(0);
    const out = r.json();
    expect(out).toMatchObject({
      ok: true,
      command: 'classify',
      parameters: 876_864,
      tensors: 21,
      dtypes: { BF16: 819_200, F16: 24_576, F32: 33_088 },
      format: 'safetensors',
      architecture: { model_type: 'llama', hidden_size: 64, num_hidden_layers: 2 },
      configParameters: 876_864,
      configMismatch: null,
      trainingCompute: { flops: '200000000000000000000000000', method: 'declared', tokens: null },
      weights: 'closed',
      destination: 'CN',
      determinations: expect.any(Array),
      rulePacks: expect.any(Array),
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
    });
    expect(r.stderr).toBe('');
  });

  it('the human summary, and a config mismatch warned on stderr (and in --json)', () => {
    const r = ms(['classify', SAMPLE, '--tokens', '1e12', '--open-weights']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('parameters  876,864 in 21 tensors');
    expect(r.stdout).toContain('dtypes      F32 33,088, BF16 819,200, F16 24,576');
    expect(r.stdout).toContain('config      llama LlamaForCausalLM; implies 876,864 parameters');
    expect(r.stdout).toContain(`compute     ${6n * 876_864n * 10n ** 12n} operations (6ND)`);
    expect(r.stdout).toContain('weights     open');
    const odd = join(dir, 'odd');
    writeHfFolder(odd, { ...TINY_LLAMA, vocab_size: 101 }, decoderTensors(TINY_LLAMA));
    const w = ms(['classify', odd]);
    expect(w.code).toBe(0);
    expect(w.stderr).toMatch(
      /modelseal: warning: config\.json implies 25056 parameters but the weights hold 24992 \(-64\)/,
    );
    const j = ms(['--json', 'classify', odd]).json();
    expect(j.configMismatch).toMatchObject({ configParameters: 25056, parameters: 24992, difference: -64 });
  });

  it('--datasheet writes the Markdown file, and will not replace one without --force', () => {
    const sheet = join(dir, 'sheet.md');
    const r = ms(['--json', 'classify', SAMPLE, '--tokens', '1e12', '--datasheet', sheet]);
    expect(r.code).toBe(0);
    expect(r.json().datasheet).toBe(sheet);
    const md = readFileSync(sheet, 'utf8');
    expect(md).toContain('- Parameters: 876,864 (876864)');
    expect(md).toContain('(15 CFR 762.6)');
    expectJsonError([SAMPLE, '--datasheet', sheet], 'OUTPUT_EXISTS', 10, /already exists/);
    expect(ms(['classify', SAMPLE, '--datasheet', sheet, '--force', '--closed-weights']).code).toBe(0);
    expect(readFileSync(sheet, 'utf8')).toContain('- Weights: closed');
  });

  it('usage errors: both compute options, both weight flags, a bad destination or number', () => {
    expectJsonError(
      [SAMPLE, '--tokens', '1', '--training-flops', '2'],
      'INVALID_ARGUMENT',
      2,
      /either --training-flops/,
    );
    const both = ms(['--json', 'classify', SAMPLE, '--open-weights', '--closed-weights']);
    expect(both.code).toBe(2);
    expect(both.json().error.message).toMatch(/cannot be used with/);
    expectJsonError([SAMPLE, '--destination', 'China'], 'INVALID_ARGUMENT', 2, /ISO 3166 alpha-2/);
    expectJsonError([SAMPLE, '--tokens', 'lots'], 'INVALID_ARGUMENT', 2, /--tokens: expected a positive whole number/);
  });

  it('bad checkpoints: CHECKPOINT_INVALID (exit 20), a package without a record UNCLASSIFIED_PACKAGE (22)', () => {
    const t = join(dir, 'cut.safetensors');
    copyFileSync(join(SAMPLE, 'model.safetensors'), t);
    truncateSync(t, 4);
    expectJsonError([t], 'CHECKPOINT_INVALID', 20, /cut\.safetensors is not a readable safetensors file/);
    const g = join(dir, 'bad.gguf');
    writeFileSync(g, 'NOTGGUF'.repeat(10));
    expectJsonError([g], 'CHECKPOINT_INVALID', 20, /not a readable GGUF file/);
    mkdirSync(join(dir, 'nothing'));
    expectJsonError([join(dir, 'nothing')], 'CHECKPOINT_INVALID', 20, /holds no weights/);
    const sharded = join(dir, 'sharded');
    const { files } = writeHfFolder(sharded, TINY_LLAMA, decoderTensors(TINY_LLAMA), 2);
    rmSync(join(sharded, files[0]!));
    expectJsonError(
      [sharded],
      'CHECKPOINT_INVALID',
      20,
      new RegExp(`names 1 shard\\(s\\) that are not in .*${files[0]}`),
    );
    expectJsonError([join(dir, 'absent')], 'IO', 3, /absent/);

    expect(ms(['init']).code).toBe(0);
    const pkg = join(dir, 'sample.mseal');
    expect(ms(['seal', SAMPLE, '--to', 'local', '--no-classify', '-o', pkg]).code).toBe(0);
    expectJsonError(
      [pkg],
      'UNCLASSIFIED_PACKAGE',
      22,
      /sealed without a classification record: classify the checkpoint/,
    );
  });
});
