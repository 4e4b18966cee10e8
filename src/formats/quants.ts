/**
 * Dequantization of ggml's block formats, as llama.cpp writes them in GGUF: the legacy quants
 * (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0), the K-quants (Q2_K … Q6_K, super-blocks of 256), the i-quants
 * (IQ4_NL, IQ4_XS, and the lattice ones IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M, whose
 * grid tables are data in ./iq-grids.ts), the ternary TQ1_0 and TQ2_0, and MXFP4. Layouts are those
 * of ggml-common.h, as read from the `gguf` Python package (gguf/quants.py, gguf/constants.py
 * GGML_QUANT_SIZES).
 *
 * Results are float32, computed in the reference's order with a float32 rounding after each
 * operation (Math.fround), so they equal `gguf.quants.dequantize` bit for bit.
 *
 * Not readable here: Q8_1 and Q8_K, which ggml uses only for intermediate dot products and
 * llama.cpp does not write to files (the reference package cannot dequantize them either); NVFP4,
 * Q1_0 and Q2_0. Callers ask {@link canDequantize} and report those types as unread.
 *
 * Streaming: {@link dequantizeBlocks} turns any whole number of blocks into the caller's buffer, so
 * a tensor can be read a chunk at a time in bounded memory.
 */
import { ModelsealError } from '../errors.js';
import { f16Values } from './floats.js';
import { IQ1_S_GRID, IQ2_S_GRID, IQ2_XS_GRID, IQ2_XXS_GRID, IQ3_S_GRID, IQ3_XXS_GRID } from './iq-grids.js';

const f = Math.fround;

/** A block format: elements and bytes per block, and how one block at `at` fills `out` from `o`. */
interface BlockFormat {
  elements: number;
  bytes: number;
  block(src: DataView, at: number, out: Float32Array, o: number): void;
}

let F16: Float64Array | undefined;
function half(src: DataView, at: number): number {
  return (F16 ??= f16Values())[src.getUint16(at, true)]!;
}

/** Shared by Q4_0 and IQ4_NL: an f16 scale, then 32 nibbles (low halves first) mapped through `value`. */
function nibbles32(value: (q: number) => number): BlockFormat['block'] {
  return (s, at, out, o) => {
    const d = half(s, at);
    for (let j = 0; j < 16; j++) {
      const b = s.getUint8(at + 2 + j);
      out[o + j] = f(d * value(b & 15));
      out[o + j + 16] = f(d * value(b >> 4));
    }
  };
}

/** Q5_0/Q5_1: the fifth bit of value j is bit j of a u32 at `qh`; the low nibbles follow it. */
function fiveBits(s: DataView, qh: number, j: number): number {
  const high = s.getUint32(qh, true);
  const b = s.getUint8(qh + 4 + (j & 15));
  return (j < 16 ? b & 15 : b >> 4) | (((high >>> j) & 1) << 4);
}

/** The 6-bit scales and mins of Q4_K and Q5_K, packed in 12 bytes at `at`: [scale, min] of sub-block j. */
function scaleMinK(s: DataView, at: number, j: number): [number, number] {
  const b = (i: number) => s.getUint8(at + i);
  if (j < 4) return [b(j) & 63, b(j + 4) & 63];
  return [(b(j + 4) & 15) | ((b(j - 4) >> 6) << 4), (b(j + 4) >> 4) | ((b(j) >> 6) << 4)];
}

/** A lattice table of src/formats/iq-grids.ts, decoded once: entry e's values start at e × width. */
type Grid = { entries: number; width: number; base64: string };
const decodedGrids = new Map<Grid, Int8Array>();
function grid(g: Grid): Int8Array {
  let t = decodedGrids.get(g);
  if (!t) decodedGrids.set(g, (t = new Int8Array(Buffer.from(g.base64, 'base64'))));
  return t;
}

/** Nibble j of the bytes at `at` (low half first), and bit i of the bytes at `at`. */
const nibble = (s: DataView, at: number, j: number) => (s.getUint8(at + (j >> 1)) >> (4 * (j & 1))) & 15;
const bit = (s: DataView, at: number, i: number) => (s.getUint8(at + (i >> 3)) >> (i & 7)) & 1;
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
/** e2m1 values, doubled (the MXFP4 scale is halved to match). */
const MXFP4_VALUES = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12] as const;

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

const FORMATS = new Map<string, BlockFormat>([
  ['Q4_0', { elements: 32, bytes: 18, block: nibbles32((q) => q - 8) }],
  ['IQ4_NL', { elements: 32, bytes: 18, block: nibbles32((q) => IQ4_VALUES[q]!) }],
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
        const d = (F16 ??= f16Values())[dBits]!;
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
]);

/** The block types this module dequantizes, by ggml name. */
export const DEQUANTIZABLE: readonly string[] = Object.freeze([...FORMATS.keys()]);

/** Whether {@link dequantizeBlocks} reads a ggml type (by name: `Q4_K`, `IQ4_NL`, …). */
export function canDequantize(typeName: string): boolean {
  return FORMATS.has(typeName);
}

/**
 * Dequantizes whole blocks of a ggml block type into `out` from `outOffset`.
 *
 * @param typeName ggml type name (see {@link DEQUANTIZABLE})
 * @param src whole blocks of that type (a slice of the tensor's data starting at a block boundary)
 * @param out receives src.length / bytes × elements float32 values
 * @returns how many values were written
 * @throws ModelsealError INVALID_ARGUMENT for a type this module cannot read, a length that is not
 *   whole blocks, or an `out` too small
 * @example dequantizeBlocks('Q4_0', bytes18, new Float32Array(32)) // 32
 */
export function dequantizeBlocks(typeName: string, src: Uint8Array, out: Float32Array, outOffset = 0): number {
  const format = FORMATS.get(typeName);
  if (format === undefined)
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `ggml type ${typeName} cannot be dequantized; readable types: ${DEQUANTIZABLE.join(', ')}`,
    );
  if (!(src instanceof Uint8Array) || src.length % format.bytes !== 0) {
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `${typeName} data must be whole blocks of ${format.bytes} bytes, ` +
        `got ${(src as Uint8Array | undefined)?.length} bytes`,
    );
  }
  const blocks = src.length / format.bytes;
  if (
    !(out instanceof Float32Array) ||
    !Number.isSafeInteger(outOffset) ||
    outOffset < 0 ||
    outOffset + blocks * format.elements > out.length
  ) {
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `out must be a Float32Array with room for ${blocks * format.elements} values from offset ${outOffset}`,
    );
  }
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  for (let b = 0; b < blocks; b++) format.block(view, b * format.bytes, out, outOffset + b * format.elements);
  return blocks * format.elements;
}

/** Elements and bytes per block of a type {@link canDequantize} reads. */
export function blockShape(typeName: string): { elements: number; bytes: number } | undefined {
  const format = FORMATS.get(typeName);
  return format && { elements: format.elements, bytes: format.bytes };
}
