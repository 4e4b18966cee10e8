/**
 * Locality-sensitive hashing over prompt signatures, to find the same template across callers:
 * 8 bands of 4 hashes; two prompts share a band's bucket with probability 1 − (1 − J⁴)⁸ (0.40 at
 * Jaccard 0.5, 0.89 at 0.7, 0.99 at 0.8). Bounded: at most `maxBuckets` buckets (the oldest go
 * first) and `CALLERS_PER_BUCKET` callers per bucket.
 */
import { MINHASH_K } from './features.js';

export const BANDS = 8;
const ROWS = MINHASH_K / BANDS;
const CALLERS_PER_BUCKET = 8;

function mix(h: number, w: number): number {
  h = Math.imul(h ^ w, 0x85ebca6b);
  return Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
}

/** The bucket of each band of a signature (53-bit keys: two 32-bit hashes of the band's words and index). */
export function bandKeys(signature: Uint32Array, out: Float64Array, at: number): void {
  for (let b = 0; b < BANDS; b++) {
    let h1 = 0x9e3779b9 ^ b;
    let h2 = 0x7f4a7c15 ^ (b << 8);
    for (let r = 0; r < ROWS; r++) {
      const w = signature[b * ROWS + r]!;
      h1 = mix(h1, w);
      h2 = mix(h2, w ^ 0x5bd1e995);
    }
    out[at + b] = (h1 & 0x1fffff) * 0x100000000 + h2;
  }
}

/** Which callers sent a prompt in each bucket. */
export class Buckets {
  readonly #callers = new Map<number, string[]>();
  readonly #max: number;

  constructor(maxBuckets: number) {
    this.#max = maxBuckets;
  }

  /** Records that `caller` sent a prompt with these band keys. */
  add(keys: Float64Array, at: number, caller: string): void {
    for (let b = 0; b < BANDS; b++) {
      const key = keys[at + b]!;
      const callers = this.#callers.get(key);
      if (!callers) this.#callers.set(key, [caller]);
      else if (!callers.includes(caller) && callers.length < CALLERS_PER_BUCKET) callers.push(caller);
    }
    if (this.#callers.size > this.#max) {
      let drop = this.#callers.size - Math.floor(this.#max * 0.9);
      for (const key of this.#callers.keys()) {
        if (drop-- <= 0) break;
        this.#callers.delete(key);
      }
    }
  }

  /**
   * The other callers that sent a prompt sharing at least `minBands` buckets with these keys (into
   * `into`); whether there was one. Two bands of eight: estimated Jaccard similarity ≳ 0.6.
   */
  others(keys: Float64Array, at: number, caller: string, minBands: number, into: Set<string>): boolean {
    const bands = new Map<string, number>();
    for (let b = 0; b < BANDS; b++)
      for (const c of this.#callers.get(keys[at + b]!) ?? []) if (c !== caller) bands.set(c, (bands.get(c) ?? 0) + 1);
    let shared = false;
    for (const [c, n] of bands)
      if (n >= minBands) {
        into.add(c);
        shared = true;
      }
    return shared;
  }
}
