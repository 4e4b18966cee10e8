/**
 * Quantized leaks, made as a leaker would: a marked copy quantized by the reference `gguf` package
 * (`quants.quantize`, Q4_0 Q4_1 Q5_0 Q5_1 Q8_0), its tensors renamed the llama.cpp way
 * (`blk.N.attn_q.weight`, …), written by the reference GGUFWriter. Each must be traced to its
 * recipient; the original quantized the same way must accuse nobody. A missing venv fails, never skips.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_PARAMS } from '../../src/fingerprint/params.js';
import { gatherEvidence, judge, scoreRecipients } from '../../src/fingerprint/trace.js';
import { GGML_TYPE, GGUF_VALUE_TYPE, writeGguf } from '../../src/formats/gguf.js';
import { dequantizeBlocks } from '../../src/formats/quants.js';
import { makeModel, markedTensors, tensorBytes, writeSafetensors, type Tensor } from '../support/checkpoints.js';
import { quantizeK, type KType } from '../support/kquants.js';
import { tempDir } from '../support/fixtures.js';
import { llamaName, requireGguf, writeQuantizedGguf } from '../support/gguf.js';

const KEY = new Uint8Array(createHash('sha256').update('modelseal interop test: quantized leaks').digest());
const RECIPIENTS = ['recipient-0', 'Ольга Петрова', '李小龙', 'منظمة', '🦊 fox labs'];
const dir = tempDir('modelseal-gguf-trace-');
let original: Tensor[];
let originalPath: string;
const table: { leak: string; type: string; z: string; threshold: string; accused: string }[] = [];

function quantizedLeak(tensors: Tensor[], type: string, label: string): string {
  const out = join(dir, `${label}-${type}.gguf`);
  writeQuantizedGguf(tensors, type, out, dir);
  return out;
}

async function trace(leak: string) {
  const ev = await gatherEvidence({ leaked: leak, original: originalPath, key: KEY, params: DEFAULT_PARAMS });
  return { ev, v: judge(scoreRecipients(ev, KEY, RECIPIENTS), { traces: 1000, epsilon: 1e-9 }) };
}

beforeAll(() => {
  requireGguf();
  // 8 layers of two 1024 × 1024 matrices and a norm: 16.8 million weights. At the robustness suite's
  // 4.2 million, 4-bit leaks score z ≈ 6.6, under τ = 7.65: too small to trace (docs/FINGERPRINT.md).
  original = makeModel(3, 8, 1024, 1024);
  originalPath = join(dir, 'original.safetensors');
  writeSafetensors(originalPath, original);
});
afterAll(() => {
  console.log('quantized GGUF leaks (n = 5 recipients, T = 1000, ε = 1e-9):');
  console.table(table);
});

describe('quantized GGUF leaks made by the reference gguf package', () => {
  const types = ['Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0'];
  types.forEach((type, i) => {
    const guilty = RECIPIENTS[i]!;
    it(`a ${type} leak of ${guilty}'s copy, renamed blk.N.*, is traced to ${guilty}`, async () => {
      const leak = quantizedLeak(markedTensors(original, KEY, guilty), type, `leak${i}`);
      const { ev, v } = await trace(leak);
      expect(ev.unread.tensors).toEqual([]);
      expect(ev.derived).toBe(true);
      expect(ev.aligned).toHaveLength(16);
      const z = v.scores.find((s) => s.recipient === guilty)!.z;
      table.push({
        leak: guilty,
        type,
        z: z.toFixed(1),
        threshold: v.threshold.toFixed(2),
        accused: v.accused.map((a) => a.recipient).join(', ') || '-',
      });
      expect(v.accused.map((a) => a.recipient)).toEqual([guilty]);
    }, 120_000);
  });

  // K-quant mixes as llama.cpp's file types use them (Q4_K_M, Q5_K_M: most tensors at 4 or 5 bits,
  // some at Q6_K), quantized by test/support/kquants.ts (the reference cannot quantize K-quants).
  const mixes: [string, (layer: number, part: string) => KType][] = [
    ['Q4_K_M', (l, part) => (part === 'mlp.weight' && l % 2 === 0 ? 'Q6_K' : 'Q4_K')],
    ['Q5_K_M', (l, part) => (part === 'mlp.weight' && l % 2 === 0 ? 'Q6_K' : 'Q5_K')],
    ['Q6_K', () => 'Q6_K'],
  ];
  mixes.forEach(([label, typeOf], i) => {
    const guilty = RECIPIENTS[i]!;
    it(`a ${label} leak of ${guilty}'s copy, renamed blk.N.*, is traced to ${guilty}`, async () => {
      const leak = join(dir, `leak-${label}.gguf`);
      await writeGguf(
        leak,
        new Map([['general.architecture', { type: GGUF_VALUE_TYPE.STRING, value: 'llama' }]]),
        markedTensors(original, KEY, guilty).map((t) => {
          const ne = [...t.shape].reverse();
          if (t.shape.length < 2) return { name: llamaName(t.name), ggmlType: GGML_TYPE.F32, ne, data: tensorBytes(t) };
          const [, layer, part] = /^model\.layers\.(\d+)\.(.+)$/.exec(t.name)!;
          const type = typeOf(Number(layer), part!);
          return { name: llamaName(t.name), ggmlType: GGML_TYPE[type], ne, data: quantizeK(type, t.values) };
        }),
      );
      const { ev, v } = await trace(leak);
      expect(ev.unread.tensors).toEqual([]);
      expect(ev.aligned).toHaveLength(16);
      const z = v.scores.find((s) => s.recipient === guilty)!.z;
      table.push({
        leak: guilty,
        type: label,
        z: z.toFixed(1),
        threshold: v.threshold.toFixed(2),
        accused: v.accused.map((a) => a.recipient).join(', ') || '-',
      });
      expect(v.accused.map((a) => a.recipient)).toEqual([guilty]);
    }, 120_000);
  });

  it('the test K-quantizer is a real quantizer: relative RMS error within what its bits allow', () => {
    const x = original[0]!.values.subarray(0, 256 * 64);
    for (const [type, bound] of [
      ['Q4_K', 0.12],
      ['Q5_K', 0.06],
      ['Q6_K', 0.03],
    ] as const) {
      const y = new Float32Array(x.length);
      dequantizeBlocks(type, quantizeK(type, x), y);
      let e = 0;
      let n = 0;
      for (let i = 0; i < x.length; i++) {
        e += (y[i]! - x[i]!) ** 2;
        n += x[i]! ** 2;
      }
      expect(Math.sqrt(e / n), type).toBeLessThan(bound);
      expect(Math.sqrt(e / n), type).toBeGreaterThan(bound / 20);
    }
  });

  it('the original quantized to Q4_0 and Q8_0 is derived but accuses nobody', async () => {
    for (const type of ['Q4_0', 'Q8_0']) {
      const { ev, v } = await trace(quantizedLeak(original, type, 'original'));
      expect(ev.derived).toBe(true);
      expect(ev.aligned).toHaveLength(16);
      table.push({
        leak: 'original',
        type,
        z: Math.max(...v.scores.map((s) => s.z)).toFixed(2),
        threshold: v.threshold.toFixed(2),
        accused: '-',
      });
      expect(v.accused).toEqual([]);
    }
  }, 120_000);
});
