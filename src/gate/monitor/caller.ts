/**
 * What the monitor keeps of one caller: fixed-size windows of its recent calls (signatures, band
 * keys, template ids, chain-of-thought flags), its output/input token ratios, and the state of the
 * PRADA test (the growing set of "novel" queries and the minimum distances). Memory per caller is
 * bounded by the window sizes, whatever the caller sends (≈ 45 KB at the default windows), and
 * grows with the calls up to them: a caller with a few calls costs a few KB.
 */
import { createHash } from 'node:crypto';
import { MINHASH_K } from './features.js';
import { BANDS, bandKeys } from './lsh.js';

/** The window sizes and the near-duplicate similarity (MonitorOptions in monitor.ts). */
export interface CallerLimits {
  window: number;
  prada: number;
  near: number;
}

type Growable = Uint8Array | Uint32Array | Float64Array;

/** `a`, or a copy of it at least `needed` long (doubling, at most `max`) when it is shorter. */
export function grownTo<T extends Growable>(a: T, needed: number, max: number): T {
  if (a.length >= needed) return a;
  const b = new (a.constructor as new (n: number) => T)(Math.min(max, Math.max(needed, 2 * a.length)));
  b.set(a);
  return b;
}

/** The first allocation of a window, in entries: it grows to the window's size with use. */
const FIRST = 8;

/** A ring of the last `size` signatures (MINHASH_K words each). */
class SignatureRing {
  words = new Uint32Array(FIRST * MINHASH_K);
  count = 0;
  next = 0;
  constructor(readonly size: number) {}
  /** Writes a signature; returns its slot. */
  push(sig: Uint32Array): number {
    const slot = this.next;
    this.words = grownTo(this.words, (slot + 1) * MINHASH_K, this.size * MINHASH_K);
    this.words.set(sig, slot * MINHASH_K);
    this.next = (slot + 1) % this.size;
    this.count = Math.min(this.count + 1, this.size);
    return slot;
  }
  /** The slot of the held signature most similar to `sig`, and that similarity (-1 when empty). */
  nearest(sig: Uint32Array): { slot: number; similarity: number } {
    let best = -1;
    let slot = -1;
    const words = this.words;
    for (let s = 0; s < this.count; s++) {
      let same = 0;
      for (let i = 0, at = s * MINHASH_K; i < MINHASH_K; i++, at++) if (words[at] === sig[i]) same++;
      if (same > best) [best, slot] = [same, s];
    }
    return { slot, similarity: best < 0 ? -1 : best / MINHASH_K };
  }
}

/** A ring of the last `size` numbers. */
export class NumberRing {
  #values = new Float64Array(FIRST);
  count = 0;
  #next = 0;
  constructor(readonly size: number) {}
  push(v: number): void {
    this.#values = grownTo(this.#values, this.#next + 1, this.size);
    this.#values[this.#next] = v;
    this.#next = (this.#next + 1) % this.size;
    this.count = Math.min(this.count + 1, this.size);
  }
  /** The held values (in no particular order). */
  held(): Float64Array {
    return this.#values.subarray(0, this.count);
  }
}

/** The state of one caller. */
export class CallerState {
  /** All admit entries seen, and those with a prompt signature. */
  calls = 0;
  signed = 0;
  application = '';
  readonly recent: SignatureRing;
  /** Per slot of `recent`: near an earlier call, its template id, the band keys, asks for reasoning. */
  near = new Uint8Array(FIRST);
  readonly template: string[] = [];
  keys = new Uint32Array(FIRST * BANDS);
  cot = new Uint8Array(FIRST);
  /** PRADA: the growing set G, the minimum distances D, and the threshold T. */
  readonly grown: SignatureRing;
  readonly distances: NumberRing;
  threshold = 0;
  readonly ratios: NumberRing;
  settled = 0;
  completionTokens = 0;
  promptTokens = 0;

  constructor(readonly limits: CallerLimits) {
    this.recent = new SignatureRing(limits.window);
    this.grown = new SignatureRing(limits.window);
    this.distances = new NumberRing(limits.prada);
    this.ratios = new NumberRing(limits.window);
  }

  /** Takes one prompt signature; returns the slot it went to (for its band keys). */
  observePrompt(sig: Uint32Array, cot: boolean): number {
    this.signed++;
    const { slot: nearSlot, similarity } = this.recent.nearest(sig);
    const near = similarity >= this.limits.near;
    const template = near ? this.template[nearSlot]! : templateId(sig);
    this.observePrada(sig);
    const slot = this.recent.push(sig);
    const w = this.limits.window;
    this.near = grownTo(this.near, slot + 1, w);
    this.cot = grownTo(this.cot, slot + 1, w);
    this.keys = grownTo(this.keys, (slot + 1) * BANDS, w * BANDS);
    this.near[slot] = near ? 1 : 0;
    this.template[slot] = template;
    this.cot[slot] = cot ? 1 : 0;
    bandKeys(sig, this.keys, slot * BANDS);
    return slot;
  }

  /**
   * PRADA (Juuti et al., arXiv 1805.02628, algorithm 1): the query's distance to the nearest query
   * of the growing set joins D; a query farther than T joins the set, and T becomes max(T, mean(D) − sd(D)).
   */
  observePrada(sig: Uint32Array): void {
    if (this.grown.count === 0) {
      this.grown.push(sig);
      return;
    }
    const d = 1 - this.grown.nearest(sig).similarity;
    this.distances.push(d);
    if (d > this.threshold) {
      this.grown.push(sig);
      const held = this.distances.held();
      let mean = 0;
      for (const v of held) mean += v / held.length;
      let sq = 0;
      for (const v of held) sq += (v - mean) ** 2;
      this.threshold = Math.max(this.threshold, mean - Math.sqrt(sq / held.length));
    }
  }

  /** Takes how a call ended: its tokens. */
  observeSettle(prompt: number, completion: number, completed: boolean): void {
    this.settled++;
    this.promptTokens += prompt;
    this.completionTokens += completion;
    if (completed && prompt > 0) this.ratios.push(completion / prompt);
  }
}

/** A template's id: a short digest of the signature of its first call (never the prompt). */
function templateId(sig: Uint32Array): string {
  return 'tpl-' + createHash('sha256').update(sig).digest('hex').slice(0, 12);
}
