/**
 * `trace`: who leaked this copy? Aligns the leaked tensors to the original (by name, else by shape
 * — also transposed — and cosine similarity on a sample), undoes a cast by re-casting the original
 * the same way, and measures at every candidate position how far the leak moved the weight in the
 * direction of the mark: d_i. Each recipient's score is the symmetric Tardos correlation
 * Σ d_i z_ji normalised by √(Σ d_i² v_i), where v_i bounds the sub-Gaussian variance proxy of the
 * centred symbol z_ji: for an innocent recipient, whose symbols are independent of the leak, it is
 * 1-sub-Gaussian whatever the attacker did, so z ≥ τ = √(2 ln(nTK/ε)) has probability ≤ ε/(nTK)
 * at each of the K looks that the leak's size allows. The leak is read slice by slice and scored as
 * it comes; reading stops at the first look that decides. docs/FINGERPRINT.md §Reading less.
 */
import { ModelsealError } from '../errors.js';
import { toHex } from '../format/encoding.js';
import { collectInputs } from '../formats/checkpoint.js';
import { computeRootDigest } from '../provenance/oms.js';
import { ioError } from '../io/atomic.js';
import { Worker } from 'node:worker_threads';
import type { SignedRecord } from './registry.js';
import { bf16Values, bf16Bits, DTYPE_BYTES, f16Values, f16Bits, type FloatDtype } from '../formats/floats.js';
import { markStep } from './mark.js';
import { BLOCK, scoreTables, threshold, type CodeParams } from './params.js';
import { blockCandidates, codeKey, codeStream, newBlockCandidates, supportKey } from './prf.js';
import {
  isMarkable,
  isReadable,
  readCheckpoint,
  readRange,
  tensorReader,
  type TensorReader,
  type WeightFile,
  type WeightTensor,
} from './model.js';

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
  tensors: EvidenceSlice[];
}

const SAMPLE = 4096;
const MIN_COSINE = 0.5;

function samplePositions(n: number): number[] {
  const m = Math.min(n, SAMPLE);
  return Array.from({ length: m }, (_, i) => Math.floor(((i + 0.5) * n) / m));
}

/** Index into the leak of original position i when the leak holds the transpose of an [r, c] original. */
/**
 * The leak's values for elements [e0, e1) of an original of `shape` [R, C] whose leak is its
 * transpose [C, R]: rows r0…r1 of the original are columns of the leak, so each slice reads one
 * run of r1 − r0 values from each of the leak's C rows. Memory: one slice, whatever the tensor.
 */
function transposedSlices(values: TensorReader, shape: number[]): (e0: number, e1: number) => (i: number) => number {
  const [R, C] = [shape[0]!, shape[1]!];
  return (e0, e1) => {
    const r0 = Math.floor(e0 / C);
    const rows = Math.ceil(e1 / C) - r0;
    const sub = new Float32Array(C * rows);
    for (let col = 0; col < C; col++) sub.set(values.range(col * R + r0, col * R + r0 + rows), col * rows);
    return (i) => sub[(i % C) * rows + Math.floor(i / C) - r0]!;
  };
}

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
function readerOf(
  dtype: FloatDtype,
  raw: Uint8Array,
): { valueAt: (i: number) => number; bitsAt: (i: number) => number } {
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  if (dtype === 'F32') return { valueAt: (i) => dv.getFloat32(4 * i, true), bitsAt: () => 0 };
  const table = dtype === 'BF16' ? bf16Values() : f16Values();
  return { valueAt: (i) => table[dv.getUint16(2 * i, true)]!, bitsAt: (i) => dv.getUint16(2 * i, true) };
}

/** The evidence of one slice of one original tensor: its blocks and, per used candidate, its index in its block, bias and d. */
export interface EvidenceSlice {
  name: string;
  blocks: Int32Array;
  blockEnds: Int32Array;
  j: Uint16Array;
  k: Uint16Array;
  d: Float32Array;
}

/** How much of the leak has been read: tensors (at least in part), parameters and bytes of its readable tensors. */
export interface ReadProgress {
  tensors: number;
  tensorsTotal: number;
  parameters: number;
  parametersTotal: number;
  bytes: number;
  bytesTotal: number;
}

/**
 * Elements per slice: a tensor larger than this is read and measured slice by slice (aligned to
 * blocks), so memory stays bounded whatever the tensor's size. The mark size and the clip of d are
 * per slice; a tensor of at most one slice is measured exactly as a whole.
 */
export const SLICE = 64 * BLOCK;

/**
 * Walks the leak tensor by tensor (slice by slice within a tensor), aligned to the original, and
 * hands each measured slice to `onSlice`; returns early when `onSlice` returns true. Memory: one
 * slice of the leak and of the original, their evidence, and a 4,096-value sample per original
 * tensor compared.
 */
export async function walkEvidence(
  opts: {
    leaked: string;
    original: string;
    key: Uint8Array;
    params: CodeParams;
    onProgress?: (p: { done: number; total: number }) => void;
  },
  onSlice: (slice: EvidenceSlice, norm2: number, read: ReadProgress) => boolean,
): Promise<{
  aligned: AlignedTensor[];
  unmatched: string[];
  unread: TraceEvidence['unread'];
  read: ReadProgress;
  stopped: boolean;
}> {
  const original = await readCheckpoint(opts.original);
  const leak = await readCheckpoint(opts.leaked);
  const originals: OriginalTensor[] = original.weights.flatMap((file) =>
    file.tensors.filter(isMarkable).map((t) => ({ file, t, used: false })),
  );
  const sampleOf = (o: OriginalTensor) => (o.sample ??= tensorReader(o.file, o.t)!.at(samplePositions(o.t.elements)));
  const leakedTensors = leak.weights.flatMap((file) =>
    file.tensors.filter((t) => isReadable(t) && t.shape.length >= 2).map((t) => ({ file, t })),
  );
  const unreadable = leak.weights.flatMap((file) => file.tensors.filter((t) => !isReadable(t) && t.shape.length >= 2));
  const unread = { tensors: unreadable.map((t) => t.name), types: [...new Set(unreadable.map((t) => t.dtype))].sort() };
  const read: ReadProgress = {
    tensors: 0,
    tensorsTotal: leakedTensors.length,
    parameters: 0,
    parametersTotal: 0,
    bytes: 0,
    bytesTotal: 0,
  };
  for (const { t } of leakedTensors) {
    read.parametersTotal += t.elements;
    read.bytesTotal += t.end - t.start;
  }
  const aligned: AlignedTensor[] = [];
  const unmatched: string[] = [];
  const { proxy } = scoreTables();
  let buf: Scratch | undefined;
  let done = 0;
  for (const { file, t } of leakedTensors) {
    const values = tensorReader(file, t)!;
    opts.onProgress?.({ done: ++done, total: leakedTensors.length });
    // Alignment: the same name first, then every original of the same shape, as is or transposed.
    const leakSamples = new Map<string, Float32Array>();
    const leakSample = (o: OriginalTensor, how: AlignedTensor['how']) => {
      const key = how === 'transposed' ? `T${o.t.shape.join(',')}` : '';
      let v = leakSamples.get(key);
      if (!v) {
        const idx = samplePositions(o.t.elements);
        v = values.at(how === 'transposed' ? idx.map((i) => transposedIndex(o.t.shape, i)) : idx);
        leakSamples.set(key, v);
      }
      return v;
    };
    let best: { o: OriginalTensor; how: AlignedTensor['how']; cosine: number } | undefined;
    const consider = (o: OriginalTensor, how: AlignedTensor['how']) => {
      const c = cosine(leakSample(o, how), sampleOf(o));
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
      unmatched.push(t.name);
      continue;
    }
    const { o, how, cosine: cos } = best;
    o.used = true;
    const recast = chooseRecast(o.t.dtype as FloatDtype, leakSample(o, how), sampleOf(o));
    const entry: AlignedTensor = { leaked: t.name, original: o.t.name, how, cosine: cos, recast, positions: 0 };
    aligned.push(entry);
    read.tensors++;
    const transposed = how === 'transposed' ? transposedSlices(values, o.t.shape) : undefined;
    const bytesPerElement = (t.end - t.start) / t.elements;
    for (let e0 = 0; e0 < o.t.elements; e0 += SLICE) {
      const e1 = Math.min(o.t.elements, e0 + SLICE);
      const es = DTYPE_BYTES[o.t.dtype as FloatDtype];
      const raw = readRange(o.file.source, o.t.start + e0 * es, o.t.start + e1 * es);
      const leakAt = transposed
        ? transposed(e0, e1)
        : (
            (v: Float32Array) => (i: number) =>
              v[i - e0]!
          )(values.range(e0, e1));
      buf = scratch(buf, e1 - e0);
      const slice = measure(o, raw, e0, e1, leakAt, recast, opts.key, opts.params, buf);
      let norm2 = 0;
      for (let i = 0; i < slice.d.length; i++) norm2 += slice.d[i]! ** 2 * proxy[slice.k[i]!]!;
      entry.positions += slice.d.length;
      read.parameters += e1 - e0;
      read.bytes += Math.round((e1 - e0) * bytesPerElement);
      if (onSlice(slice, norm2, read)) return { aligned, unmatched, unread, read, stopped: true };
    }
  }
  return { aligned, unmatched, unread, read, stopped: false };
}

/**
 * Reads the leak and the original and measures the leak at every candidate position: the whole
 * evidence in memory (10 bytes per measured position). `traceLeak` streams instead.
 */
export async function gatherEvidence(opts: {
  leaked: string;
  original: string;
  key: Uint8Array;
  params: CodeParams;
  onProgress?: (p: { done: number; total: number }) => void;
}): Promise<TraceEvidence> {
  const evidence: TraceEvidence = {
    params: opts.params,
    aligned: [],
    unmatched: [],
    derived: false,
    unread: { tensors: [], types: [] },
    positions: 0,
    norm2: 0,
    tensors: [],
  };
  const walked = await walkEvidence(opts, (slice, norm2) => {
    evidence.tensors.push(slice);
    evidence.positions += slice.d.length;
    evidence.norm2 += norm2;
    return false;
  });
  evidence.aligned = walked.aligned;
  evidence.unmatched = walked.unmatched;
  evidence.derived = walked.aligned.length > 0;
  evidence.unread = walked.unread;
  return evidence;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The cast that best explains the leak: least squared difference on the sample. */
function chooseRecast(dtype: FloatDtype, leakSample: Float32Array, originalSample: Float32Array): Recast {
  let recast: Recast = 'none';
  let bestErr = Infinity;
  for (const r of RECASTS[dtype]) {
    let err = 0;
    for (let s = 0; s < leakSample.length; s++) {
      const l = leakSample[s]!;
      if (Number.isFinite(l)) err += (l - recastValue(originalSample[s]!, r)) ** 2;
    }
    if (err < bestErr) {
      bestErr = err;
      recast = r;
    }
  }
  return recast;
}

/** Scratch space of {@link measure}, grown on demand and reused slice after slice (no garbage per candidate). */
interface Scratch {
  j: Uint16Array;
  k: Uint16Array;
  moves: Float64Array;
}
function scratch(s: Scratch | undefined, n: number): Scratch {
  if (s && s.j.length >= n) return s;
  return { j: new Uint16Array(n), k: new Uint16Array(n), moves: new Float64Array(n) };
}

/** Measures elements [e0, e1) of an original tensor (its bytes in `raw`) against the leak. */
function measure(
  o: OriginalTensor,
  raw: Uint8Array,
  e0: number,
  e1: number,
  leakAt: (i: number) => number,
  recast: Recast,
  key: Uint8Array,
  params: CodeParams,
  buf: Scratch,
): EvidenceSlice {
  const dtype = o.t.dtype as FloatDtype;
  const { valueAt, bitsAt } = readerOf(dtype, raw);
  const blocks: number[] = [];
  const blockEnds: number[] = [];
  const { j: js, k: ks, moves } = buf;
  let n = 0;
  let stepSum = 0;
  const cand = newBlockCandidates();
  const sk = supportKey(key, o.t.name);
  for (let b = e0 / BLOCK; b * BLOCK < e1; b++) {
    blockCandidates(sk, params, b, o.t.elements, cand);
    const before = n;
    for (let j = 0; j < cand.count; j++) {
      const i = b * BLOCK + cand.at[j]!;
      const w = valueAt(i - e0);
      const step = markStep(dtype, w, bitsAt(i - e0));
      if (step === 0) continue;
      const l = leakAt(i);
      // A weight pruned to zero or made non-finite says nothing about the mark: an erasure.
      if (!Number.isFinite(l) || l === 0) continue;
      js[n] = j;
      ks[n] = cand.k[j]!;
      moves[n++] = Math.sign(w) * (l - recastValue(w, recast));
      stepSum += step;
    }
    if (n > before) {
      blocks.push(b);
      blockEnds.push(n);
    }
  }
  // d in units of the mean mark size, clipped so that a few wild values cannot drown the rest.
  const scale = n ? stepSum / n : 1;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (moves[i]! / scale) ** 2;
  const clip = Math.max(3, 3 * Math.sqrt(ss / Math.max(1, n)));
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = Math.max(-clip, Math.min(clip, moves[i]! / scale));
  return {
    name: o.t.name,
    blocks: Int32Array.from(blocks),
    blockEnds: Int32Array.from(blockEnds),
    j: js.slice(0, n),
    k: ks.slice(0, n),
    d,
  };
}

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

function zScores(recipients: readonly string[], sums: Float64Array, norm2: number): RecipientScore[] {
  const norm = Math.sqrt(norm2);
  return recipients.map((recipient, r) => ({ recipient, z: norm > 0 ? sums[r]! / norm : 0 }));
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
  /** Bytes read before the first early look (default {@link FIRST_LOOK}); Infinity reads everything, with one look. */
  firstLook?: number;
}

/** How much of the leak the verdict rests on. */
export interface ReadSummary extends ReadProgress {
  /** bytes / bytesTotal. */
  fraction: number;
  /** Looks taken, of the `looks` planned. */
  looksTaken: number;
  /** True when an early look decided and the rest was not read. */
  stoppedEarly: boolean;
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
  read: ReadSummary;
  /** Each accused recipient's registry records: which copies carried their fingerprint. */
  accused: (Accusation & { records: SignedRecord[] })[];
}

export const DEFAULT_EPSILON = 1e-9;
export const DEFAULT_TRACES = 1000;

/** Traces a leak to recipients of the registry (docs/FINGERPRINT.md §Tracing). */
export async function traceLeak(opts: TraceOptions): Promise<TraceReport> {
  const epsilon = opts.epsilon ?? DEFAULT_EPSILON;
  const traces = opts.traces ?? DEFAULT_TRACES;
  if (!(epsilon > 0 && epsilon < 1))
    throw new ModelsealError('INVALID_ARGUMENT', `epsilon ${epsilon}: expected a probability between 0 and 1`);
  if (!(Number.isSafeInteger(traces) && traces >= 1))
    throw new ModelsealError('INVALID_ARGUMENT', `traces ${traces}: expected a whole number ≥ 1`);
  const mine = opts.registry.filter((r) => r.keyId === opts.key.id);
  if (mine.length === 0)
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `the fingerprint registry holds no embedding made with this key (${opts.key.id}); give the registry and key store the copies were marked with`,
    );
  // The original is hashed on another thread while this one reads the leak: the verdict needs its
  // digest only to pick the registry records, and every record of this key is scored meanwhile.
  const digest = rootDigestOf(opts.original).then((d) => `sha256:${toHex(d)}`);
  digest.catch(() => {}); // awaited below; this only keeps an early failure from being "unhandled"
  const oneCode = (rs: readonly SignedRecord[]) =>
    rs.every((r) => r.params.support === rs[0]!.params.support && r.params.c === rs[0]!.params.c);
  const select = (original: string) => {
    const matching = mine.filter((r) => r.original === original);
    const records = matching.length ? matching : mine;
    if (!oneCode(records))
      throw new ModelsealError(
        'INVALID_ARGUMENT',
        'the registry records for this original use different code parameters; trace with a registry of one code',
      );
    return { matching, records };
  };
  const recipientsOf = (rs: readonly SignedRecord[]) => [...new Set(rs.map((r) => r.recipient))];
  const early = oneCode(mine) ? mine : select(await digest).records;
  const params = early[0]!.params;
  const walkOpts = {
    leaked: opts.leaked,
    original: opts.original,
    key: opts.key.key,
    params,
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
  };
  let scan = await scanLeak(walkOpts, recipientsOf(early), {
    traces,
    epsilon,
    firstLook: opts.firstLook,
    mayStop: true,
  });
  const original = await digest;
  const { matching, records } = select(original);
  const recipients = recipientsOf(records);
  let verdict = scan.verdictFor(recipients);
  if (scan.walked.stopped && !decides(verdict)) {
    // The look decided on records of another original only: read the rest for these recipients.
    scan = await scanLeak(walkOpts, recipients, { traces, epsilon, firstLook: opts.firstLook, mayStop: false });
    verdict = scan.verdictFor(recipients);
  }
  const { walked } = scan;
  return {
    ...verdict,
    original,
    originalInRegistry: matching.length > 0,
    derived: walked.aligned.length > 0,
    unread: walked.unread,
    params,
    positions: scan.positions,
    aligned: walked.aligned,
    unmatched: walked.unmatched,
    read: {
      ...walked.read,
      fraction: walked.read.bytesTotal ? walked.read.bytes / walked.read.bytesTotal : 0,
      looksTaken: scan.looksTaken,
      stoppedEarly: walked.stopped,
    },
    accused: verdict.accused.map((a) => ({ ...a, records: records.filter((r) => r.recipient === a.recipient) })),
  };
}

/**
 * Walks the leak, summing every recipient's score slice by slice (the evidence is dropped: memory
 * does not grow with the model), and looks at the scores on the schedule; with `mayStop`, stops at
 * the first look that decides. `verdictFor` judges any subset of the recipients at the last look.
 */
async function scanLeak(
  walkOpts: Parameters<typeof walkEvidence>[0],
  recipients: readonly string[],
  o: { traces: number; epsilon: number; firstLook: number | undefined; mayStop: boolean },
) {
  const sums = new Float64Array(recipients.length);
  let norm2 = 0;
  let positions = 0;
  let schedule: number[] | undefined;
  let next = 0;
  let looksTaken = 0;
  const judgeAll = (rs: readonly string[]) => {
    const at = new Map(recipients.map((r, i) => [r, i]));
    const z = zScores(recipients, sums, norm2);
    return judge(
      rs.map((r) => z[at.get(r)!]!),
      { traces: o.traces, epsilon: o.epsilon, looks: schedule!.length + 1 },
    );
  };
  const walked = await walkEvidence(walkOpts, (slice, n2, read) => {
    addScores([slice], walkOpts.key, recipients, sums);
    norm2 += n2;
    positions += slice.d.length;
    schedule ??= lookSchedule(read.bytesTotal, o.firstLook);
    if (next < schedule.length && read.bytes >= schedule[next]! && read.bytes < read.bytesTotal) {
      while (next < schedule.length && read.bytes >= schedule[next]!) next++;
      looksTaken++;
      return o.mayStop && decides(judgeAll(recipients));
    }
    return false;
  });
  schedule ??= lookSchedule(walked.read.bytesTotal, o.firstLook);
  if (!walked.stopped) looksTaken++;
  return { walked, positions, looksTaken, verdictFor: judgeAll };
}

/** The root digest a package would give this checkpoint (every file hashed, on a worker thread). */
async function rootDigestOf(input: string): Promise<Uint8Array> {
  const { files } = await collectInputs(input);
  const digests = await hashOnWorker(files.map((f) => f.source));
  return computeRootDigest(files.map((f, i) => ({ path: f.path, size: f.size, sha256: digests[i]! })));
}

// Self-contained (node built-ins only), so that it runs from the bundle as well as from dist/.
const HASH_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { openSync, readSync, closeSync } = require('node:fs');
const buf = Buffer.allocUnsafe(1 << 22);
parentPort.postMessage(workerData.map((path) => {
  const h = createHash('sha256');
  const fd = openSync(path, 'r');
  try {
    for (let pos = 0, n; (n = readSync(fd, buf, 0, buf.length, pos)) > 0; pos += n) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return new Uint8Array(h.digest());
}));
`;

/** SHA-256 of each file, on a worker thread: the caller's thread stays free for its own work. */
function hashOnWorker(paths: readonly string[]): Promise<Uint8Array[]> {
  return new Promise((resolve, reject) => {
    const w = new Worker(HASH_WORKER, { eval: true, workerData: paths });
    w.once('message', (d: Uint8Array[]) => resolve(d));
    w.once('error', (cause) => reject(ioError(`cannot hash ${paths.join(', ')}`, cause)));
    w.once(
      'exit',
      (code) => code !== 0 && reject(new ModelsealError('INTERNAL', `the hashing thread exited with code ${code}`)),
    );
  });
}
