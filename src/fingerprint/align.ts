/**
 * Aligning a leaked tensor to the original tensor it came from — by name, else by shape (also
 * transposed), judged by cosine similarity on a sample — and finding the cast that best explains
 * its values, so trace can undo it (src/fingerprint/trace.ts).
 */
import { bf16Values, bf16Bits, f16Values, f16Bits, type FloatDtype } from '../formats/floats.js';
import { tensorReader, type TensorReader, type WeightFile, type WeightTensor } from './model.js';

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

/** A markable tensor of the original, as trace compares it. */
export interface OriginalTensor {
  file: WeightFile;
  t: WeightTensor;
  /** Its values at samplePositions(), read when the tensor is first compared. */
  sample?: Float32Array;
  used: boolean;
}

const SAMPLE = 4096;
const MIN_COSINE = 0.5;

/** Up to 4,096 evenly spread element indices of a tensor of `n` elements: where alignment compares. */
export function samplePositions(n: number): number[] {
  const m = Math.min(n, SAMPLE);
  return Array.from({ length: m }, (_, i) => Math.floor(((i + 0.5) * n) / m));
}

/**
 * The leak's values for elements [e0, e1) of an original of `shape` [R, C] whose leak is its
 * transpose [C, R]: rows r0…r1 of the original are columns of the leak, so each slice reads one
 * run of r1 − r0 values from each of the leak's C rows. Memory: one slice, whatever the tensor.
 */
export function transposedSlices(
  values: TensorReader,
  shape: number[],
): (e0: number, e1: number) => (i: number) => number {
  const [R, C] = [shape[0]!, shape[1]!];
  return (e0, e1) => {
    const r0 = Math.floor(e0 / C);
    const rows = Math.ceil(e1 / C) - r0;
    const sub = new Float32Array(C * rows);
    for (let col = 0; col < C; col++) sub.set(values.range(col * R + r0, col * R + r0 + rows), col * rows);
    return (i) => sub[(i % C) * rows + Math.floor(i / C) - r0]!;
  };
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

/** `w` cast the way `how` says, as a value. */
export function recastValue(w: number, how: Recast): number {
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

/** The original a leaked tensor matches best, how it was found, and the cast that explains the leak. */
export interface Alignment {
  o: OriginalTensor;
  how: AlignedTensor['how'];
  cosine: number;
  recast: Recast;
}

/** The original's values at samplePositions(), read once. */
function sampleOf(o: OriginalTensor): Float32Array {
  return (o.sample ??= tensorReader(o.file, o.t)!.at(samplePositions(o.t.elements)));
}

/**
 * Aligns the leaked tensor `t` (read through `values`) to an unused original: the same name first,
 * then every original of the same shape, as is or transposed. Undefined when none reaches a cosine
 * of 0.5; else the original is marked used.
 */
export function alignTensor(
  t: WeightTensor,
  values: TensorReader,
  originals: readonly OriginalTensor[],
): Alignment | undefined {
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
  if (!best || best.cosine < MIN_COSINE) return undefined;
  const { o, how } = best;
  o.used = true;
  return { ...best, recast: chooseRecast(o.t.dtype as FloatDtype, leakSample(o, how), sampleOf(o)) };
}
