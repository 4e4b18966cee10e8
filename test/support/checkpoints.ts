/**
 * Generated checkpoints for the fingerprint tests: seeded Gaussian weights in safetensors files,
 * and the transformations people apply to leaked weights.
 */
import { writeFileSync } from 'node:fs';
import { encodeSafetensorsHeader } from '../../src/formats/safetensors.js';
import { decodeFloats, encodeFloats, type FloatDtype } from '../../src/formats/floats.js';
import { markElements } from '../../src/fingerprint/mark.js';
import { DEFAULT_PARAMS } from '../../src/fingerprint/params.js';
import { codeKey, supportKey } from '../../src/fingerprint/prf.js';

/** A deterministic PRNG (mulberry32) and Gaussian draws from it. */
export function rng(seed: number): { uniform: () => number; gauss: () => number } {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const gauss = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  return { uniform, gauss };
}

export interface Tensor {
  name: string;
  dtype: FloatDtype;
  shape: number[];
  /** The values (exactly representable in `dtype`). */
  values: Float32Array;
}

/** `layers` layers of two [rows, cols] weight matrices and a 1-D norm, Gaussian with a per-tensor scale. */
export function makeModel(
  seed: number,
  layers: number,
  rows: number,
  cols: number,
  dtype: FloatDtype = 'F32',
): Tensor[] {
  const r = rng(seed);
  const out: Tensor[] = [];
  for (let l = 0; l < layers; l++) {
    for (const part of ['attn.weight', 'mlp.weight']) {
      const scale = 0.01 + 0.05 * r.uniform();
      const v = Float32Array.from({ length: rows * cols }, () => r.gauss() * scale);
      out.push(cast({ name: `model.layers.${l}.${part}`, dtype: 'F32', shape: [rows, cols], values: v }, dtype));
    }
    out.push({
      name: `model.layers.${l}.norm.weight`,
      dtype: 'F32',
      shape: [cols],
      values: Float32Array.from({ length: cols }, () => 1 + 0.1 * r.gauss()),
    });
  }
  return out;
}

/** `t` cast to `dtype` and back to float32: round to nearest even, or BF16 truncation. */
export function cast(t: Tensor, dtype: FloatDtype, mode: 'rne' | 'trunc' = 'rne'): Tensor {
  if (mode === 'trunc' && dtype === 'BF16') {
    const f = new Float32Array(t.values);
    const u = new Uint32Array(f.buffer);
    for (let i = 0; i < u.length; i++) u[i] = u[i]! & 0xffff0000;
    return { ...t, dtype, values: f };
  }
  return { ...t, dtype, values: decodeFloats(dtype, encodeFast(dtype, t.values), 0, t.values.length) };
}

/** The tensor's values as `dtype` bytes, little-endian. */
export function tensorBytes(t: Tensor): Uint8Array {
  return encodeFast(t.dtype, t.values);
}

const HOST_LE = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/**
 * encodeFloats (src/formats/floats.ts) for float32 inputs, from their bits instead of a log2 per
 * value: 10-20 times faster on the millions of weights of these tests, and bit for bit the same
 * (test/unit/checkpoints.test.ts).
 */
export function encodeFast(dtype: FloatDtype, values: Float32Array): Uint8Array {
  if (dtype === 'F32' || !HOST_LE) return encodeFloats(dtype, values);
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  if (dtype === 'BF16') for (let i = 0; i < out.length; i++) out[i] = bf16FromF32Bits(bits[i]!);
  else for (let i = 0; i < out.length; i++) out[i] = f16FromF32Bits(bits[i]!, values[i]!);
  return new Uint8Array(out.buffer);
}

/** The BF16 bits nearest (ties to even) the float32 with bits `u`. */
function bf16FromF32Bits(u: number): number {
  if ((u & 0x7fffffff) > 0x7f800000) return 0x7fc0; // NaN, as formats/floats.ts writes it
  return (u + 0x7fff + ((u >>> 16) & 1)) >>> 16;
}

/** The F16 bits nearest (ties to even) the float32 `x`, whose bits are `u`. */
function f16FromF32Bits(u: number, x: number): number {
  const s = (u >>> 16) & 0x8000;
  const a = u & 0x7fffffff;
  if (a > 0x7f800000) return 0x7e00; // NaN
  if (a >= 0x477ff000) return s | 0x7c00; // 65520 and up round to infinity
  if (a < 0x38800000) {
    // Below 2^-14: a subnormal, a multiple of 2^-24 (1024 of them make the smallest normal).
    const q = Math.abs(x) * 2 ** 24;
    const f = Math.floor(q);
    const d = q - f;
    return s | (d > 0.5 ? f + 1 : d < 0.5 ? f : f + (f & 1));
  }
  // Rebias the exponent (127 to 15) and round the 13 dropped mantissa bits; a carry moves into the exponent.
  return s | ((a - 0x38000000 + 0xfff + ((a >>> 13) & 1)) >>> 13);
}

export function writeSafetensors(
  path: string,
  tensors: readonly Tensor[],
  metadata: Record<string, string> = {},
): void {
  const datas = tensors.map(tensorBytes);
  let at = 0;
  const entries = tensors.map((t, i) => {
    const e = { name: t.name, dtype: t.dtype, shape: t.shape, begin: at, end: at + datas[i]!.length };
    at = e.end;
    return e;
  });
  writeFileSync(path, Buffer.concat([encodeSafetensorsHeader(metadata, entries), ...datas]));
}

export function mapValues(t: Tensor, f: (x: number, i: number) => number): Tensor {
  return { ...t, values: Float32Array.from(t.values, f) };
}

export function std(v: Float32Array): number {
  let s = 0;
  for (const x of v) s += x * x;
  return Math.sqrt(s / v.length);
}

/** A copy marked for `recipient` with `key` (default code), as `fingerprint embed` marks; 1-D tensors unchanged. */
export function markedTensors(tensors: readonly Tensor[], key: Uint8Array, recipient: string): Tensor[] {
  return tensors.map((t) => {
    if (t.shape.length < 2) return t;
    const bytes = tensorBytes(t);
    const n = t.values.length;
    markElements(
      {
        name: t.name,
        dtype: t.dtype,
        start: 0,
        end: bytes.length,
        supportKey: supportKey(key, t.name),
        codeKey: codeKey(key, recipient, t.name),
      },
      DEFAULT_PARAMS,
      n,
      0,
      n,
      bytes,
      0,
      null,
    );
    return { ...t, values: decodeFloats(t.dtype, bytes, 0, n) };
  });
}
