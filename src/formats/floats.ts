/**
 * The floating-point weight types — F32, F16, BF16 — decoded through tables and encoded with exact
 * rounding (round-to-nearest-even or truncation), as a cast in PyTorch or numpy would do. Imports
 * nothing: worker threads load it (the fingerprint marker).
 */

export type FloatDtype = 'F32' | 'F16' | 'BF16';
export type Rounding = 'rne' | 'trunc';

export const DTYPE_BYTES: Readonly<Record<FloatDtype, number>> = { F32: 4, F16: 2, BF16: 2 };

export function isFloatDtype(d: string): d is FloatDtype {
  return d === 'F32' || d === 'F16' || d === 'BF16';
}

function decodeTable(mbits: number, ebits: number): Float64Array {
  const t = new Float64Array(65536);
  const bias = (1 << (ebits - 1)) - 1;
  const emask = (1 << ebits) - 1;
  // The value of mantissa integer 1 at each exponent (subnormals share the smallest normal's), so
  // each entry is one exact multiplication.
  const unit = Float64Array.from({ length: emask }, (_, e) => 2 ** (Math.max(e, 1) - bias - mbits));
  for (let u = 0; u < 65536; u++) {
    const s = u & 0x8000 ? -1 : 1;
    const e = (u >> mbits) & emask;
    const m = u & ((1 << mbits) - 1);
    t[u] = e === emask ? (m ? NaN : s * Infinity) : s * (e === 0 ? m : m + (1 << mbits)) * unit[e]!;
  }
  return t;
}

let bf16: Float64Array | undefined;
let f16: Float64Array | undefined;
/** Value of every BF16 bit pattern (built on first use: most commands never decode a weight). */
export function bf16Values(): Float64Array {
  return (bf16 ??= decodeTable(7, 8));
}
/** Value of every F16 bit pattern (built on first use). */
export function f16Values(): Float64Array {
  return (f16 ??= decodeTable(10, 5));
}

function roundInt(q: number, mode: Rounding): number {
  const f = Math.floor(q);
  if (mode === 'trunc') return f;
  const d = q - f;
  return d > 0.5 ? f + 1 : d < 0.5 ? f : f + (f & 1);
}

/** Encodes a number as a 16-bit float with `mbits` mantissa and `ebits` exponent bits (IEEE layout). */
function encode16(x: number, mbits: number, ebits: number, mode: Rounding): number {
  const emax = (1 << ebits) - 1;
  const bias = emax >> 1;
  const s = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (Number.isNaN(x)) return 0x7fff & ((emax << mbits) | (1 << (mbits - 1)));
  if (a === Infinity) return s | (emax << mbits);
  if (a === 0) return s;
  const emin = 1 - bias;
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  if (e < emin) return s | roundInt(a / 2 ** (emin - mbits), mode); // subnormal (a carry makes the smallest normal)
  // The carry of a mantissa that rounds up to 2^(mbits+1) moves into the exponent by itself.
  const bits = ((e - emin + 1) << mbits) + roundInt(a / 2 ** (e - mbits), mode) - (1 << mbits);
  if (bits >= emax << mbits) return s | (mode === 'trunc' ? (emax << mbits) - 1 : emax << mbits);
  return s | bits;
}

/** The BF16 bit pattern of x. */
export function bf16Bits(x: number, mode: Rounding = 'rne'): number {
  return encode16(x, 7, 8, mode);
}

/** The F16 bit pattern of x (overflow rounds to infinity, or to the largest finite under truncation). */
export function f16Bits(x: number, mode: Rounding = 'rne'): number {
  return encode16(x, 10, 5, mode);
}

/** Decodes `count` elements of `dtype` starting at byte `offset` of `bytes` (any alignment) into float32. */
export function decodeFloats(
  dtype: FloatDtype,
  bytes: Uint8Array,
  offset: number,
  count: number,
  out = new Float32Array(count),
): Float32Array {
  if (dtype === 'F32') {
    const dv = new DataView(bytes.buffer, bytes.byteOffset + offset, count * 4);
    for (let i = 0; i < count; i++) out[i] = dv.getFloat32(4 * i, true);
  } else {
    const t = dtype === 'BF16' ? bf16Values() : f16Values();
    for (let i = 0, o = offset; i < count; i++, o += 2) out[i] = t[bytes[o]! | (bytes[o + 1]! << 8)]!;
  }
  return out;
}

/** Encodes float values as `dtype` bytes (little-endian), rounding to nearest even. */
export function encodeFloats(dtype: FloatDtype, values: ArrayLike<number>): Uint8Array {
  const n = values.length;
  const out = new Uint8Array(n * DTYPE_BYTES[dtype]);
  if (dtype === 'F32') {
    const dv = new DataView(out.buffer);
    for (let i = 0; i < n; i++) dv.setFloat32(4 * i, values[i]!, true);
  } else {
    const enc = dtype === 'BF16' ? bf16Bits : f16Bits;
    for (let i = 0; i < n; i++) {
      const b = enc(values[i]!);
      out[2 * i] = b & 0xff;
      out[2 * i + 1] = b >> 8;
    }
  }
  return out;
}
