/**
 * Exact comparison of non-negative decimal strings ("2e+26", "1E26", "210000000000000000000000000"):
 * training compute is too large for a double to tell 10^26 from its neighbours, so thresholds are
 * compared on digits, never on floats.
 */

/** A decimal as integer digits × 10^exponent. */
interface Scaled {
  digits: bigint;
  exponent: number;
}

const DECIMAL = /^(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

/** Parses a non-negative decimal string; null when it is not one. */
export function parseDecimal(text: string): Scaled | null {
  const m = DECIMAL.exec(text);
  if (!m) return null;
  const fraction = m[2] ?? '';
  const exponent = Number(m[3] ?? '0') - fraction.length;
  if (!Number.isSafeInteger(exponent) || Math.abs(exponent) > 1000) return null;
  return { digits: BigInt(m[1]! + fraction), exponent };
}

/** -1, 0 or 1 as a < b, a = b, a > b. */
export function compareDecimal(a: Scaled, b: Scaled): number {
  const e = Math.min(a.exponent, b.exponent);
  const x = a.digits * 10n ** BigInt(a.exponent - e);
  const y = b.digits * 10n ** BigInt(b.exponent - e);
  return x < y ? -1 : x > y ? 1 : 0;
}
