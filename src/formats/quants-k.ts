/** The K-quants (Q2_K … Q6_K): super-blocks of 256 values with packed sub-block scales (./quants.ts). */
import { f, half, type BlockFormat } from './quants-blocks.js';

/** The 6-bit scales and mins of Q4_K and Q5_K, packed in 12 bytes at `at`: [scale, min] of sub-block j. */
function scaleMinK(s: DataView, at: number, j: number): [number, number] {
  const b = (i: number) => s.getUint8(at + i);
  if (j < 4) return [b(j) & 63, b(j + 4) & 63];
  return [(b(j + 4) & 15) | ((b(j - 4) >> 6) << 4), (b(j + 4) >> 4) | ((b(j) >> 6) << 4)];
}

/** Q4_K and Q5_K: 8 sub-blocks of 32, value = d·scale·q − dmin·min; `q(j, l)` gives the quant of value 32j + l. */
function kWithMins(s: DataView, at: number, out: Float32Array, o: number, q: (j: number, l: number) => number): void {
  const d = half(s, at);
  const dmin = half(s, at + 2);
  for (let j = 0; j < 8; j++) {
    const [sc, m] = scaleMinK(s, at + 4, j);
    const dl = f(d * sc);
    const ml = f(dmin * m);
    for (let l = 0; l < 32; l++) out[o + 32 * j + l] = f(f(dl * q(j, l)) - ml);
  }
}

/** The block formats of this family, by ggml name. */
export const K_FORMATS: [string, BlockFormat][] = [
  [
    'Q2_K',
    {
      elements: 256,
      bytes: 84,
      block(s, at, out, o) {
        const d = half(s, at + 80);
        const dmin = half(s, at + 82);
        for (let i = 0; i < 256; i++) {
          const sb = s.getUint8(at + (i >> 4));
          const q = (s.getUint8(at + 16 + 32 * (i >> 7) + (i & 31)) >> (2 * ((i >> 5) & 3))) & 3;
          out[o + i] = f(f(f(d * (sb & 15)) * q) - f(dmin * (sb >> 4)));
        }
      },
    },
  ],
  // Q3_K: 32 bytes of high-bit masks, 64 of 2-bit quants, 12 of packed 6-bit scales, f16 d.
  [
    'Q3_K',
    {
      elements: 256,
      bytes: 110,
      block(s, at, out, o) {
        const d = half(s, at + 108);
        for (let i = 0; i < 256; i++) {
          const j = i >> 4; // sub-block of 16
          const low = (s.getUint8(at + 96 + (j & 7)) >> (4 * (j >> 3))) & 15;
          const high = (s.getUint8(at + 104 + (j & 3)) >> (2 * (j >> 2))) & 3;
          const dl = f(d * ((low | (high << 4)) - 32));
          const ql = (s.getUint8(at + 32 + 32 * (i >> 7) + (i & 31)) >> (2 * ((i >> 5) & 3))) & 3;
          const hm = (s.getUint8(at + (i & 31)) >> (i >> 5)) & 1;
          out[o + i] = f(dl * (ql - (hm ? 0 : 4)));
        }
      },
    },
  ],
  // Q4_K: f16 d, f16 dmin, 12 bytes of scales and mins, 128 bytes of nibbles (64 values per 32 bytes).
  [
    'Q4_K',
    {
      elements: 256,
      bytes: 144,
      block(s, at, out, o) {
        kWithMins(s, at, out, o, (j, l) => (s.getUint8(at + 16 + 32 * (j >> 1) + l) >> (4 * (j & 1))) & 15);
      },
    },
  ],
  // Q5_K: as Q4_K, then 32 bytes of fifth bits (bit j of byte l for value 32j + l) before the nibbles.
  [
    'Q5_K',
    {
      elements: 256,
      bytes: 176,
      block(s, at, out, o) {
        kWithMins(
          s,
          at,
          out,
          o,
          (j, l) =>
            ((s.getUint8(at + 48 + 32 * (j >> 1) + l) >> (4 * (j & 1))) & 15) |
            (((s.getUint8(at + 16 + l) >> j) & 1) << 4),
        );
      },
    },
  ],
  // Q6_K: 128 bytes of low nibbles, 64 of high 2-bit pairs, 16 int8 scales, f16 d.
  [
    'Q6_K',
    {
      elements: 256,
      bytes: 210,
      block(s, at, out, o) {
        const d = half(s, at + 208);
        for (let i = 0; i < 256; i++) {
          const dl = f(d * s.getInt8(at + 192 + (i >> 4)));
          const half128 = i >> 7;
          const k = i & 127;
          const low = (s.getUint8(at + 64 * half128 + (k & 63)) >> (4 * (k >> 6))) & 15;
          const high = (s.getUint8(at + 128 + 32 * half128 + (k & 31)) >> (2 * (k >> 5))) & 3;
          out[o + i] = f(dl * ((low | (high << 4)) - 32));
        }
      },
    },
  ],
  // IQ4_XS: f16 d, u16 of high scale bits, 4 bytes of low scale nibbles, 128 bytes of table indexes.
];
