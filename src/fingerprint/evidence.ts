/**
 * The evidence a leak holds (src/fingerprint/trace.ts): at every candidate position of an aligned
 * original tensor, how far the leak moved the weight in the direction of the mark (d_i, in units
 * of the mean mark size, clipped). Read slice by slice, so memory stays bounded.
 */
import { bf16Values, DTYPE_BYTES, f16Values, type FloatDtype } from '../formats/floats.js';
import { markStep } from './mark.js';
import { BLOCK, scoreTables, type CodeParams } from './params.js';
import { blockCandidates, newBlockCandidates, supportKey } from './prf.js';
import { isMarkable, isReadable, readCheckpoint, readRange, tensorReader, type WeightTensor } from './model.js';
import {
  alignTensor,
  recastValue,
  transposedSlices,
  type AlignedTensor,
  type Alignment,
  type OriginalTensor,
  type Recast,
} from './align.js';

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

/**
 * The evidence of one slice of one original tensor: its blocks and, per used candidate, its index in its block, bias
 * and d.
 */
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
  const leakedTensors = leak.weights.flatMap((file) =>
    file.tensors.filter((t) => isReadable(t) && t.shape.length >= 2).map((t) => ({ file, t })),
  );
  const unreadable = leak.weights.flatMap((file) => file.tensors.filter((t) => !isReadable(t) && t.shape.length >= 2));
  const unread = { tensors: unreadable.map((t) => t.name), types: [...new Set(unreadable.map((t) => t.dtype))].sort() };
  const read = readTotals(leakedTensors.map(({ t }) => t));
  const aligned: AlignedTensor[] = [];
  const unmatched: string[] = [];
  const slices = new SliceMeasurer(opts.key, opts.params);
  let done = 0;
  for (const { file, t } of leakedTensors) {
    const values = tensorReader(file, t)!;
    opts.onProgress?.({ done: ++done, total: leakedTensors.length });
    const a = alignTensor(t, values, originals);
    if (!a) {
      unmatched.push(t.name);
      continue;
    }
    const entry: AlignedTensor = {
      leaked: t.name,
      original: a.o.t.name,
      how: a.how,
      cosine: a.cosine,
      recast: a.recast,
      positions: 0,
    };
    aligned.push(entry);
    read.tensors++;
    const transposed = a.how === 'transposed' ? transposedSlices(values, a.o.t.shape) : undefined;
    const bytesPerElement = (t.end - t.start) / t.elements;
    for (let e0 = 0; e0 < a.o.t.elements; e0 += SLICE) {
      const e1 = Math.min(a.o.t.elements, e0 + SLICE);
      const leakAt = transposed
        ? transposed(e0, e1)
        : (
            (v: Float32Array) => (i: number) =>
              v[i - e0]!
          )(values.range(e0, e1));
      const { slice, norm2 } = slices.measure(a, e0, e1, leakAt);
      entry.positions += slice.d.length;
      read.parameters += e1 - e0;
      read.bytes += Math.round((e1 - e0) * bytesPerElement);
      if (onSlice(slice, norm2, read)) return { aligned, unmatched, unread, read, stopped: true };
    }
  }
  return { aligned, unmatched, unread, read, stopped: false };
}

/** Nothing read yet of these leaked tensors. */
function readTotals(tensors: readonly WeightTensor[]): ReadProgress {
  const read = { tensors: 0, tensorsTotal: tensors.length, parameters: 0, parametersTotal: 0, bytes: 0, bytesTotal: 0 };
  for (const t of tensors) {
    read.parametersTotal += t.elements;
    read.bytesTotal += t.end - t.start;
  }
  return read;
}

/** Reads slices of aligned originals and measures the leak against them, reusing one scratch space. */
class SliceMeasurer {
  #buf: Scratch | undefined;
  constructor(
    private readonly key: Uint8Array,
    private readonly params: CodeParams,
  ) {}

  /** Elements [e0, e1) of `a`'s original against the leak's values `leakAt`; norm2: Σ d² v over the slice. */
  measure(
    a: Alignment,
    e0: number,
    e1: number,
    leakAt: (i: number) => number,
  ): { slice: EvidenceSlice; norm2: number } {
    const o = a.o;
    const es = DTYPE_BYTES[o.t.dtype as FloatDtype];
    const raw = readRange(o.file.source, o.t.start + e0 * es, o.t.start + e1 * es);
    this.#buf = scratch(this.#buf, e1 - e0);
    const slice = measure(o, raw, e0, e1, leakAt, a.recast, this.key, this.params, this.#buf);
    const { proxy } = scoreTables();
    let norm2 = 0;
    for (let i = 0; i < slice.d.length; i++) norm2 += slice.d[i]! ** 2 * proxy[slice.k[i]!]!;
    return { slice, norm2 };
  }
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
