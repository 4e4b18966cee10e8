/**
 * What the monitor keeps of one caller: fixed-size windows of its recent calls (signatures, band
 * keys, template ids, chain-of-thought flags), its output/input token ratios, and the state of the
 * PRADA test (the growing set of "novel" queries and the minimum distances). Memory per caller is
 * bounded by the window sizes, whatever the caller sends.
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

/** A fixed ring of the last `size` signatures (MINHASH_K words each). */
class SignatureRing {
  readonly words: Uint32Array;
  count = 0;
  next = 0;
  constructor(readonly size: number) {
    this.words = new Uint32Array(size * MINHASH_K);
  }
  /** Writes a signature; returns its slot. */
  push(sig: Uint32Array): number {
    const slot = this.next;
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

/** A fixed ring of the last `size` numbers. */
export class NumberRing {
  readonly values: Float64Array;
  count = 0;
  #next = 0;
  constructor(size: number) {
    this.values = new Float64Array(size);
  }
  push(v: number): void {
    this.values[this.#next] = v;
    this.#next = (this.#next + 1) % this.values.length;
    this.count = Math.min(this.count + 1, this.values.length);
  }
  /** The held values (in no particular order). */
  held(): Float64Array {
    return this.values.subarray(0, this.count);
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
  readonly near: Uint8Array;
  readonly template: string[];
  readonly keys: Float64Array;
  readonly cot: Uint8Array;
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
    this.near = new Uint8Array(limits.window);
    this.template = new Array<string>(limits.window).fill('');
    this.keys = new Float64Array(limits.window * BANDS);
    this.cot = new Uint8Array(limits.window);
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
