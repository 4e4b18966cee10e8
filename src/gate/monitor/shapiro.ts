/**
 * The Shapiro–Wilk test of normality, by Royston's approximations: the coefficients and the
 * p-value of P. Royston, "Remark AS R94: A remark on algorithm AS 181: The W-test for normality",
 * Applied Statistics 44(4), 1995, 547–551 (and "Approximating the Shapiro–Wilk W-test for
 * non-normality", Statistics and Computing 2, 1992, 117–119). Valid for 3 ≤ n ≤ 5000.
 */
import { normalQuantile, normalUpperTail } from './normal.js';

/** The result of the test: W in (0, 1], and the p-value of "the sample is normal". */
export interface ShapiroWilk {
  n: number;
  w: number;
  p: number;
}

export const SHAPIRO_MIN_N = 3;
export const SHAPIRO_MAX_N = 5000;

/** Evaluates c[0] + c[1]·x + c[2]·x² + … */
function poly(c: readonly number[], x: number): number {
  let r = 0;
  for (let i = c.length - 1; i >= 0; i--) r = r * x + c[i]!;
  return r;
}

// AS R94's polynomial corrections of the two extreme coefficients (in 1/√n)...
const C1 = [0, 0.221157, -0.147981, -2.07119, 4.434685, -2.706056];
const C2 = [0, 0.042981, -0.293762, -1.752461, 5.682633, -3.582633];
// ...and of the mean and log standard deviation of the normalised W (in n for n ≤ 11, in log n above).
const G = [-2.273, 0.459];
const C3 = [0.544, -0.39978, 0.025054, -6.714e-4];
const C4 = [1.3822, -0.77857, 0.062767, -0.0020322];
const C5 = [-1.5861, -0.31082, -0.083751, 0.0038915];
const C6 = [-0.4803, -0.082676, 0.0030302];

const coefficientCache = new Map<number, Float64Array>();

/** The upper half of the antisymmetric coefficients a (a[i] weighs x(n−i) − x(i+1), i < ⌊n/2⌋). */
export function shapiroCoefficients(n: number): Float64Array {
  const cached = coefficientCache.get(n);
  if (cached) return cached;
  const half = Math.floor(n / 2);
  const a = new Float64Array(half);
  if (n === 3) a[0] = Math.SQRT1_2;
  else {
    // m[i]: the expected normal order statistics (Blom's scores), upper half, largest first.
    const m = Float64Array.from({ length: half }, (_, i) => -normalQuantile((i + 1 - 0.375) / (n + 0.25)));
    let mm = 0;
    for (const x of m) mm += 2 * x * x;
    const u = 1 / Math.sqrt(n);
    const a1 = poly(C1, u) + m[0]! / Math.sqrt(mm);
    let first = 1;
    let phi: number;
    if (n > 5) {
      const a2 = poly(C2, u) + m[1]! / Math.sqrt(mm);
      phi = (mm - 2 * m[0]! ** 2 - 2 * m[1]! ** 2) / (1 - 2 * a1 ** 2 - 2 * a2 ** 2);
      a[1] = a2;
      first = 2;
    } else phi = (mm - 2 * m[0]! ** 2) / (1 - 2 * a1 ** 2);
    a[0] = a1;
    for (let i = first; i < half; i++) a[i] = m[i]! / Math.sqrt(phi);
  }
  // Every sample size up to 512 is kept (the monitor's are at most its PRADA window): at most 0.5 MB.
  if (n <= 512) coefficientCache.set(n, a);
  return a;
}

/** The p-value of W for a sample of n (Royston 1992/1995): small when the sample is far from normal. */
function shapiroP(w: number, n: number): number {
  if (n === 3) return Math.max(0, Math.min(1, (6 / Math.PI) * (Math.asin(Math.sqrt(w)) - Math.asin(Math.sqrt(0.75)))));
  let y = Math.log(1 - w);
  let mean: number;
  let sd: number;
  if (n <= 11) {
    const gamma = poly(G, n);
    if (y >= gamma) return 1e-99;
    y = -Math.log(gamma - y);
    mean = poly(C3, n);
    sd = Math.exp(poly(C4, n));
  } else {
    const ln = Math.log(n);
    mean = poly(C5, ln);
    sd = Math.exp(poly(C6, ln));
  }
  return normalUpperTail((y - mean) / sd);
}

/**
 * The Shapiro–Wilk W statistic and its p-value for a sample (3 to 5000 values, any order).
 * A sample without spread (all values equal) is as normal as it can be: W = 1, p = 1.
 */
export function shapiroWilk(sample: ArrayLike<number>): ShapiroWilk {
  const n = sample.length;
  if (n < SHAPIRO_MIN_N || n > SHAPIRO_MAX_N) throw new RangeError(`shapiroWilk needs 3 to 5000 values, got ${n}`);
  const x = Float64Array.from(sample).sort();
  let mean = 0;
  for (const v of x) mean += v / n;
  let ss = 0;
  for (const v of x) ss += (v - mean) ** 2;
  if (!(ss > 1e-300 * n)) return { n, w: 1, p: 1 };
  const a = shapiroCoefficients(n);
  let b = 0;
  for (let i = 0; i < a.length; i++) b += a[i]! * (x[n - 1 - i]! - x[i]!);
  const w = Math.min(1, (b * b) / ss);
  return { n, w, p: shapiroP(w, n) };
}
