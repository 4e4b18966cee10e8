/**
 * The Shapiro–Wilk test (src/gate/monitor/shapiro.ts, Royston's AS R94) and the normal quantile it
 * rests on, against SciPy's implementation (test/vectors/shapiro-ref.py) and the 1965 paper's example.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { normalQuantile, normalUpperTail } from '../../src/gate/monitor/normal.js';
import { shapiroWilk } from '../../src/gate/monitor/shapiro.js';

const vectors = JSON.parse(readFileSync(new URL('../vectors/shapiro.json', import.meta.url), 'utf8')) as {
  shapiro: { name: string; x: number[]; w: number; p: number }[];
  ndtri: { p: number; z: number }[];
};

describe('shapiroWilk', () => {
  it.each(vectors.shapiro.map((v) => [v.name, v] as const))('agrees with SciPy on %s', (_, v) => {
    const r = shapiroWilk(v.x);
    expect(r.n).toBe(v.x.length);
    // The same approximations: W to 1e-8, the p-value to 1e-6 relative (our normal tail is good to ~1e-7).
    expect(Math.abs(r.w - v.w)).toBeLessThan(1e-8);
    expect(Math.abs(r.p - v.p)).toBeLessThan(1e-6 * v.p);
  });

  it('gives the W of Shapiro and Wilk (1965) for their weights example (0.79)', () => {
    expect(shapiroWilk([148, 154, 158, 160, 161, 162, 166, 170, 182, 195, 236]).w.toFixed(2)).toBe('0.79');
  });

  it('does not depend on the order, location or scale of the sample', () => {
    const x = vectors.shapiro.find((v) => v.name === 'exponential-200')!.x;
    const w = shapiroWilk(x).w;
    expect(shapiroWilk([...x].reverse()).w).toBeCloseTo(w, 12);
    expect(shapiroWilk(x.map((v) => 3 * v - 7)).w).toBeCloseTo(w, 12);
  });

  it('calls a sample without spread normal, and refuses sizes outside 3..5000', () => {
    expect(shapiroWilk([0.5, 0.5, 0.5, 0.5])).toEqual({ n: 4, w: 1, p: 1 });
    expect(() => shapiroWilk([1, 2])).toThrow(RangeError);
    expect(() => shapiroWilk(new Float64Array(5001))).toThrow(RangeError);
  });
});

describe('the normal distribution', () => {
  it('has the quantiles of SciPy (ndtri)', () => {
    for (const { p, z } of vectors.ndtri)
      expect(Math.abs(normalQuantile(p) - z), String(p)).toBeLessThan(1e-8 * Math.max(1, Math.abs(z)));
    expect(normalQuantile(0)).toBe(-Infinity);
    expect(normalQuantile(1)).toBe(Infinity);
  });

  it('has an upper tail that inverts the quantile', () => {
    for (const p of [1e-9, 1e-5, 0.001, 0.05, 0.3, 0.5, 0.8, 0.999]) {
      const tail = normalUpperTail(normalQuantile(1 - p));
      expect(Math.abs(tail - p) / p, String(p)).toBeLessThan(2e-7);
    }
  });
});
