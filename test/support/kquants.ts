/**
 * Plain K-quant quantizers for the tests (Q4_K, Q5_K, Q6_K): the reference `gguf` package can
 * dequantize these types but not quantize them. Each picks scales from each sub-block's range and
 * rounds to nearest — simpler than llama.cpp's search for the best scales, so its error is larger
 * and a leak it makes is harder to trace than a real Q4_K_M file. The layouts are those the
 * dequantizer reads (src/formats/quants.ts), which the interop test checks against the reference.
 */
import { f16Bits, f16Values } from '../../src/formats/floats.js';

export type KType = 'Q4_K' | 'Q5_K' | 'Q6_K';
export const K_BYTES: Readonly<Record<KType, number>> = { Q4_K: 144, Q5_K: 176, Q6_K: 210 };

const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));
/** An f16 and the value it holds. */
function half(x: number): [number, number] {
  const bits = f16Bits(x);
  return [bits, f16Values()[bits]!];
}

/** Q4_K or Q5_K: 8 sub-blocks of 32, x ≈ d·sc·q − dmin·m with 6-bit sc, m and 4- or 5-bit q. */
function withMins(x: Float32Array, at: number, out: DataView, o: number, bits: 4 | 5): void {
  const top = (1 << bits) - 1;
  const scale: number[] = [];
  const lift: number[] = [];
  for (let j = 0; j < 8; j++) {
    let lo = 0;
    let hi = 0;
    for (let l = 0; l < 32; l++) {
      lo = Math.min(lo, x[at + 32 * j + l]!);
      hi = Math.max(hi, x[at + 32 * j + l]!);
    }
    scale.push((hi - lo) / top);
    lift.push(-lo);
  }
  const [dBits, d] = half(Math.max(...scale) / 63);
  const [mBits, dmin] = half(Math.max(...lift) / 63);
  const sc = scale.map((s) => (d > 0 ? clamp(Math.round(s / d), 0, 63) : 0));
  const m = lift.map((v) => (dmin > 0 ? clamp(Math.round(v / dmin), 0, 63) : 0));
  out.setUint16(o, dBits, true);
  out.setUint16(o + 2, mBits, true);
  for (let j = 0; j < 4; j++) {
    out.setUint8(o + 4 + j, (sc[j]! & 63) | ((sc[j + 4]! >> 4) << 6));
    out.setUint8(o + 8 + j, (m[j]! & 63) | ((m[j + 4]! >> 4) << 6));
    out.setUint8(o + 12 + j, (sc[j + 4]! & 15) | ((m[j + 4]! & 15) << 4));
  }
  const qs = o + (bits === 5 ? 48 : 16);
  for (let j = 0; j < 8; j++) {
    const step = d * sc[j]!;
    for (let l = 0; l < 32; l++) {
      const q = step > 0 ? clamp(Math.round((x[at + 32 * j + l]! + dmin * m[j]!) / step), 0, top) : 0;
      const b = qs + 32 * (j >> 1) + l;
      out.setUint8(b, out.getUint8(b) | ((q & 15) << (4 * (j & 1))));
      if (bits === 5) out.setUint8(o + 16 + l, out.getUint8(o + 16 + l) | ((q >> 4) << j));
    }
  }
}

/** Q6_K: 16 sub-blocks of 16, x ≈ d·sc·(q − 32) with int8 sc and 6-bit q. */
function q6k(x: Float32Array, at: number, out: DataView, o: number): void {
  const scale: number[] = [];
  for (let g = 0; g < 16; g++) {
    let amax = 0;
    for (let l = 0; l < 16; l++) amax = Math.max(amax, Math.abs(x[at + 16 * g + l]!));
    scale.push(amax / 31);
  }
  const [dBits, d] = half(Math.max(...scale) / 127);
  out.setUint16(o + 208, dBits, true);
  for (let g = 0; g < 16; g++) out.setInt8(o + 192 + g, d > 0 ? clamp(Math.round(scale[g]! / d), -128, 127) : 0);
  for (let i = 0; i < 256; i++) {
    const step = d * out.getInt8(o + 192 + (i >> 4));
    const q = step > 0 ? clamp(Math.round(x[at + i]! / step) + 32, 0, 63) : 32;
    const k = i & 127;
    const lo = o + 64 * (i >> 7) + (k & 63);
    const hi = o + 128 + 32 * (i >> 7) + (k & 31);
    out.setUint8(lo, out.getUint8(lo) | ((q & 15) << (4 * (k >> 6))));
    out.setUint8(hi, out.getUint8(hi) | ((q >> 4) << (2 * (k >> 5))));
  }
}

/** Quantizes `x` (a multiple of 256 values) to a K-quant type; returns the blocks. */
export function quantizeK(type: KType, x: Float32Array): Uint8Array {
  const blocks = x.length / 256;
  const out = new Uint8Array(blocks * K_BYTES[type]);
  const view = new DataView(out.buffer);
  for (let b = 0; b < blocks; b++) {
    if (type === 'Q6_K') q6k(x, 256 * b, view, b * K_BYTES.Q6_K);
    else withMins(x, 256 * b, view, b * K_BYTES[type], type === 'Q4_K' ? 4 : 5);
  }
  return out;
}
