// Types of classify-data.mjs for the tests and TypeScript benches.
import type { encodeSafetensorsHeader } from '../src/formats/safetensors.js';

export declare const TENSORS_PER_SHARD: number;
export declare const SHAPE: [number, number];

/** Writes `shards` tiny safetensors shards and their index into `dir`; returns the tensor and parameter counts. */
export declare function writeShardedIndex(
  dir: string,
  shards: number,
  encode: typeof encodeSafetensorsHeader,
): { tensors: number; parameters: number };
