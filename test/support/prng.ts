/** Seeded choices for generated test cases, on the fingerprint tests' PRNG: the same seed gives the same cases. */
import { rng } from './checkpoints.js';

export function prng(seed: number): {
  int: (n: number) => number;
  pick: <T>(xs: readonly T[]) => T;
  bytes: (n: number) => Buffer;
} {
  const { uniform } = rng(seed);
  const int = (n: number) => Math.floor(uniform() * n);
  return {
    int,
    pick: (xs) => xs[int(xs.length)]!,
    bytes: (n) => Buffer.from(Array.from({ length: n }, () => int(256))),
  };
}
