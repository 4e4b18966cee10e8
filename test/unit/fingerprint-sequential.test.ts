/**
 * The sequential test of trace, on simulated scores: an innocent recipient's score is looked at K
 * times while the evidence comes in, and the chance that any look reaches τ = √(2 ln(n·T·K/ε))
 * must stay ≤ ε (docs/FINGERPRINT.md §Reading less). The first case also shows the looks matter:
 * the one-look threshold, looked at as often, accuses innocents more often than ε.
 */
import { describe, expect, it } from 'vitest';
import { judge, lookSchedule, decides, FIRST_LOOK } from '../../src/fingerprint/trace.js';
import { biasTable, scoreTables, threshold } from '../../src/fingerprint/params.js';
import { rng } from '../support/checkpoints.js';

/**
 * Simulates `trials` leaks: per trial, fresh weights d (heavy-tailed, independent of the symbols) and
 * innocents' symbols Bernoulli(p).
 */
function simulate(o: {
  seed: number;
  trials: number;
  innocents: number;
  looks: number[];
  bias: () => number;
  tau: number;
}) {
  const r = rng(o.seed);
  const { a1, a0, proxy } = scoreTables();
  const total = o.looks.at(-1)!;
  let crossed = 0;
  let looked = 0;
  for (let t = 0; t < o.trials; t++) {
    const sums = new Float64Array(o.innocents);
    let norm2 = 0;
    let any = false;
    for (let i = 0, next = 0; i < total; i++) {
      const k = o.bias();
      // |Gaussian|³ + 0.1: most weights small, a few large — as after noise or a coalition.
      const d = Math.abs(r.gauss()) ** 3 + 0.1;
      norm2 += d * d * proxy[k]!;
      for (let j = 0; j < o.innocents; j++) sums[j] = sums[j]! + (r.uniform() * 65536 < k ? a1[k]! : a0[k]!) * d;
      if (i + 1 === o.looks[next]) {
        next++;
        looked++;
        for (let j = 0; j < o.innocents; j++) if (sums[j]! / Math.sqrt(norm2) >= o.tau) any = true;
      }
    }
    if (any) crossed++;
  }
  expect(looked).toBe(o.trials * o.looks.length);
  return crossed / o.trials;
}

describe('trace: the sequential bound on simulated scores', () => {
  it('p = 1/2, 256 looks: τ with K = 256 keeps the rate ≤ ε; the one-look τ, looked at 256 times, does not', () => {
    const looks = Array.from({ length: 256 }, (_, i) => 16 * (i + 1));
    const epsilon = 0.5;
    const sequential = judge([{ recipient: 'x', z: 0 }], { traces: 1, epsilon, looks: looks.length }).threshold;
    const naive = judge([{ recipient: 'x', z: 0 }], { traces: 1, epsilon }).threshold;
    expect(sequential).toBeCloseTo(Math.sqrt(2 * Math.log(256 / 0.5)), 12);
    const base = { trials: 4000, innocents: 1, looks, bias: () => 32768 };
    const seqRate = simulate({ ...base, seed: 1, tau: sequential });
    const naiveRate = simulate({ ...base, seed: 1, tau: naive });
    console.log(
      `256 looks, ε = 0.5: rate ${seqRate} with τ = ${sequential.toFixed(2)}, ` +
        `${naiveRate} with the one-look τ = ${naive.toFixed(2)}`,
    );
    expect(seqRate).toBeLessThanOrEqual(epsilon);
    expect(naiveRate).toBeGreaterThan(epsilon);
  });

  it('arcsine biases (c = 8), 10 innocents, the doubling schedule of a 1 GiB leak: rate ≤ ε at every look', () => {
    // Positions stand for bytes at 1/65536 scale: the looks of a 1 GiB leak, then the final one.
    const scale = 65536;
    const looks = [...lookSchedule(2 ** 30), 2 ** 30].map((b) => b / scale);
    expect(looks).toHaveLength(6);
    const epsilon = 0.05;
    const tau = threshold(10, looks.length, epsilon);
    const r = rng(7);
    const biases = biasTable(8);
    const rate = simulate({
      seed: 2,
      trials: 1000,
      innocents: 10,
      looks,
      bias: () => biases[Math.floor(r.uniform() * 256)]!,
      tau,
    });
    console.log(`10 innocents, K = ${looks.length}, ε = ${epsilon}: rate ${rate} (τ = ${tau.toFixed(2)})`);
    expect(rate).toBeLessThanOrEqual(epsilon);
  });

  it('the schedule is fixed by the size alone: none for ≤ 32 MiB (K = 1, τ as before), one more look per doubling', () => {
    expect(lookSchedule(FIRST_LOOK)).toEqual([]);
    expect(lookSchedule(16 * 2 ** 20)).toEqual([]);
    expect(lookSchedule(FIRST_LOOK + 1)).toEqual([FIRST_LOOK]);
    expect(lookSchedule(140e9)).toHaveLength(13);
    expect(judge([{ recipient: 'a', z: 9 }], { traces: 1000, epsilon: 1e-9 }).threshold).toBeCloseTo(
      threshold(1, 1000, 1e-9),
      12,
    );
  });

  it('a look decides only when someone is accused and nobody else is above τ/2', () => {
    const v = (zs: number[]) =>
      judge(
        zs.map((z, i) => ({ recipient: `r${i}`, z })),
        { traces: 1000, epsilon: 1e-9, looks: 6 },
      );
    const tau = v([0]).threshold;
    expect(decides(v([tau + 1, 0.3, -0.2]))).toBe(true);
    expect(decides(v([tau + 1, tau + 0.5, 0.3]))).toBe(true);
    expect(decides(v([tau + 1, tau * 0.6, 0.3]))).toBe(false); // a colluder still coming in
    expect(decides(v([tau * 0.9, 0.3]))).toBe(false); // nobody accused yet
    expect(decides(v([0.4, 0.3]))).toBe(false); // nobody accused: read everything
  });
});
