/**
 * Writing the mark: for each candidate position whose original weight is eligible (finite, normal,
 * non-zero, and with room to grow), the recipient's symbol moves the weight's magnitude up (1) or
 * down (0) — one unit in the last place for BF16, a factor 1 ± 2^-8 for F32 and F16, so the mark
 * survives a cast to BF16. Works on any element range of a tensor, in place. Imports only node
 * built-ins and sibling modules that do too: worker threads load it (src/crypto/bulk.ts).
 */
import { BLOCK, type CodeParams } from './params.js';
import { blockCandidates, blockSymbols, newBlockCandidates } from './prf.js';
import { BF16_VALUE, DTYPE_BYTES, F16_VALUE, f16Bits, type FloatDtype } from './dtypes.js';

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

/** Sums for the report: relative RMS change = √(deltaSq / sumSq). */
export interface MarkStats {
  name: string;
  elements: number;
  /** Σ w² over the tensor's elements (finite ones). */
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
const symbols = new Uint8Array(BLOCK);

/**
 * Marks elements [e0, e1) of a tensor of `elements` elements, held in `bytes` from `offset` on
 * (element e0 first), and adds to `stats` (null: do not count).
 */
export function markElements(plan: TensorPlan, params: CodeParams, elements: number, e0: number, e1: number, bytes: Uint8Array, offset: number, stats: MarkStats | null): void {
  if (e1 <= e0) return;
  const es = DTYPE_BYTES[plan.dtype];
  if (stats) stats.sumSq += sumSquares(plan.dtype, bytes, offset, e1 - e0);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let b = Math.floor(e0 / BLOCK); b * BLOCK < e1; b++) {
    blockCandidates(plan.supportKey, params, b, elements, cand);
    blockSymbols(plan.codeKey, b, cand, symbols);
    for (let j = 0; j < cand.count; j++) {
      const e = cand.pos[j]!;
      if (e < e0) continue;
      if (e >= e1) break;
      const o = offset + (e - e0) * es;
      const up = symbols[j] === 1;
      let delta: number;
      if (plan.dtype === 'F32') {
        const w = dv.getFloat32(o, true);
        if (markStep('F32', w, 0) === 0) continue;
        const v = Math.fround(w * (up ? UP : DOWN));
        dv.setFloat32(o, v, true);
        delta = v - w;
      } else {
        const u = bytes[o]! | (bytes[o + 1]! << 8);
        const table = plan.dtype === 'BF16' ? BF16_VALUE : F16_VALUE;
        if (markStep(plan.dtype, table[u]!, u) === 0) continue;
        // Sign-magnitude: ±1 on the pattern is ±1 ulp of the magnitude (eligibility rules out carries).
        const v = plan.dtype === 'BF16' ? (up ? u + 1 : u - 1) : f16Bits(table[u]! * (up ? UP : DOWN));
        bytes[o] = v & 0xff;
        bytes[o + 1] = v >> 8;
        delta = table[v]! - table[u]!;
      }
      if (stats) {
        stats.deltaSq += delta * delta;
        stats.marked++;
      }
    }
  }
}

const SQ_BF16 = BF16_VALUE.map((v) => (Number.isFinite(v) ? v * v : 0));
const SQ_F16 = F16_VALUE.map((v) => (Number.isFinite(v) ? v * v : 0));

/** Σ w² of `count` elements of `dtype` at `offset` (non-finite ones count 0). */
export function sumSquares(dtype: FloatDtype, bytes: Uint8Array, offset: number, count: number): number {
  let s = 0;
  if (dtype === 'F32') {
    const dv = new DataView(bytes.buffer, bytes.byteOffset + offset, count * 4);
    for (let i = 0; i < count; i++) {
      const w = dv.getFloat32(4 * i, true);
      if (Number.isFinite(w)) s += w * w;
    }
    return s;
  }
  const t = dtype === 'BF16' ? SQ_BF16 : SQ_F16;
  for (let i = 0, o = offset; i < count; i++, o += 2) s += t[bytes[o]! | (bytes[o + 1]! << 8)]!;
  return s;
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
    const stats: MarkStats = { name: plan.name, elements: 0, sumSq: 0, deltaSq: 0, marked: 0 };
    const first = Math.ceil((lo - plan.start) / es);
    const last = Math.floor((hi - plan.start) / es);
    markElements(plan, params, elements, first, last, buf, plan.start + first * es - piecePos, stats);
    stats.elements += Math.max(0, last - first);
    // Elements cut by the piece's edges.
    for (const e of new Set([Math.floor((lo - plan.start) / es), last])) {
      const at = plan.start + e * es;
      if (e >= elements || (at >= piecePos && at + es <= pieceEnd) || at >= pieceEnd || at + es <= piecePos) continue;
      const whole = Uint8Array.from(readAt(at, es));
      const own = at >= piecePos;
      markElements(plan, params, elements, e, e + 1, whole, 0, own ? stats : null);
      if (own) stats.elements++;
      for (let i = 0; i < es; i++) if (at + i >= piecePos && at + i < pieceEnd) buf[at + i - piecePos] = whole[i]!;
    }
    out.push(stats);
  }
  return out;
}
