/**
 * Dequantization against the reference: the `gguf` Python package (llama.cpp's gguf-py, pinned in
 * test/peers/requirements.txt). For every type src/formats/quants.ts reads, Python makes blocks —
 * with the reference's own `quants.quantize` where it can quantize that type, and as random bytes
 * otherwise (every field random, so scales, signs and table indexes all vary) — and dequantizes them
 * with `quants.dequantize`; the test requires the same float32 bit patterns. A NaN (a random f16
 * scale can be one) must be NaN on both sides; the test counts them so it cannot pass on NaNs alone.
 * A missing venv fails, never skips.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { canDequantize, dequantizeBlocks, DEQUANTIZABLE, blockShape } from '../../src/formats/quants.js';
import { tempDir } from '../support/fixtures.js';
import { PYTHON, requireGguf } from '../support/gguf.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SEED = 17;
const BLOCKS = 512;

// For each type: <dir>/<TYPE>.<how>.bin (the blocks) and .f32 (the reference's dequantization).
const MAKE = String.raw`
import json, sys
import numpy as np
from gguf import GGMLQuantizationType as T, GGML_QUANT_SIZES
from gguf import quants
req = json.load(sys.stdin)
rng = np.random.default_rng(req["seed"])
out = {}
for name in req["types"]:
    qt = T[name]
    block, size = GGML_QUANT_SIZES[qt]
    made = {}
    raw = rng.integers(0, 256, size=(req["blocks"], size), dtype=np.uint8)
    made["random"] = raw
    try:
        # Weights-like values: gaussian, with a few outliers and some all-zero blocks.
        x = rng.standard_normal((req["blocks"], block)).astype(np.float32) * np.float32(0.02)
        x[::7] *= np.float32(40)
        x[::11] = 0
        made["quantized"] = quants.quantize(x.reshape(-1, block), qt).reshape(req["blocks"], size)
    except NotImplementedError:
        pass
    out[name] = []
    for how, b in made.items():
        ref = quants.dequantize(b.reshape(1, -1), qt).astype(np.float32).reshape(-1)
        b.tofile(f"{req['dir']}/{name}.{how}.bin")
        ref.tofile(f"{req['dir']}/{name}.{how}.f32")
        out[name].append(how)
print(json.dumps(out))
`;

const dir = tempDir('modelseal-gguf-quants-');

describe('dequantization equals gguf.quants.dequantize bit for bit', () => {
  it('on random and reference-quantized blocks of every type src/formats/quants.ts reads', () => {
    requireGguf();
    const r = spawnSync(PYTHON, ['-c', MAKE], {
      input: JSON.stringify({ seed: SEED, blocks: BLOCKS, dir, types: DEQUANTIZABLE }),
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const made = JSON.parse(r.stdout) as Record<string, string[]>;
    const tally: string[] = [];
    let compared = 0;
    for (const name of DEQUANTIZABLE) {
      expect(made[name], `${name}: the reference made no blocks`).toContain('random');
      for (const how of made[name]!) {
        const src = new Uint8Array(readFileSync(join(dir, `${name}.${how}.bin`)));
        const ref = new Float32Array(new Uint8Array(readFileSync(join(dir, `${name}.${how}.f32`))).buffer);
        const { elements } = blockShape(name)!;
        expect(ref.length, `${name} ${how}`).toBe(BLOCKS * elements);
        const mine = new Float32Array(ref.length);
        // Streamed: a few blocks at a time into the same buffer, as a reader does.
        const bytes = blockShape(name)!.bytes;
        for (let b = 0; b < BLOCKS; b += 3) {
          const n = Math.min(3, BLOCKS - b);
          expect(dequantizeBlocks(name, src.subarray(b * bytes, (b + n) * bytes), mine, b * elements)).toBe(
            n * elements,
          );
        }
        const mineBits = new Uint32Array(mine.buffer);
        const refBits = new Uint32Array(ref.buffer);
        let nan = 0;
        const distinct = new Set<number>();
        for (let i = 0; i < ref.length; i++) {
          if (Number.isNaN(ref[i]!)) {
            nan++;
            if (!Number.isNaN(mine[i]!))
              expect.fail(`${name} ${how} (seed ${SEED}) value ${i}: reference NaN, got ${mine[i]}`);
            continue;
          }
          if (mineBits[i] !== refBits[i])
            expect.fail(
              `${name} ${how} (seed ${SEED}) value ${i} (block ${Math.floor(i / elements)}): reference ${ref[i]} ` +
                `(0x${refBits[i]!.toString(16)}), got ${mine[i]} (0x${mineBits[i]!.toString(16)})`,
            );
          distinct.add(refBits[i]!);
        }
        // Not vacuous: mostly finite values, and many different ones.
        expect(nan, `${name} ${how}: NaNs`).toBeLessThan(ref.length / 4);
        expect(distinct.size, `${name} ${how}: distinct values`).toBeGreaterThan(10);
        compared += ref.length - nan;
        tally.push(`${name}:${how}`);
      }
    }
    // Every reference-quantizable type of ours was also checked on the reference's own quantization.
    for (const name of ['Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0', 'TQ1_0', 'TQ2_0', 'MXFP4'])
      expect(tally).toContain(`${name}:quantized`);
    expect(tally.length).toBe(DEQUANTIZABLE.length + 8);
    expect(compared).toBeGreaterThan(DEQUANTIZABLE.length * BLOCKS * 32);
  }, 180_000);

  it('the shipped i-quant grids (src/formats/iq-grids.ts) are what test/peers/gen-iq-grids.py makes from the reference', () => {
    requireGguf();
    const r = spawnSync(PYTHON, [join(ROOT, 'test/peers/gen-iq-grids.py')], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.length).toBeGreaterThan(40_000);
    expect(r.stdout).toBe(readFileSync(join(ROOT, 'src/formats/iq-grids.ts'), 'utf8'));
  });

  it('refuses a type it cannot read, naming it, and data that is not whole blocks', () => {
    expect(canDequantize('Q8_K')).toBe(false);
    expect(() => dequantizeBlocks('Q8_K', new Uint8Array(292), new Float32Array(256))).toThrow(
      /Q8_K cannot be dequantized/,
    );
    expect(() => dequantizeBlocks('Q4_0', new Uint8Array(17), new Float32Array(32))).toThrow(
      /whole blocks of 18 bytes/,
    );
    expect(() => dequantizeBlocks('Q4_0', new Uint8Array(36), new Float32Array(63))).toThrow(/room for 64 values/);
  });
});
