/**
 * The fingerprint code's parameters and the tables derived from them (docs/FINGERPRINT.md).
 *
 * A symmetric Tardos code (Škorić, Katzenbeisser, Celik 2008): every marked position i has a bias
 * p_i drawn from the arcsine density on [t, 1 − t] with cutoff t = 1/(300c); recipient j's symbol
 * is x_ji = 1 with probability p_i. Biases are quantised to k_i / 65536 and symbols drawn as
 * `u16 < k_i`, so x_ji ~ Bernoulli(k_i / 65536) exactly — the false-accusation bound relies on it.
 */
import { ModelsealError } from '../errors.js';

/** Elements per keystream block: the unit of random access into a tensor's support set. */
export const BLOCK = 65536;

/** The code parameters recorded with every embedding. */
export interface CodeParams {
  /** Fraction of the positions of a tensor chosen as candidates for the mark (default 0.1). */
  support: number;
  /** Coalition size the code is built for: it sets the Tardos cutoff t = 1/(300c). */
  c: number;
}

export const DEFAULT_PARAMS: CodeParams = Object.freeze({ support: 0.1, c: 8 });
export const SCHEME = 'modelseal-tardos-symmetric/v1';

/** Throws INVALID_ARGUMENT unless the parameters are usable. */
export function checkParams(p: CodeParams): void {
  if (!(p.support >= 0.001 && p.support <= 0.5))
    throw new ModelsealError('INVALID_ARGUMENT', `support fraction ${p.support}: expected 0.001 to 0.5`);
  if (!(Number.isInteger(p.c) && p.c >= 1 && p.c <= 64))
    throw new ModelsealError('INVALID_ARGUMENT', `coalition size ${p.c}: expected an integer from 1 to 64`);
}

// Both tables are indexed by one keystream byte: 256 entries stay in L1 on the marking hot path.
const gapTables = new Map<number, Uint16Array>();
/**
 * G[u] for a uniform byte u: the number of positions skipped before the next candidate, a geometric
 * variable with success probability `support` (inverse CDF at the byte's midpoint), so candidates
 * are `support` of all positions (0.1002 for 0.1).
 */
export function gapTable(support: number): Uint16Array {
  let t = gapTables.get(support);
  if (!t) {
    t = new Uint16Array(256);
    const l = Math.log1p(-support);
    for (let u = 0; u < 256; u++) t[u] = Math.floor(Math.log1p(-(u + 0.5) / 256) / l);
    gapTables.set(support, t);
  }
  return t;
}

const biasTables = new Map<number, Uint16Array>();
/**
 * K[u] for a uniform byte u: the quantised bias k = round(65536 · sin²r), r the u-th of 256 midpoints of
 * [asin √t, π/2 − asin √t].
 */
export function biasTable(c: number): Uint16Array {
  let t = biasTables.get(c);
  if (!t) {
    t = new Uint16Array(256);
    const r0 = Math.asin(Math.sqrt(1 / (300 * c)));
    for (let u = 0; u < 256; u++) {
      const r = r0 + ((u + 0.5) / 256) * (Math.PI / 2 - 2 * r0);
      t[u] = Math.min(65535, Math.max(1, Math.round(65536 * Math.sin(r) ** 2)));
    }
    biasTables.set(c, t);
  }
  return t;
}

export interface ScoreTables {
  a1: Float64Array;
  a0: Float64Array;
  proxy: Float64Array;
}
let scores: ScoreTables | undefined;
/**
 * Per quantised bias k (p = k/65536): a1 = √((1−p)/p) and a0 = −√(p/(1−p)), the centred, unit-variance
 * symbol z = (x − p)/√(p(1−p)) for x = 1 and x = 0; and proxy = σ²(p)/(p(1−p)), where
 * σ²(p) = (1 − 2p)/(2 ln((1 − p)/p)) is the optimal sub-Gaussian variance proxy of a centred
 * Bernoulli(p) (Kearns & Saul 1998; 1/4 at p = 1/2). With it, Σ d_i z_i / √(Σ d_i² proxy_i) is
 * 1-sub-Gaussian for an innocent recipient, whatever the d_i are, which is what the threshold needs.
 */
export function scoreTables(): ScoreTables {
  if (!scores) {
    const a1 = new Float64Array(65536);
    const a0 = new Float64Array(65536);
    const proxy = new Float64Array(65536);
    for (let k = 1; k < 65536; k++) {
      const p = k / 65536;
      a1[k] = Math.sqrt((1 - p) / p);
      a0[k] = -Math.sqrt(p / (1 - p));
      const s2 = k === 32768 ? 0.25 : (1 - 2 * p) / (2 * Math.log((1 - p) / p));
      proxy[k] = s2 / (p * (1 - p));
    }
    scores = { a1, a0, proxy };
  }
  return scores;
}

/**
 * The accusation threshold τ = √(2 ln(n·T/ε)): an innocent recipient's score is 1-sub-Gaussian, so
 * P(z ≥ τ) ≤ exp(−τ²/2) = ε/(nT), and by the union bound the chance of accusing any innocent one of
 * n recipients in any of T traces is at most ε.
 */
export function threshold(n: number, traces: number, epsilon: number): number {
  return Math.sqrt(2 * Math.log((Math.max(1, n) * Math.max(1, traces)) / epsilon));
}
