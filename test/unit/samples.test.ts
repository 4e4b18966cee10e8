import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const SCRIPT = fileURLToPath(new URL('../../samples/make-sample.mjs', import.meta.url));
const COMMITTED = fileURLToPath(new URL('../../samples/checkpoint/', import.meta.url));
const FILES = ['config.json', 'model.safetensors', 'tokenizer.json'];

/** The part of samples/make-sample.mjs these tests use (the script is plain JS). */
interface SampleGenerator {
  float16Bits(x: number): number;
  bfloat16Bits(x: number): number;
  float16ToNumber(bits: number): number;
  bfloat16ToNumber(bits: number): number;
  ln(x: number): number;
  sampleTokenizer(): { model: { vocab: Record<string, number>; merges: string[] } };
  sampleConfig(): { vocab_size: number };
}
const gen = (await import(pathToFileURL(SCRIPT).href)) as SampleGenerator;

const temps: string[] = [];
afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

function generate(): string {
  const dir = mkdtempSync(join(tmpdir(), 'modelseal-sample-'));
  temps.push(dir);
  const out = join(dir, 'checkpoint');
  const r = spawnSync(process.execPath, [SCRIPT, out], { encoding: 'utf8', timeout: 60_000 });
  expect(r.error).toBeUndefined();
  expect(r.status, r.stderr).toBe(0);
  return out;
}

describe('samples/make-sample.mjs', () => {
  it('regenerates the committed samples/checkpoint byte for byte, every time', () => {
    const a = generate();
    const b = generate();
    expect(readdirSync(COMMITTED).sort()).toEqual(FILES);
    expect(readdirSync(a).sort()).toEqual(FILES);
    expect(readdirSync(b).sort()).toEqual(FILES);
    for (const name of FILES) {
      const committed = readFileSync(join(COMMITTED, name));
      // Buffer.equals rather than toEqual: a diff of 1.7 MB is no help, the file name is.
      expect(readFileSync(join(a, name)).equals(committed), `${name} differs from samples/checkpoint/${name}`).toBe(
        true,
      );
      expect(readFileSync(join(b, name)).equals(committed), `${name} differs between two runs`).toBe(true);
    }
  }, 60_000);

  it('writes a checkpoint of 1.5 to 3 MiB, so it spans more than one 1 MiB chunk', () => {
    const size = readFileSync(join(COMMITTED, 'model.safetensors')).length;
    expect(size).toBeGreaterThan(1.5 * 2 ** 20);
    expect(size).toBeLessThan(3 * 2 ** 20);
  });

  it('writes a tokenizer whose vocabulary matches config.vocab_size, ids 0..n-1', () => {
    const tok = JSON.parse(readFileSync(join(COMMITTED, 'tokenizer.json'), 'utf8')) as ReturnType<
      SampleGenerator['sampleTokenizer']
    >;
    const config = JSON.parse(readFileSync(join(COMMITTED, 'config.json'), 'utf8')) as { vocab_size: number };
    const ids = Object.values(tok.model.vocab).sort((x, y) => x - y);
    expect(ids).toEqual([...Array(config.vocab_size).keys()]);
    for (const merge of tok.model.merges) {
      const [l, r] = merge.split(' ') as [string, string];
      expect(tok.model.vocab[l], merge).toBeDefined();
      expect(tok.model.vocab[r], merge).toBeDefined();
      expect(tok.model.vocab[l + r], merge).toBeDefined();
    }
  });

  it('rounds to float16 to nearest, ties to even, with subnormals, overflow and NaN', () => {
    const cases: [number, number][] = [
      [1, 0x3c00],
      [-2, 0xc000],
      [0.1, 0x2e66],
      [65504, 0x7bff],
      [65519.99, 0x7bff],
      [65520, 0x7c00], // the midpoint above the largest finite rounds (to even) to infinity
      [1 + 2 ** -11, 0x3c00], // tie, down to even
      [1 + 3 * 2 ** -11, 0x3c02], // tie, up to even
      [1 + 2 ** -11 + 2 ** -40, 0x3c01], // just above the tie: a double rounding through f32 would miss this
      [2 ** -14, 0x0400],
      [2 ** -14 - 2 ** -25, 0x0400], // largest subnormal + half ulp rounds up to the smallest normal
      [2 ** -24, 0x0001],
      [2 ** -25, 0x0000], // tie between 0 and the smallest subnormal
      [3 * 2 ** -25, 0x0002],
      [-0, 0x8000],
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
      [NaN, 0x7e00],
    ];
    for (const [x, bits] of cases) expect(gen.float16Bits(x).toString(16), String(x)).toBe(bits.toString(16));
    for (let bits = 0; bits < 0x10000; bits++) {
      const v = gen.float16ToNumber(bits);
      if (!Number.isNaN(v)) expect(gen.float16Bits(v)).toBe(bits);
    }
  });

  it('rounds to bfloat16 to nearest, ties to even, directly from the double', () => {
    const cases: [number, number][] = [
      [1, 0x3f80],
      [-2, 0xc000],
      [0.1, 0x3dcd],
      [1 + 2 ** -8, 0x3f80],
      [1 + 3 * 2 ** -8, 0x3f82],
      [1 + 2 ** -8 + 2 ** -40, 0x3f81], // f32 would round this to 1 + 2^-8, then bf16 to 1
      [(2 - 2 ** -7) * 2 ** 127, 0x7f7f],
      [(2 - 2 ** -8) * 2 ** 127, 0x7f80],
      [2 ** -133, 0x0001],
      [2 ** -134, 0x0000],
      [-0, 0x8000],
      [NaN, 0x7fc0],
    ];
    for (const [x, bits] of cases) expect(gen.bfloat16Bits(x).toString(16), String(x)).toBe(bits.toString(16));
    for (let bits = 0; bits < 0x10000; bits++) {
      const v = gen.bfloat16ToNumber(bits);
      if (!Number.isNaN(v)) expect(gen.bfloat16Bits(v)).toBe(bits);
    }
  });

  it('computes ln to within a few ulps of Math.log without using it', () => {
    for (const x of [1e-300, 2 ** -53, 0.001, 0.25, 0.5, 0.7, 0.999999, 1, 1.5, 2, 10, 12345.678]) {
      const want = Math.log(x);
      expect(Math.abs(gen.ln(x) - want)).toBeLessThanOrEqual(4 * Number.EPSILON * Math.max(1, Math.abs(want)));
    }
  });
});
