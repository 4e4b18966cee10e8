/**
 * How many generated cases a fuzz or differential test runs: a size that fits CI by default, and
 * what `npm run fuzz` asks for (MODELSEAL_FUZZ_CASES, 10^5 there), times `share` for a test whose
 * cases cost much more (the differential test runs a tenth: 10^4). Cases come from a seeded PRNG,
 * so a failure names its seed and case number and reproduces.
 */
export function fuzzCases(ciDefault: number, share = 1): number {
  const asked = Number(process.env.MODELSEAL_FUZZ_CASES);
  return Number.isSafeInteger(asked) && asked > 0 ? Math.max(1, Math.round(asked * share)) : ciDefault;
}

/**
 * The seed of a fuzz run: MODELSEAL_FUZZ_SEED to replay one, else fixed in CI (reproducible) and
 * random under `npm run fuzz`.
 */
export function fuzzSeed(): number {
  const asked = Number(process.env.MODELSEAL_FUZZ_SEED);
  if (Number.isSafeInteger(asked)) return asked;
  return process.env.MODELSEAL_FUZZ_CASES ? Math.floor(Math.random() * 2 ** 31) : 20261205;
}
