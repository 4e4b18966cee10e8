/**
 * `trace`: who leaked this copy? Aligns the leaked tensors to the original (by name, else by shape
 * — also transposed — and cosine similarity on a sample), undoes a cast by re-casting the original
 * the same way, and measures at every candidate position how far the leak moved the weight in the
 * direction of the mark: d_i. Each recipient's score is the symmetric Tardos correlation
 * Σ d_i z_ji normalised by √(Σ d_i² v_i), where v_i bounds the sub-Gaussian variance proxy of the
 * centred symbol z_ji: for an innocent recipient, whose symbols are independent of the leak, it is
 * 1-sub-Gaussian whatever the attacker did, so z ≥ τ = √(2 ln(nT/ε)) has probability ≤ ε/(nT).
 * docs/FINGERPRINT.md.
 */
import { ModelsealError } from '../errors.js';
import { toHex } from '../format/encoding.js';
import { collectInputs } from '../package/inputs.js';
import { computeRootDigest, hashFile } from '../provenance/oms.js';
import type { SignedRecord } from './registry.js';
import { bf16Values, bf16Bits, f16Values, f16Bits, type FloatDtype } from '../formats/floats.js';
import { markStep } from './mark.js';
import { BLOCK, scoreTables, threshold, type CodeParams } from './params.js';
import { blockCandidates, codeKey, codeStream, newBlockCandidates, supportKey } from './prf.js';
import { isMarkable, isReadable, readCheckpoint, readRange, readTensorValues, type WeightFile, type WeightTensor } from './model.js';

/** How the leak's values were re-cast, as far as the original can be cast the same way. */
export type Recast = 'none' | 'bf16' | 'bf16-trunc' | 'f16' | 'f16-trunc' | 'f16>bf16' | 'f16>bf16-trunc';

export interface AlignedTensor {
  leaked: string;
  original: string;
  how: 'name' | 'shape' | 'transposed';
  cosine: number;
  recast: Recast;
  /** Candidate positions with an eligible original weight where the leak was measured. */
  positions: number;
}

/** What the leak says at the candidate positions; the same for every recipient scored. */
export interface TraceEvidence {
  params: CodeParams;
  aligned: AlignedTensor[];
  /** Leaked float tensors that matched nothing in the original. */
  unmatched: string[];
  /** False when no leaked tensor matches the original: the leak is not derived from it. */
  derived: boolean;
  /** Leaked tensors of two or more dimensions whose type trace cannot read (not compared), and those types. */
  unread: { tensors: string[]; types: string[] };
  positions: number;
  /** Σ d_i² v_i: the squared normaliser. */
  norm2: number;
  /** Per original tensor: the blocks and, for each used candidate, its index in its block, bias and d. */
  tensors: { name: string; blocks: Int32Array; blockEnds: Int32Array; j: Uint16Array; k: Uint16Array; d: Float32Array }[];
}

const SAMPLE = 4096;
const MIN_COSINE = 0.5;

function samplePositions(n: number): number[] {
  const m = Math.min(n, SAMPLE);
  return Array.from({ length: m }, (_, i) => Math.floor(((i + 0.5) * n) / m));
}

/** Index into the leak of original position i when the leak holds the transpose of an [r, c] original. */
function transposedIndex(shape: number[], i: number): number {
  const r = shape[0]!;
  const c = shape[1]!;
  const row = Math.floor(i / c);
  const col = i % c;
  return col * r + row;
}

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    ab += x * y;
    aa += x * x;
    bb += y * y;
  }
  return aa > 0 && bb > 0 ? ab / Math.sqrt(aa * bb) : 0;
}

const RECASTS: Record<FloatDtype, Recast[]> = {
  F32: ['none', 'bf16', 'bf16-trunc', 'f16', 'f16-trunc', 'f16>bf16', 'f16>bf16-trunc'],
  F16: ['none', 'bf16', 'bf16-trunc'],
  BF16: ['none'],
};

function recastValue(w: number, how: Recast): number {
  switch (how) {
    case 'none':
      return w;
    case 'bf16':
      return bf16Values()[bf16Bits(w)]!;
    case 'bf16-trunc':
      return bf16Values()[bf16Bits(w, 'trunc')]!;
    case 'f16':
      return f16Values()[f16Bits(w)]!;
    case 'f16-trunc':
      return f16Values()[f16Bits(w, 'trunc')]!;
    case 'f16>bf16':
      return bf16Values()[bf16Bits(f16Values()[f16Bits(w)]!)]!;
    case 'f16>bf16-trunc':
      return bf16Values()[bf16Bits(f16Values()[f16Bits(w)]!, 'trunc')]!;
  }
}

interface OriginalTensor {
  file: WeightFile;
  t: WeightTensor;
  /** Its values at samplePositions(), read when the tensor is first compared. */
  sample?: Float32Array;
  used: boolean;
}

/** Values and raw 16-bit patterns of a tensor's bytes. */
function readerOf(dtype: FloatDtype, raw: Uint8Array): { valueAt: (i: number) => number; bitsAt: (i: number) => number } {
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  if (dtype === 'F32') return { valueAt: (i) => dv.getFloat32(4 * i, true), bitsAt: () => 0 };
  const table = dtype === 'BF16' ? bf16Values() : f16Values();
  return { valueAt: (i) => table[dv.getUint16(2 * i, true)]!, bitsAt: (i) => dv.getUint16(2 * i, true) };
}

/**
 * Reads the leak and the original and measures the leak at every candidate position. Memory: one
 * original and one leaked tensor at a time, plus 10 bytes per measured position.
 */
export async function gatherEvidence(opts: { leaked: string; original: string; key: Uint8Array; params: CodeParams; onProgress?: (p: { done: number; total: number }) => void }): Promise<TraceEvidence> {
  const original = await readCheckpoint(opts.original);
  const leak = await readCheckpoint(opts.leaked);
  const originals: OriginalTensor[] = original.weights.flatMap((file) => file.tensors.filter(isMarkable).map((t) => ({ file, t, used: false })));
  // Originals are read only when compared; the last one read is kept, since it is usually the one measured next.
  let last: { o: OriginalTensor; raw: Uint8Array } | undefined;
  const rawOf = (o: OriginalTensor) => {
    if (last?.o !== o) last = { o, raw: readRange(o.file.source, o.t.start, o.t.end) };
    return last.raw;
  };
  const sampleOf = (o: OriginalTensor) => {
    if (!o.sample) {
      const { valueAt } = readerOf(o.t.dtype as FloatDtype, rawOf(o));
      o.sample = Float32Array.from(samplePositions(o.t.elements), valueAt);
    }
    return o.sample;
  };
  const leakedTensors = leak.weights.flatMap((file) => file.tensors.filter((t) => isReadable(t) && t.shape.length >= 2).map((t) => ({ file, t })));
  const unread = leak.weights.flatMap((file) => file.tensors.filter((t) => !isReadable(t) && t.shape.length >= 2));
  const evidence: TraceEvidence = {
    params: opts.params, aligned: [], unmatched: [], derived: false, positions: 0, norm2: 0, tensors: [],
    unread: { tensors: unread.map((t) => t.name), types: [...new Set(unread.map((t) => t.dtype))].sort() },
  };
  const { proxy } = scoreTables();
  let done = 0;
  for (const { file, t } of leakedTensors) {
    const values = readTensorValues(file, t)!;
    opts.onProgress?.({ done: ++done, total: leakedTensors.length });
    // Alignment: the same name first, then every original of the same shape, as is or transposed.
    let best: { o: OriginalTensor; how: AlignedTensor['how']; cosine: number } | undefined;
    const consider = (o: OriginalTensor, how: AlignedTensor['how']) => {
      const idx = samplePositions(o.t.elements);
      const leakSample = idx.map((i) => values[how === 'transposed' ? transposedIndex(o.t.shape, i) : i]!);
      const c = cosine(leakSample, sampleOf(o));
      if (!best || c > best.cosine) best = { o, how, cosine: c };
    };
    const same = originals.find((o) => o.t.name === t.name && o.t.elements === t.elements && !o.used);
    if (same) consider(same, 'name');
    if (!best || best.cosine < MIN_COSINE) {
      for (const o of originals) {
        if (o.used || o.t.elements !== t.elements) continue;
        if (sameShape(o.t.shape, t.shape)) consider(o, 'shape');
        if (o.t.shape.length === 2 && sameShape([o.t.shape[1]!, o.t.shape[0]!], t.shape)) consider(o, 'transposed');
      }
    }
    if (!best || best.cosine < MIN_COSINE) {
      evidence.unmatched.push(t.name);
      continue;
    }
    const { o, how, cosine: cos } = best;
    o.used = true;
    const leakAt = how === 'transposed' ? (i: number) => values[transposedIndex(o.t.shape, i)]! : (i: number) => values[i]!;
    const measured = measure(o, rawOf(o), leakAt, opts.key, opts.params);
    evidence.aligned.push({ leaked: t.name, original: o.t.name, how, cosine: cos, recast: measured.recast, positions: measured.d.length });
    evidence.tensors.push({ name: o.t.name, blocks: measured.blocks, blockEnds: measured.blockEnds, j: measured.j, k: measured.k, d: measured.d });
    evidence.positions += measured.d.length;
    for (let i = 0; i < measured.d.length; i++) evidence.norm2 += measured.d[i]! ** 2 * proxy[measured.k[i]!]!;
  }
  evidence.derived = evidence.aligned.length > 0;
  return evidence;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function measure(o: OriginalTensor, raw: Uint8Array, leakAt: (i: number) => number, key: Uint8Array, params: CodeParams) {
  const dtype = o.t.dtype as FloatDtype;
  const { valueAt, bitsAt } = readerOf(dtype, raw);

  // The cast that best explains the leak: least squared difference on a sample.
  let recast: Recast = 'none';
  let bestErr = Infinity;
  const idx = samplePositions(o.t.elements);
  for (const r of RECASTS[dtype]) {
    let err = 0;
    for (const i of idx) {
      const l = leakAt(i);
      if (Number.isFinite(l)) err += (l - recastValue(valueAt(i), r)) ** 2;
    }
    if (err < bestErr) {
      bestErr = err;
      recast = r;
    }
  }

  const blocks: number[] = [];
  const blockEnds: number[] = [];
  const js: number[] = [];
  const ks: number[] = [];
  const moves: number[] = [];
  let stepSum = 0;
  const cand = newBlockCandidates();
  const sk = supportKey(key, o.t.name);
  for (let b = 0; b * BLOCK < o.t.elements; b++) {
    blockCandidates(sk, params, b, o.t.elements, cand);
    const before = js.length;
    for (let j = 0; j < cand.count; j++) {
      const i = b * BLOCK + cand.at[j]!;
      const w = valueAt(i);
      const step = markStep(dtype, w, bitsAt(i));
      if (step === 0) continue;
      const l = leakAt(i);
      // A weight pruned to zero or made non-finite says nothing about the mark: an erasure.
      if (!Number.isFinite(l) || l === 0) continue;
      js.push(j);
      ks.push(cand.k[j]!);
      moves.push(Math.sign(w) * (l - recastValue(w, recast)));
      stepSum += step;
    }
    if (js.length > before) {
      blocks.push(b);
      blockEnds.push(js.length);
    }
  }
  // d in units of the mean mark size, clipped so that a few wild values cannot drown the rest.
  const scale = js.length ? stepSum / js.length : 1;
  let ss = 0;
  for (const e of moves) ss += (e / scale) ** 2;
  const clip = Math.max(3, 3 * Math.sqrt(ss / Math.max(1, moves.length)));
  const d = Float32Array.from(moves, (e) => Math.max(-clip, Math.min(clip, e / scale)));
  return { recast, blocks: Int32Array.from(blocks), blockEnds: Int32Array.from(blockEnds), j: Uint16Array.from(js), k: Uint16Array.from(ks), d };
}

export interface RecipientScore {
  recipient: string;
  z: number;
}

/** Scores recipients against the evidence: z = Σ d_i z_ji / √(Σ d_i² v_i). */
export function scoreRecipients(ev: TraceEvidence, key: Uint8Array, recipients: readonly string[]): RecipientScore[] {
  const { a1, a0 } = scoreTables();
  const norm = Math.sqrt(ev.norm2);
  return recipients.map((recipient) => {
    let s = 0;
    for (const t of ev.tensors) {
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
    return { recipient, z: norm > 0 ? s / norm : 0 };
  });
}

export interface Accusation {
  recipient: string;
  z: number;
  threshold: number;
  /** Upper bound on the probability that anyone innocent, of n recipients over T traces, scores this high: nT·exp(−z²/2). */
  bound: number;
  /** log10 of that bound, which stays readable where the bound underflows to 0. */
  log10Bound: number;
}

export interface TraceVerdict {
  n: number;
  traces: number;
  epsilon: number;
  threshold: number;
  scores: RecipientScore[];
  accused: Accusation[];
}

export function judge(scores: RecipientScore[], opts: { traces: number; epsilon: number }): TraceVerdict {
  const n = scores.length;
  const tau = threshold(n, opts.traces, opts.epsilon);
  const sorted = [...scores].sort((a, b) => b.z - a.z);
  return {
    n,
    traces: opts.traces,
    epsilon: opts.epsilon,
    threshold: tau,
    scores: sorted,
    accused: sorted
      .filter((s) => s.z >= tau)
      .map((s) => {
        const log10Bound = Math.min(0, Math.log10(Math.max(1, n) * opts.traces) - (s.z * s.z) / (2 * Math.LN10));
        return { recipient: s.recipient, z: s.z, threshold: tau, bound: 10 ** log10Bound, log10Bound };
      }),
  };
}

export interface TraceOptions {
  leaked: string;
  original: string;
  key: { id: string; key: Uint8Array };
  /** The registry's records (already checked against the trusted publishers). */
  registry: readonly SignedRecord[];
  /** Target probability of accusing anyone innocent (default 1e-9). */
  epsilon?: number;
  /** Traces the bound covers (default 1000): the auditor's budget of traces under this key. */
  traces?: number;
  onProgress?: (p: { done: number; total: number }) => void;
}

export interface TraceReport extends TraceVerdict {
  /** Root digest of --original, and whether registry records name it as their original. */
  original: string;
  originalInRegistry: boolean;
  derived: boolean;
  /** Leaked tensors not compared because trace cannot read their type, and those types. */
  unread: TraceEvidence['unread'];
  params: CodeParams;
  positions: number;
  aligned: AlignedTensor[];
  unmatched: string[];
  /** Each accused recipient's registry records: which copies carried their fingerprint. */
  accused: (Accusation & { records: SignedRecord[] })[];
}

export const DEFAULT_EPSILON = 1e-9;
export const DEFAULT_TRACES = 1000;

/** Traces a leak to recipients of the registry (docs/FINGERPRINT.md §Tracing). */
export async function traceLeak(opts: TraceOptions): Promise<TraceReport> {
  const epsilon = opts.epsilon ?? DEFAULT_EPSILON;
  const traces = opts.traces ?? DEFAULT_TRACES;
  if (!(epsilon > 0 && epsilon < 1)) throw new ModelsealError('INVALID_ARGUMENT', `epsilon ${epsilon}: expected a probability between 0 and 1`);
  if (!(Number.isSafeInteger(traces) && traces >= 1)) throw new ModelsealError('INVALID_ARGUMENT', `traces ${traces}: expected a whole number ≥ 1`);
  const mine = opts.registry.filter((r) => r.keyId === opts.key.id);
  if (mine.length === 0) throw new ModelsealError('INVALID_ARGUMENT', `the fingerprint registry holds no embedding made with this key (${opts.key.id}); give the registry and key store the copies were marked with`);
  const original = `sha256:${toHex(await rootDigestOf(opts.original))}`;
  const matching = mine.filter((r) => r.original === original);
  const records = matching.length ? matching : mine;
  const params = records[0]!.params;
  if (records.some((r) => r.params.support !== params.support || r.params.c !== params.c)) {
    throw new ModelsealError('INVALID_ARGUMENT', 'the registry records for this original use different code parameters; trace with a registry of one code');
  }
  const ev = await gatherEvidence({ leaked: opts.leaked, original: opts.original, key: opts.key.key, params, ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) });
  const recipients = [...new Set(records.map((r) => r.recipient))];
  const verdict = judge(scoreRecipients(ev, opts.key.key, recipients), { traces, epsilon });
  return {
    ...verdict,
    original,
    originalInRegistry: matching.length > 0,
    derived: ev.derived,
    unread: ev.unread,
    params,
    positions: ev.positions,
    aligned: ev.aligned,
    unmatched: ev.unmatched,
    accused: verdict.accused.map((a) => ({ ...a, records: records.filter((r) => r.recipient === a.recipient) })),
  };
}

/** The root digest a package would give this checkpoint (every file hashed). */
async function rootDigestOf(input: string): Promise<Uint8Array> {
  const { files } = await collectInputs(input);
  const entries = [];
  for (const f of files) entries.push({ path: f.path, size: f.size, sha256: await hashFile(f.source) });
  return computeRootDigest(entries);
}
