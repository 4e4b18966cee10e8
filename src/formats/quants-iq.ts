/** The i-quants: IQ4_NL, IQ4_XS and the lattice ones, whose grids are data in ./iq-grids.ts (./quants.ts). */
import { f, f16, half, nibbles32, type BlockFormat } from './quants-blocks.js';
import { IQ1_S_GRID, IQ2_S_GRID, IQ2_XS_GRID, IQ2_XXS_GRID, IQ3_S_GRID, IQ3_XXS_GRID } from './iq-grids.js';

/** Nibble j of the bytes at `at` (low half first), and bit i of the bytes at `at`. */
const nibble = (s: DataView, at: number, j: number) => (s.getUint8(at + (j >> 1)) >> (4 * (j & 1))) & 15;
const bit = (s: DataView, at: number, i: number) => (s.getUint8(at + (i >> 3)) >> (i & 7)) & 1;
/** A lattice table of src/formats/iq-grids.ts, decoded once: entry e's values start at e × width. */
type Grid = { entries: number; width: number; base64: string };
const decodedGrids = new Map<Grid, Int8Array>();
function grid(g: Grid): Int8Array {
  let t = decodedGrids.get(g);
  if (!t) decodedGrids.set(g, (t = new Int8Array(Buffer.from(g.base64, 'base64'))));
  return t;
}

/** The IQ2 sub-block scale of value i: d·(½ + 4-bit scale)·¼, one scale per 16 values. */
const iq2Scale = (s: DataView, scalesAt: number, d: number, i: number) =>
  f(f(d * (0.5 + nibble(s, scalesAt, i >> 4))) * 0.25);

/** ggml's ksigns: a 7-bit index and, as bit 7, its parity, so every sign pattern has an even number of minus signs. */
function ksign(index: number, bit: number): number {
  let parity = 0;
  for (let x = index; x; x &= x - 1) parity ^= 1;
  return ((index | (parity << 7)) >> bit) & 1 ? -1 : 1;
}

/**
 * IQ2_XXS and IQ3_XXS: 8 groups of 32 values, each with a u32 `aux` of a 4-bit scale (top bits)
 * and four 7-bit sign indexes (one per 8 values). `where(i)` gives value i's grid byte and aux offsets.
 */
function iqXXS(
  g: Grid,
  scale: 0.25 | 0.5,
  where: (i: number) => [entryAt: number, auxAt: number],
): BlockFormat['block'] {
  return (s, at, out, o) => {
    const table = grid(g);
    const d = half(s, at);
    for (let i = 0; i < 256; i++) {
      const [entryAt, auxAt] = where(i);
      const aux = s.getUint32(at + auxAt, true);
      const db = f(f(d * (0.5 + (aux >>> 28))) * scale);
      const value = table[s.getUint8(at + entryAt) * g.width + (i % g.width)]!;
      out[o + i] = f(f(db * value) * ksign((aux >>> (7 * ((i >> 3) & 3))) & 127, i & 7));
    }
  };
}

/** IQ1_S and IQ1_M: value = dl·(grid ± 1/8) for 8-value grid entries of −1, 0, 1. */
function iq1(dl: number, entry: number, negative: boolean, l: number): number {
  return f(dl * f(grid(IQ1_S_GRID)[entry * 8 + l]! + (negative ? -0.125 : 0.125)));
}

const IQ4_VALUES = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113] as const;
/** The block formats of this family, by ggml name. */
export const IQ_FORMATS: [string, BlockFormat][] = [
  ['IQ4_NL', { elements: 32, bytes: 18, block: nibbles32((q) => IQ4_VALUES[q]!) }],
  [
    'IQ4_XS',
    {
      elements: 256,
      bytes: 136,
      block(s, at, out, o) {
        const d = half(s, at);
        const scalesHigh = s.getUint16(at + 2, true);
        for (let j = 0; j < 8; j++) {
          const low = (s.getUint8(at + 4 + (j >> 1)) >> (4 * (j & 1))) & 15;
          const dl = f(d * ((low | (((scalesHigh >> (2 * j)) & 3) << 4)) - 32));
          for (let l = 0; l < 16; l++) {
            const b = s.getUint8(at + 8 + 16 * j + l);
            out[o + 32 * j + l] = f(dl * IQ4_VALUES[b & 15]!);
            out[o + 32 * j + 16 + l] = f(dl * IQ4_VALUES[b >> 4]!);
          }
        }
      },
    },
  ],
  // IQ2_XXS: f16 d, then 8 × (4 grid bytes, u32 of scale and signs).
  [
    'IQ2_XXS',
    {
      elements: 256,
      bytes: 66,
      block: iqXXS(IQ2_XXS_GRID, 0.25, (i) => [2 + 8 * (i >> 5) + ((i >> 3) & 3), 2 + 8 * (i >> 5) + 4]),
    },
  ],
  // IQ3_XXS: f16 d, 64 grid bytes (4 values each), then 8 u32 of scale and signs.
  ['IQ3_XXS', { elements: 256, bytes: 98, block: iqXXS(IQ3_XXS_GRID, 0.5, (i) => [2 + (i >> 2), 66 + 4 * (i >> 5)]) }],
  // IQ2_XS: f16 d, 32 u16 (9-bit grid index, 7-bit sign index), 8 bytes of 4-bit scales (one per 16 values).
  [
    'IQ2_XS',
    {
      elements: 256,
      bytes: 74,
      block(s, at, out, o) {
        const table = grid(IQ2_XS_GRID);
        const d = half(s, at);
        for (let i = 0; i < 256; i++) {
          const q = s.getUint16(at + 2 + 2 * (i >> 3), true);
          out[o + i] = f(f(iq2Scale(s, at + 66, d, i) * table[(q & 511) * 8 + (i & 7)]!) * ksign(q >> 9, i & 7));
        }
      },
    },
  ],
  // IQ2_S: f16 d, 32 low grid bytes, 32 sign bytes, 8 bytes of 2-bit high grid bits, 8 bytes of 4-bit scales.
  [
    'IQ2_S',
    {
      elements: 256,
      bytes: 82,
      block(s, at, out, o) {
        const table = grid(IQ2_S_GRID);
        const d = half(s, at);
        for (let i = 0; i < 256; i++) {
          const k = i >> 3;
          const entry = s.getUint8(at + 2 + k) | (((s.getUint8(at + 66 + (k >> 2)) >> (2 * (k & 3))) & 3) << 8);
          out[o + i] = f(f(iq2Scale(s, at + 74, d, i) * table[entry * 8 + (i & 7)]!) * (bit(s, at + 34, i) ? -1 : 1));
        }
      },
    },
  ],
  // IQ3_S: f16 d, 64 low grid bytes (4 values each), 8 bytes of high grid bits, 32 sign bytes, 4 bytes of 4-bit scales.
  [
    'IQ3_S',
    {
      elements: 256,
      bytes: 110,
      block(s, at, out, o) {
        const table = grid(IQ3_S_GRID);
        const d = half(s, at);
        for (let i = 0; i < 256; i++) {
          const entry = s.getUint8(at + 2 + (i >> 2)) | (bit(s, at + 66, i >> 2) << 8);
          const db = f(d * (1 + 2 * nibble(s, at + 106, i >> 5)));
          out[o + i] = f(f(db * table[entry * 4 + (i & 3)]!) * (bit(s, at + 74, i) ? -1 : 1));
        }
      },
    },
  ],
  // IQ1_S: f16 d, 32 low grid bytes, 8 u16 (four 3-bit high grid bits, 3-bit scale, delta sign), one per 32 values.
  [
    'IQ1_S',
    {
      elements: 256,
      bytes: 50,
      block(s, at, out, o) {
        const d = half(s, at);
        for (let i = 0; i < 256; i++) {
          const k = i >> 3;
          const qh = s.getUint16(at + 34 + 2 * (i >> 5), true);
          const entry = s.getUint8(at + 2 + k) | (((qh >> (3 * (k & 3))) & 7) << 8);
          out[o + i] = iq1(f(d * (2 * ((qh >> 12) & 7) + 1)), entry, (qh & 0x8000) !== 0, i & 7);
        }
      },
    },
  ],
  // IQ1_M: 32 low grid bytes, 16 bytes of nibbles (3 high grid bits, delta sign), 4 u16 of 3-bit scales
  // whose top nibbles together hold the f16 d.
  [
    'IQ1_M',
    {
      elements: 256,
      bytes: 56,
      block(s, at, out, o) {
        const sc = (j: number) => s.getUint16(at + 48 + 2 * j, true);
        const dBits = (sc(0) >> 12) | ((sc(1) >> 8) & 0xf0) | ((sc(2) >> 4) & 0xf00) | (sc(3) & 0xf000);
        const d = f16(dBits);
        for (let i = 0; i < 256; i++) {
          const k = i >> 3;
          const nibble = (s.getUint8(at + 32 + (k >> 1)) >> (4 * (k & 1))) & 15;
          const j = i >> 4;
          const dl = f(d * (2 * ((sc(j >> 2) >> (3 * (j & 3))) & 7) + 1));
          out[o + i] = iq1(dl, s.getUint8(at + k) | ((nibble & 7) << 8), (nibble & 8) !== 0, i & 7);
        }
      },
    },
  ],
  // TQ1_0: 48 bytes of five trits each, 4 bytes of four trits each, f16 d. A byte holds its trits as a
  // fraction of 243: trit k of byte b is the top digit of (b·3^k mod 256)·3 / 256.
];
