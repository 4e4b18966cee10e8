/**
 * Scoring a leak's evidence (src/fingerprint/evidence.ts): each recipient's symmetric Tardos
 * correlation, the accusation threshold with its bound, and the early looks (docs/FINGERPRINT.md
 * §Tracing, §Reading less).
 */
import { scoreTables, threshold } from './params.js';
import { codeKey, codeStream } from './prf.js';
import type { EvidenceSlice, TraceEvidence } from './evidence.js';

export interface RecipientScore {
  recipient: string;
  z: number;
}

/** Adds each recipient's Σ d_i z_ji over the slices to `sums` (same order as `recipients`). */
export function addScores(
  slices: readonly EvidenceSlice[],
  key: Uint8Array,
  recipients: readonly string[],
  sums: Float64Array,
): void {
  const { a1, a0 } = scoreTables();
  recipients.forEach((recipient, r) => {
    let s = 0;
    for (const t of slices) {
      const ck = codeKey(key, recipient, t.name);
      let from = 0;
      for (let bi = 0; bi < t.blocks.length; bi++) {
        const to = t.blockEnds[bi]!;
        const ks = codeStream(ck, t.blocks[bi]!, t.j[to - 1]! + 1);
        for (let i = from; i < to; i++) {
          const j = t.j[i]!;
          const k = t.k[i]!;
          s += (ks[j]! < k ? a1[k]! : a0[k]!) * t.d[i]!;
        }
        from = to;
      }
    }
    sums[r] = sums[r]! + s;
  });
}

/** Scores recipients against the evidence: z = Σ d_i z_ji / √(Σ d_i² v_i). */
export function scoreRecipients(ev: TraceEvidence, key: Uint8Array, recipients: readonly string[]): RecipientScore[] {
  const sums = new Float64Array(recipients.length);
  addScores(ev.tensors, key, recipients, sums);
  return zScores(recipients, sums, ev.norm2);
}

/** z = Σ d_i z_ji / √(Σ d_i² v_i) per recipient, from the sums and the squared normaliser. */
export function zScores(recipients: readonly string[], sums: Float64Array, norm2: number): RecipientScore[] {
  const norm = Math.sqrt(norm2);
  return recipients.map((recipient, r) => ({ recipient, z: norm > 0 ? sums[r]! / norm : 0 }));
}

export interface Accusation {
  recipient: string;
  z: number;
  threshold: number;
  /**
   * Upper bound on the probability that anyone innocent, of n recipients over T traces, scores this high:
   * nT·exp(−z²/2).
   */
  bound: number;
  /** log10 of that bound, which stays readable where the bound underflows to 0. */
  log10Bound: number;
}

export interface TraceVerdict {
  n: number;
  traces: number;
  epsilon: number;
  /** K: the looks the bound covers (1 + the early looks the leak's size allows, fixed before reading). */
  looks: number;
  threshold: number;
  scores: RecipientScore[];
  accused: Accusation[];
}

/** Accuses at z ≥ τ = √(2 ln(n·T·K/ε)), K the looks planned (docs/FINGERPRINT.md §Reading less). */
export function judge(
  scores: RecipientScore[],
  opts: { traces: number; epsilon: number; looks?: number },
): TraceVerdict {
  const n = scores.length;
  const looks = opts.looks ?? 1;
  const tau = threshold(n, opts.traces * looks, opts.epsilon);
  const sorted = [...scores].sort((a, b) => b.z - a.z);
  return {
    n,
    traces: opts.traces,
    epsilon: opts.epsilon,
    looks,
    threshold: tau,
    scores: sorted,
    accused: sorted
      .filter((s) => s.z >= tau)
      .map((s) => {
        const log10Bound = Math.min(
          0,
          Math.log10(Math.max(1, n) * opts.traces * looks) - (s.z * s.z) / (2 * Math.LN10),
        );
        return { recipient: s.recipient, z: s.z, threshold: tau, bound: 10 ** log10Bound, log10Bound };
      }),
  };
}

/** Bytes of the leak's tensors read before the first early look; the next look each time that doubles. */
export const FIRST_LOOK = 32 * 2 ** 20;

/**
 * The early looks for a leak whose readable tensors hold `bytesTotal` bytes: after first·2^m bytes,
 * for every m with first·2^m < bytesTotal. The final look, at the end, comes on top: K = length + 1.
 * Fixed by the leak's header alone, before any score is seen.
 */
export function lookSchedule(bytesTotal: number, first = FIRST_LOOK): number[] {
  const out: number[] = [];
  for (let at = first; at < bytesTotal; at *= 2) out.push(at);
  return out;
}

/**
 * Whether an early look decides: someone is accused and every other recipient scores below τ/2.
 * Anyone in between (a colluder whose share is still coming in) and nobody accused both read on.
 */
export function decides(v: TraceVerdict): boolean {
  if (v.accused.length === 0) return false;
  return v.scores.every((s) => s.z >= v.threshold || s.z < v.threshold / 2);
}
