// Types of bf16-checkpoint.mjs for the TypeScript benches (bench/trace-quant-gib.ts).
import type { encodeSafetensorsHeader } from '../src/formats/safetensors.js';

export declare const ROWS: number;
export declare const COLS: number;

/** Writes about `sizeMiB` MiB of BF16 tensors to `path`; returns the bytes written and the tensor count. */
export declare function writeBf16Checkpoint(
  path: string,
  sizeMiB: number,
  encode: typeof encodeSafetensorsHeader,
): { bytes: number; count: number };
