/** The generated checkpoints of the fingerprint tests cast as the library does, only faster. */
import { describe, expect, it } from 'vitest';
import { encodeFloats } from '../../src/formats/floats.js';
import { encodeFast, rng } from '../support/checkpoints.js';

describe('test/support/checkpoints.ts encodeFast', () => {
  it('gives the bytes of encodeFloats for every float32 class, and on a million random bit patterns', () => {
    const edges = new Uint32Array([
      0x00000000, 0x80000000, 0x00000001, 0x80000001, 0x007fffff, 0x00800000, 0x33000000, 0x33000001, 0x337fffff,
      0x33800000, 0x387fc000, 0x387fe000, 0x387ff000, 0x387fffff, 0x38800000, 0x38801000, 0x38803000, 0x3f800000,
      0x3f801000, 0x3f803000, 0x3f808000, 0x3f818000, 0x3f7fffff, 0x477fe000, 0x477fefff, 0x477ff000, 0x477fffff,
      0x47800000, 0x7f7f7fff, 0x7f7f8000, 0x7f7fffff, 0x7f800000, 0xff800000, 0xc77ff000, 0xb8801000,
    ]);
    const { uniform } = rng(20261205);
    const random = Uint32Array.from({ length: 1_000_000 }, () => Math.floor(uniform() * 2 ** 32));
    for (const bits of [edges, random]) {
      // NaN payloads are not compared: the library writes one NaN whatever the input's payload.
      const values = new Float32Array(bits.buffer).filter((x) => !Number.isNaN(x));
      for (const dtype of ['BF16', 'F16', 'F32'] as const) {
        expect(Buffer.from(encodeFast(dtype, values)).equals(encodeFloats(dtype, values)), dtype).toBe(true);
      }
    }
  });
});
