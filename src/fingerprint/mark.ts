/**
 * Writing the mark: for each candidate position whose original weight is eligible (finite, normal,
 * non-zero, and with room to grow), the recipient's symbol moves the weight's magnitude up (1) or
 * down (0) — one unit in the last place for BF16, a factor 1 ± 2^-8 for F32 and F16, so the mark
 * survives a cast to BF16. Works on any element range of a tensor, in place. Imports no I/O and
 * little else: the seal workers load it (src/package/fingerprint-piece.ts).
 */
import { BLOCK, biasTable, gapTable, type CodeParams } from './params.js';
import { BlockStreams } from './prf.js';
import { bf16Values, DTYPE_BYTES, f16Values, f16Bits, type FloatDtype } from '../formats/floats.js';

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
  /**
   * Σ w² over the candidates (finite ones): with elements / candidates, an unbiased estimate of Σ w² over the tensor.
   */
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
    const v = bf16Values();
    return m >= 0x0080 && m < 0x7f7f ? v[m + 1]! - v[m]! : 0;
  }
  if (dtype === 'F16') {
    const m = bits & 0x7fff;
    const w16 = f16Values()[m]!;
    return m >= 0x0400 && (f16Bits(w16 * UP) & 0x7fff) < 0x7c00 ? w16 * 2 ** -8 : 0;
  }
  const a = Math.abs(w);
  return a >= 2 ** -126 && Math.fround(a * UP) !== Infinity ? a * 2 ** -8 : 0;
}

// The tables below are built on first use: worker threads load this module for every seal, open
// and verify, and most never mark a weight.

/**
 * Per BF16 magnitude pattern m: w² (`square`), and the squared change of one ulp down (`ulpSq` at 2m) and up
 * (at 2m + 1).
 */
let bf16Sq: { square: Float64Array; ulpSq: Float64Array } | undefined;
function bf16SquareTables(): { square: Float64Array; ulpSq: Float64Array } {
  if (!bf16Sq) {
    const v = bf16Values();
    const square = Float64Array.from({ length: 0x7f80 }, (_, m) => v[m]! ** 2);
    const ulpSq = Float64Array.from({ length: 2 * 0x7f80 }, (_, i) => {
      const m = i >> 1;
      if (i & 1) return m < 0x7f7f ? (v[m + 1]! - v[m]!) ** 2 : 0;
      return m > 0 ? (v[m]! - v[m - 1]!) ** 2 : 0;
    });
    bf16Sq = { square, ulpSq };
  }
  return bf16Sq;
}

/**
 * Per F16 magnitude pattern m, the marked magnitude down (at 2m) and up (at 2m + 1): the pattern of
 * F16(|w|·(1 ∓ 2^-8)), or 0 when m is not eligible (encoding is slow, a lookup is not).
 */
let f16Marked: Uint16Array | undefined;
function f16MarkedTable(): Uint16Array {
  const v = f16Values();
  f16Marked ??= Uint16Array.from({ length: 2 * 0x8000 }, (_, i) => {
    const w = v[i >> 1]!;
    return markStep('F16', w, i >> 1) === 0 ? 0 : f16Bits(w * (i & 1 ? UP : DOWN));
  });
  return f16Marked;
}

type Sums = Omit<MarkStats, 'name' | 'elements'>;

/**
 * Marks elements [e0, e1) of a tensor of `elements` elements, held in `bytes` from `offset` on
 * (element e0 first), and adds to `stats` (null: do not count). Σw² is summed over the candidates
 * only — a keyed random sample — and scaled up by `elements / candidates` in the report.
 */
export function markElements(
  plan: TensorPlan,
  params: CodeParams,
  elements: number,
  e0: number,
  e1: number,
  bytes: Uint8Array,
  offset: number,
  stats: MarkStats | null,
): void {
  if (e1 <= e0) return;
  const es = DTYPE_BYTES[plan.dtype];
  if (es === 2 && (bytes.byteOffset + offset) % 2 === 1) {
    // 16-bit types are marked as whole words: an odd offset (rare) is marked in an aligned copy.
    const copy = bytes.slice(offset, offset + 2 * (e1 - e0));
    markElements(plan, params, elements, e0, e1, copy, 0, stats);
    bytes.set(copy, offset);
    return;
  }
  const gaps = gapTable(params.support);
  const biases = biasTable(params.c);
  const words = es === 2 ? new Uint16Array(bytes.buffer, bytes.byteOffset + offset, e1 - e0) : null;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const sums: Sums = { candidates: 0, sumSq: 0, deltaSq: 0, marked: 0 };
  for (let b = Math.floor(e0 / BLOCK); b * BLOCK < e1; b++) {
    const base = b * BLOCK;
    const limit = Math.min(BLOCK, elements - base);
    const s = new BlockStreams(plan.supportKey, plan.codeKey, params, b, limit);
    // The block's positions inside [e0, e1); position p is element base + p, at index base + p - e0 of the range.
    const lo = Math.max(0, e0 - base);
    const hi = Math.min(limit, e1 - base);
    if (words && plan.dtype === 'BF16') markBF16(s, gaps, biases, words, base - e0, lo, hi, sums);
    else markScaled(s, gaps, biases, words, dv, words ? base - e0 : offset + 4 * (base - e0), lo, hi, sums);
  }
  if (stats) {
    stats.elements += e1 - e0;
    stats.candidates += sums.candidates;
    stats.sumSq += sums.sumSq;
    stats.deltaSq += sums.deltaSq;
    stats.marked += sums.marked;
  }
}

// Each walks the block's candidates (a gap from the support stream, then the position) and marks
// those in [lo, hi): the symbol is 1 (up) when the code draw is below the candidate's bias.
// Walking and marking in one pass halved the time. BF16, the common case, has a loop of its own.

function markBF16(
  s: BlockStreams,
  gaps: Uint16Array,
  biases: Uint16Array,
  words: Uint16Array,
  w0: number,
  lo: number,
  hi: number,
  sums: Sums,
): void {
  const { square, ulpSq } = bf16SquareTables();
  let sup = s.support;
  let code = s.code;
  let candidates = 0;
  let sumSq = 0;
  let deltaSq = 0;
  let marked = 0;
  for (let pos = -1, q = 0; ; q++) {
    if (q === sup.length) {
      s.more();
      sup = s.support;
      code = s.code;
      q = 0;
    }
    const x = sup[q]!;
    pos += 1 + gaps[x & 0xff]!;
    if (pos >= hi) break;
    if (pos < lo) continue;
    candidates++;
    const i = w0 + pos;
    const u = words[i]!;
    const m = u & 0x7fff;
    if (m < 0x7f80) sumSq += square[m]!;
    if (m < 0x0080 || m >= 0x7f7f) continue; // markStep('BF16') === 0, inlined
    // Sign-magnitude: ±1 on the pattern is ±1 ulp of the magnitude (eligibility rules out carries).
    // Branch-free, as the symbol is a coin flip a branch would mispredict: d = -1 up, 0 down.
    const d = (code[q]! - biases[x >> 8]!) >> 31;
    words[i] = u - 1 - 2 * d;
    deltaSq += ulpSq[2 * m - d]!;
    marked++;
  }
  sums.candidates += candidates;
  sums.sumSq += sumSq;
  sums.deltaSq += deltaSq;
  sums.marked += marked;
}

/**
 * F16 (position p is `words[o0 + p]`) or, without words, F32 (at byte o0 + 4p of `dv`): w·(1 ± 2^-8), rounded to the
 * type.
 */
function markScaled(
  s: BlockStreams,
  gaps: Uint16Array,
  biases: Uint16Array,
  words: Uint16Array | null,
  dv: DataView,
  o0: number,
  lo: number,
  hi: number,
  sums: Sums,
): void {
  const f16 = words ? f16MarkedTable() : new Uint16Array(0);
  const f16v = words ? f16Values() : new Float64Array(0);
  let sup = s.support;
  let code = s.code;
  for (let pos = -1, q = 0; ; q++) {
    if (q === sup.length) {
      s.more();
      sup = s.support;
      code = s.code;
      q = 0;
    }
    const x = sup[q]!;
    pos += 1 + gaps[x & 0xff]!;
    if (pos >= hi) break;
    if (pos < lo) continue;
    sums.candidates++;
    const up = code[q]! < biases[x >> 8]!;
    let w: number;
    let v: number;
    if (words) {
      const u = words[o0 + pos]!;
      const m = u & 0x7fff;
      w = f16v[m]!;
      if (m < 0x7c00) sums.sumSq += w * w;
      const bits = f16[2 * m + (up ? 1 : 0)]!;
      if (bits === 0) continue;
      words[o0 + pos] = (u & 0x8000) | bits;
      v = f16v[bits]!;
    } else {
      const o = o0 + 4 * pos;
      w = dv.getFloat32(o, true);
      if (Number.isFinite(w)) sums.sumSq += w * w;
      if (markStep('F32', w, 0) === 0) continue;
      v = Math.fround(w * (up ? UP : DOWN));
      dv.setFloat32(o, v, true);
    }
    sums.deltaSq += (v - w) ** 2;
    sums.marked++;
  }
}

/**
 * Marks every tensor byte inside a piece of a file: `buf` holds the file's bytes from `piecePos`.
 * An element cut by the piece's edge is read whole with `readAt` (the original bytes), marked,
 * and only its bytes inside the piece kept; its statistics count in the piece holding its first byte.
 */
export function markPiece(
  plans: readonly TensorPlan[],
  params: CodeParams,
  piecePos: number,
  buf: Uint8Array,
  readAt: (pos: number, length: number) => Uint8Array,
): MarkStats[] {
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
