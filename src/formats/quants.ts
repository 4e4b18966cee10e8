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
import type { BlockFormat } from './quants-blocks.js';
import { IQ_FORMATS } from './quants-iq.js';
import { K_FORMATS } from './quants-k.js';
import { LEGACY_FORMATS } from './quants-legacy.js';

const FORMATS = new Map<string, BlockFormat>([...LEGACY_FORMATS, ...K_FORMATS, ...IQ_FORMATS]);

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
