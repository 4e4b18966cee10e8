/** The legacy quants (Q4_0 … Q8_0), the ternary TQ1_0 and TQ2_0, and MXFP4 (./quants.ts). */
import { f, half, nibbles32, type BlockFormat } from './quants-blocks.js';

/** Q5_0/Q5_1: the fifth bit of value j is bit j of a u32 at `qh`; the low nibbles follow it. */
function fiveBits(s: DataView, qh: number, j: number): number {
  const high = s.getUint32(qh, true);
  const b = s.getUint8(qh + 4 + (j & 15));
  return (j < 16 ? b & 15 : b >> 4) | (((high >>> j) & 1) << 4);
}

/** e2m1 values, doubled (the MXFP4 scale is halved to match). */
const MXFP4_VALUES = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12] as const;

/** The block formats of this family, by ggml name. */
export const LEGACY_FORMATS: [string, BlockFormat][] = [
  ['Q4_0', { elements: 32, bytes: 18, block: nibbles32((q) => q - 8) }],
  [
    'Q4_1',
    {
      elements: 32,
      bytes: 20,
      block(s, at, out, o) {
        const d = half(s, at);
        const m = half(s, at + 2);
        for (let j = 0; j < 16; j++) {
          const b = s.getUint8(at + 4 + j);
          out[o + j] = f(f(d * (b & 15)) + m);
          out[o + j + 16] = f(f(d * (b >> 4)) + m);
        }
      },
    },
  ],
  [
    'Q5_0',
    {
      elements: 32,
      bytes: 22,
      block(s, at, out, o) {
        const d = half(s, at);
        for (let j = 0; j < 32; j++) out[o + j] = f(d * (fiveBits(s, at + 2, j) - 16));
      },
    },
  ],
  [
    'Q5_1',
    {
      elements: 32,
      bytes: 24,
      block(s, at, out, o) {
        const d = half(s, at);
        const m = half(s, at + 2);
        for (let j = 0; j < 32; j++) out[o + j] = f(f(d * fiveBits(s, at + 4, j)) + m);
      },
    },
  ],
  [
    'Q8_0',
    {
      elements: 32,
      bytes: 34,
      block(s, at, out, o) {
        const d = half(s, at);
        for (let j = 0; j < 32; j++) out[o + j] = f(d * s.getInt8(at + 2 + j));
      },
    },
  ],
  // Q2_K: 16 bytes of (min << 4 | scale), 64 bytes of 2-bit quants, f16 d, f16 dmin.
  [
    'TQ1_0',
    {
      elements: 256,
      bytes: 54,
      block(s, at, out, o) {
        const d = half(s, at + 52);
        const trit = (b: number, k: number) => ((((b * 3 ** k) & 255) * 3) >> 8) - 1;
        let i = 0;
        for (const [from, width] of [
          [0, 32],
          [32, 16],
        ] as const) {
          for (let k = 0; k < 5; k++)
            for (let l = 0; l < width; l++) out[o + i++] = f(d * trit(s.getUint8(at + from + l), k));
        }
        for (let k = 0; k < 4; k++) for (let l = 0; l < 4; l++) out[o + i++] = f(d * trit(s.getUint8(at + 48 + l), k));
      },
    },
  ],
  // TQ2_0: 64 bytes of 2-bit values (q − 1), f16 d.
  [
    'TQ2_0',
    {
      elements: 256,
      bytes: 66,
      block(s, at, out, o) {
        const d = half(s, at + 64);
        for (let i = 0; i < 256; i++)
          out[o + i] = f(d * (((s.getUint8(at + 32 * (i >> 7) + (i & 31)) >> (2 * ((i >> 5) & 3))) & 3) - 1));
      },
    },
  ],
  // MXFP4: an e8m0 exponent (as half its power of two), then 32 e2m1 nibbles, low halves first.
  [
    'MXFP4',
    {
      elements: 32,
      bytes: 17,
      block(s, at, out, o) {
        const e = s.getUint8(at);
        const d = 2 ** (e - 128); // 2^(e − 127) halved, as ggml_e8m0_to_fp32_half (subnormal for e < 2)
        for (let j = 0; j < 16; j++) {
          const b = s.getUint8(at + 1 + j);
          out[o + j] = f(d * MXFP4_VALUES[b & 15]!);
          out[o + j + 16] = f(d * MXFP4_VALUES[b >> 4]!);
        }
      },
    },
  ],
];
