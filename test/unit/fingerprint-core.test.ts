import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { bf16Values, bf16Bits, decodeFloats, encodeFloats, f16Values, f16Bits } from '../../src/formats/floats.js';
import { BLOCK, DEFAULT_PARAMS, biasTable, gapTable, scoreTables, threshold } from '../../src/fingerprint/params.js';
import { blockCandidates, blockSymbols, codeKey, newBlockCandidates, supportKey } from '../../src/fingerprint/prf.js';
import { markElements, markPiece, type TensorPlan } from '../../src/fingerprint/mark.js';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

describe('16-bit float encoding', () => {
  it('matches the bit tricks for F32 → BF16 on random patterns, both roundings', () => {
    for (let i = 0; i < 20000; i++) {
      u32[0] = randomBytes(4).readUInt32LE();
      const x = f32[0]!;
      if (Number.isNaN(x)) continue;
      const b = u32[0];
      const rne = (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
      expect(bf16Bits(x)).toBe(rne);
      expect(bf16Bits(x, 'trunc')).toBe(b >>> 16);
    }
  });
  it('encodes every F16 and BF16 value to its own pattern', () => {
    for (let u = 0; u < 65536; u++) {
      if (!Number.isNaN(f16Values()[u])) expect(f16Bits(f16Values()[u]!)).toBe(u);
      if (!Number.isNaN(bf16Values()[u])) expect(bf16Bits(bf16Values()[u]!)).toBe(u);
    }
  });
  it('rounds F16 ties to even, overflows to infinity, and keeps subnormals', () => {
    expect(f16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie → even
    expect(f16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(f16Bits(65520)).toBe(0x7c00);
    expect(f16Bits(65519)).toBe(0x7bff);
    expect(f16Bits(70000, 'trunc')).toBe(0x7bff);
    expect(f16Bits(2 ** -24)).toBe(0x0001);
    expect(f16Bits(-0)).toBe(0x8000);
    expect(decodeFloats('F16', encodeFloats('F16', [0.5, -2]), 0, 2)).toEqual(new Float32Array([0.5, -2]));
  });
});

describe('code tables and the threshold', () => {
  it('draws candidates at the support fraction and biases inside the cutoff', () => {
    const g = gapTable(0.1);
    expect(g).toHaveLength(256);
    const mean = g.reduce((a, x) => a + x, 0) / 256;
    expect(1 / (1 + mean)).toBeCloseTo(0.1, 2);
    const k = biasTable(8);
    expect(Math.min(...k)).toBeGreaterThanOrEqual(Math.floor(65536 / 2400));
    expect(Math.max(...k)).toBeLessThanOrEqual(65536 - Math.floor(65536 / 2400));
  });
  it('gives centred unit-variance symbols and proxies ≥ 1', () => {
    const { a1, a0, proxy } = scoreTables();
    for (const k of [30, 1000, 32768, 60000]) {
      const p = k / 65536;
      expect(p * a1[k]! + (1 - p) * a0[k]!).toBeCloseTo(0, 12);
      expect(p * a1[k]! ** 2 + (1 - p) * a0[k]! ** 2).toBeCloseTo(1, 12);
      expect(proxy[k]).toBeGreaterThanOrEqual(1 - 1e-12);
    }
    expect(threshold(100, 1000, 1e-9)).toBeCloseTo(Math.sqrt(2 * Math.log(1e14)), 12);
  });
});

describe('support and symbols', () => {
  const K = randomBytes(32);
  it('are a function of the key, the tensor name and the flat index', () => {
    const a = blockCandidates(supportKey(K, 't'), DEFAULT_PARAMS, 3, 10 * BLOCK, newBlockCandidates());
    const b = blockCandidates(supportKey(K, 't'), DEFAULT_PARAMS, 3, 10 * BLOCK, newBlockCandidates());
    const c = blockCandidates(supportKey(K, 'u'), DEFAULT_PARAMS, 3, 10 * BLOCK, newBlockCandidates());
    expect(a.count).toBeGreaterThan(0.09 * BLOCK);
    expect(a.count).toBeLessThan(0.11 * BLOCK);
    expect(a.at.subarray(0, a.count)).toEqual(b.at.subarray(0, b.count));
    expect(a.at.subarray(0, 50)).not.toEqual(c.at.subarray(0, 50));
    const s = blockSymbols(codeKey(K, 'alice', 't'), 3, a, new Uint8Array(BLOCK));
    let ones = 0;
    let expected = 0;
    for (let j = 0; j < a.count; j++) {
      ones += s[j]!;
      expected += a.k[j]! / 65536;
    }
    expect(Math.abs(ones - expected)).toBeLessThan(5 * Math.sqrt(a.count));
  });
});

describe('marking', () => {
  const K = randomBytes(32);
  const n = 3 * BLOCK + 123;
  const values = Float32Array.from({ length: n }, (_, i) => (i % 97 === 0 ? 0 : Math.sin(i) * 0.02));
  for (const dtype of ['F32', 'F16', 'BF16'] as const) {
    it(`${dtype}: piece by piece, at any cut, equals marking the tensor whole`, () => {
      const plan: TensorPlan = {
        name: 'w',
        dtype,
        start: 5,
        end: 5 + encodeFloats(dtype, values).length,
        supportKey: supportKey(K, 'w'),
        codeKey: codeKey(K, 'r', 'w'),
      };
      const file = new Uint8Array(plan.end + 7);
      file.set(encodeFloats(dtype, values), 5);
      const whole = file.slice();
      const stats = { name: 'w', elements: 0, candidates: 0, sumSq: 0, deltaSq: 0, marked: 0 };
      markElements(plan, DEFAULT_PARAMS, n, 0, n, whole, 5, stats);
      expect(stats.marked).toBeGreaterThan(0.08 * n);
      expect(stats.elements).toBe(n);
      const rel = Math.sqrt((stats.deltaSq * stats.candidates) / (stats.sumSq * stats.elements));
      expect(rel).toBeGreaterThan(5e-4);
      expect(rel).toBeLessThan(2 ** -7);
      const pieces = file.slice();
      let marked = 0;
      for (let at = 0; at < file.length;) {
        const len = 1 + Math.floor(Math.random() * 60000);
        const buf = file.slice(at, at + len);
        for (const s of markPiece([plan], DEFAULT_PARAMS, at, buf, (p, l) => file.subarray(p, p + l)))
          marked += s.marked;
        pieces.set(buf, at);
        at += buf.length;
      }
      expect(Buffer.from(pieces).equals(Buffer.from(whole))).toBe(true);
      expect(marked).toBe(stats.marked);
      // Zeros stay zero; nothing else outside the candidates moved.
      const after = decodeFloats(dtype, whole, 5, n);
      const before = decodeFloats(dtype, file, 5, n);
      for (let i = 0; i < n; i += 97) expect(after[i]).toBe(0);
      let changed = 0;
      for (let i = 0; i < n; i++) if (after[i] !== before[i]) changed++;
      expect(changed).toBe(stats.marked);
    });
  }
});
