/** What every ggml block decoder shares (./quants.ts): the block shape, f16 scales, bits and nibbles. */
import { f16Values } from './floats.js';

export const f = Math.fround;

/** A block format: elements and bytes per block, and how one block at `at` fills `out` from `o`. */
export interface BlockFormat {
  elements: number;
  bytes: number;
  block(src: DataView, at: number, out: Float32Array, o: number): void;
}

let F16: Float64Array | undefined;
/** The value of the f16 with these 16 bits. */
export function f16(bits: number): number {
  return (F16 ??= f16Values())[bits]!;
}

/** The little-endian f16 at `at`. */
export function half(src: DataView, at: number): number {
  return f16(src.getUint16(at, true));
}

/** Shared by Q4_0 and IQ4_NL: an f16 scale, then 32 nibbles (low halves first) mapped through `value`. */
export function nibbles32(value: (q: number) => number): BlockFormat['block'] {
  return (s, at, out, o) => {
    const d = half(s, at);
    for (let j = 0; j < 16; j++) {
      const b = s.getUint8(at + 2 + j);
      out[o + j] = f(d * value(b & 15));
      out[o + j + 16] = f(d * value(b >> 4));
    }
  };
}
