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

/**
 * The bucket of each band of a signature: a 30-bit hash of the band's index and words (a small
 * integer, which a Map looks up fast). Two unrelated bands meet by chance about once in 2³⁰; a
 * shared template needs two bands in common with the same caller, which chance does not give.
 */
export function bandKeys(signature: Uint32Array, out: Uint32Array, at: number): void {
  for (let b = 0; b < BANDS; b++) {
    let h = 0x9e3779b9 ^ b;
    for (let r = 0; r < ROWS; r++) h = mix(h, signature[b * ROWS + r]!);
    out[at + b] = h >>> 2;
  }
}

/** Which callers sent a prompt in each bucket. */
export class Buckets {
  readonly #callers = new Map<number, string[]>();
  readonly #max: number;
  /** Scratch for `others`: the callers met in the buckets of one prompt. */
  readonly #seen: string[] = [];

  constructor(maxBuckets: number) {
    this.#max = maxBuckets;
  }

  /** Records that `caller` sent a prompt with these band keys. */
  add(keys: Uint32Array, at: number, caller: string): void {
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
  others(keys: Uint32Array, at: number, caller: string, minBands: number, into: Set<string>): boolean {
    const seen = this.#seen;
    seen.length = 0;
    let shared = false;
    for (let b = 0; b < BANDS; b++)
      for (const c of this.#callers.get(keys[at + b]!) ?? []) {
        if (c === caller) continue;
        // Counted by repetition: a caller met `minBands` times shares that many bands (≤ 64 names, no map).
        let n = 1;
        for (const s of seen) if (s === c) n++;
        seen.push(c);
        if (n === minBands) {
          into.add(c);
          shared = true;
        }
      }
    return shared;
  }
}
