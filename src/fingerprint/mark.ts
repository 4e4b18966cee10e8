/**
 * Writing the mark: for each candidate position whose original weight is eligible (finite, normal,
 * non-zero, and with room to grow), the recipient's symbol moves the weight's magnitude up (1) or
 * down (0) — one unit in the last place for BF16, a factor 1 ± 2^-8 for F32 and F16, so the mark
 * survives a cast to BF16. Works on any element range of a tensor, in place. Imports only node
 * built-ins and sibling modules that do too: worker threads load it (src/crypto/bulk.ts).
 */
import { BLOCK, type CodeParams } from './params.js';
import { blockCandidates, codeStream, newBlockCandidates } from './prf.js';
import { BF16_VALUE, DTYPE_BYTES, F16_VALUE, f16Bits, type FloatDtype } from '../formats/floats.js';

/** One tensor to mark, with its keys: what a worker needs to mark any byte range of it. */
export interface TensorPlan {
  name: string;
  dtype: FloatDtype;
  /** Absolute byte offsets of the tensor's data in its file. */
  start: number;
  end: number;
  supportKey: Uint8Array;
  codeKey: Uint8Array;
}

/** Sums for the report: relative RMS change ≈ √(deltaSq / (sumSq · elements / candidates)). */
export interface MarkStats {
  name: string;
  elements: number;
  /** Candidate positions seen: a keyed random sample of the elements. */
  candidates: number;
  /** Σ w² over the candidates (finite ones): with elements / candidates, an unbiased estimate of Σ w² over the tensor. */
  sumSq: number;
  /** Σ (w' − w)² over the marked ones. */
  deltaSq: number;
  /** Candidates whose weight was eligible, hence changed. */
  marked: number;
}

export const UP = 1 + 2 ** -8;
export const DOWN = 1 - 2 ** -8;

/**
 * The nominal size of the mark at an original weight — 1 ulp (BF16) or |w|·2^-8 — or 0 when the
 * weight is not eligible. `bits` is the raw pattern for 16-bit types, `w` the value.
 */
export function markStep(dtype: FloatDtype, w: number, bits: number): number {
  if (dtype === 'BF16') {
    const m = bits & 0x7fff;
    return m >= 0x0080 && m < 0x7f7f ? BF16_VALUE[m + 1]! - BF16_VALUE[m]! : 0;
  }
  if (dtype === 'F16') {
    const m = bits & 0x7fff;
    return m >= 0x0400 && (f16Bits(F16_VALUE[m]! * UP) & 0x7fff) < 0x7c00 ? F16_VALUE[m]! * 2 ** -8 : 0;
  }
  const a = Math.abs(w);
  return a >= 2 ** -126 && Math.fround(a * UP) !== Infinity ? a * 2 ** -8 : 0;
}

const cand = newBlockCandidates();
// Per BF16 magnitude pattern: w², and the squared change of one ulp up and down.
const BF16_SQUARE = Float64Array.from({ length: 0x7f80 }, (_, m) => BF16_VALUE[m]! ** 2);
const BF16_ULP_UP = Float64Array.from({ length: 0x7f80 }, (_, m) => (m < 0x7f7f ? (BF16_VALUE[m + 1]! - BF16_VALUE[m]!) ** 2 : 0));
const BF16_ULP_DOWN = Float64Array.from({ length: 0x7f80 }, (_, m) => (m > 0 ? (BF16_VALUE[m]! - BF16_VALUE[m - 1]!) ** 2 : 0));

/**
 * Marks elements [e0, e1) of a tensor of `elements` elements, held in `bytes` from `offset` on
 * (element e0 first), and adds to `stats` (null: do not count). Σw² is summed over the candidates
 * only — a keyed random sample — and scaled up by `elements / candidates` in the report.
 */
export function markElements(plan: TensorPlan, params: CodeParams, elements: number, e0: number, e1: number, bytes: Uint8Array, offset: number, stats: MarkStats | null): void {
  if (e1 <= e0) return;
  const es = DTYPE_BYTES[plan.dtype];
  if (es === 2 && (bytes.byteOffset + offset) % 2 === 1) {
    // 16-bit types are marked as whole words: an odd offset (rare) is marked in an aligned copy.
    const copy = bytes.slice(offset, offset + 2 * (e1 - e0));
    markElements(plan, params, elements, e0, e1, copy, 0, stats);
    bytes.set(copy, offset);
    return;
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const words = es === 2 ? new Uint16Array(bytes.buffer, bytes.byteOffset + offset, e1 - e0) : new Uint16Array(0);
  let sumSq = 0;
  let deltaSq = 0;
  let marked = 0;
  let candidates = 0;
  for (let b = Math.floor(e0 / BLOCK); b * BLOCK < e1; b++) {
    blockCandidates(plan.supportKey, params, b, elements, cand);
    const draws = codeStream(plan.codeKey, b, cand.count);
    // The candidates of this block inside [e0, e1): j in [lo, hi).
    const base = b * BLOCK;
    let lo = 0;
    let hi = cand.count;
    while (lo < hi && base + cand.at[lo]! < e0) lo++;
    while (hi > lo && base + cand.at[hi - 1]! >= e1) hi--;
    candidates += hi - lo;
    const at = cand.at;
    const k = cand.k;
    const w0 = base - e0;
    // One loop per type, so each stays monomorphic.
    if (plan.dtype === 'BF16') {
      for (let j = lo; j < hi; j++) {
        const i = w0 + at[j]!;
        const u = words[i]!;
        const m = u & 0x7fff;
        if (m < 0x7f80) sumSq += BF16_SQUARE[m]!;
        if (m < 0x0080 || m >= 0x7f7f) continue; // markStep('BF16') === 0, inlined
        // Sign-magnitude: ±1 on the pattern is ±1 ulp of the magnitude (eligibility rules out carries).
        const up = draws[j]! < k[j]!;
        words[i] = up ? u + 1 : u - 1;
        deltaSq += up ? BF16_ULP_UP[m]! : BF16_ULP_DOWN[m]!;
        marked++;
      }
    } else if (plan.dtype === 'F16') {
      for (let j = lo; j < hi; j++) {
        const i = w0 + at[j]!;
        const u = words[i]!;
        const w = F16_VALUE[u]!;
        if (Number.isFinite(w)) sumSq += w * w;
        if (markStep('F16', w, u) === 0) continue;
        const v = f16Bits(w * (draws[j]! < k[j]! ? UP : DOWN));
        words[i] = v;
        deltaSq += (F16_VALUE[v]! - w) ** 2;
        marked++;
      }
    } else {
      for (let j = lo; j < hi; j++) {
        const o = offset + 4 * (w0 + at[j]!);
        const w = dv.getFloat32(o, true);
        if (Number.isFinite(w)) sumSq += w * w;
        if (markStep('F32', w, 0) === 0) continue;
        const v = Math.fround(w * (draws[j]! < k[j]! ? UP : DOWN));
        dv.setFloat32(o, v, true);
        deltaSq += (v - w) ** 2;
        marked++;
      }
    }
  }
  if (stats) {
    stats.elements += e1 - e0;
    stats.candidates += candidates;
    stats.sumSq += sumSq;
    stats.deltaSq += deltaSq;
    stats.marked += marked;
  }
}

/**
 * Marks every tensor byte inside a piece of a file: `buf` holds the file's bytes from `piecePos`.
 * An element cut by the piece's edge is read whole with `readAt` (the original bytes), marked,
 * and only its bytes inside the piece kept; its statistics count in the piece holding its first byte.
 */
export function markPiece(plans: readonly TensorPlan[], params: CodeParams, piecePos: number, buf: Uint8Array, readAt: (pos: number, length: number) => Uint8Array): MarkStats[] {
  const out: MarkStats[] = [];
  const pieceEnd = piecePos + buf.length;
  for (const plan of plans) {
    const lo = Math.max(piecePos, plan.start);
    const hi = Math.min(pieceEnd, plan.end);
    if (lo >= hi) continue;
    const es = DTYPE_BYTES[plan.dtype];
    const elements = (plan.end - plan.start) / es;
    const stats: MarkStats = { name: plan.name, elements: 0, candidates: 0, sumSq: 0, deltaSq: 0, marked: 0 };
    const first = Math.ceil((lo - plan.start) / es);
    const last = Math.floor((hi - plan.start) / es);
    markElements(plan, params, elements, first, last, buf, plan.start + first * es - piecePos, stats);
    // Elements cut by the piece's edges.
    for (const e of new Set([Math.floor((lo - plan.start) / es), last])) {
      const at = plan.start + e * es;
      if (e >= elements || (at >= piecePos && at + es <= pieceEnd) || at >= pieceEnd || at + es <= piecePos) continue;
      const whole = Uint8Array.from(readAt(at, es));
      const own = at >= piecePos;
      markElements(plan, params, elements, e, e + 1, whole, 0, own ? stats : null);
      for (let i = 0; i < es; i++) if (at + i >= piecePos && at + i < pieceEnd) buf[at + i - piecePos] = whole[i]!;
    }
    out.push(stats);
  }
  return out;
}
