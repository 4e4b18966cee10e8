/**
 * Training compute as the record holds it: integer operation counts as plain decimal strings,
 * exact however large (2e26 is "200000000000000000000000000", not a float's nearest value).
 */
import { ModelsealError } from '../../errors.js';
import type { TrainingCompute } from '../../format/classification.js';

const DECIMAL = /^(\d+)(?:\.(\d*))?(?:[eE]\+?(\d{1,3}))?$/;

/**
 * `value` (a number, or a decimal string such as "2e26", "1.5e25" or "210000000000000000000000000")
 * as a positive integer in plain decimal; `what` names the option in errors.
 */
export function decimalInteger(value: number | string, what: string): string {
  const text = typeof value === 'number' ? String(value) : value.trim();
  const m = DECIMAL.exec(text);
  const bad = () =>
    new ModelsealError('INVALID_ARGUMENT', `${what}: expected a positive whole number such as 2e26, got ${text}`);
  if (!m) throw bad();
  const fraction = (m[2] ?? '').replace(/0+$/, '');
  const exponent = Number(m[3] ?? '0');
  if (fraction.length > exponent) throw bad();
  const digits = (m[1]! + fraction + '0'.repeat(exponent - fraction.length)).replace(/^0+/, '');
  if (digits === '') throw bad();
  return digits;
}

/** The training compute the caller gave: declared FLOPs, or 6·N·D from `tokens`; both → INVALID_ARGUMENT. */
export function trainingCompute(
  parameters: number,
  opts: { trainingFlops?: number | string; tokens?: number | string },
): TrainingCompute | null {
  if (opts.trainingFlops !== undefined && opts.tokens !== undefined)
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      'give either --training-flops (declared compute) or --tokens (estimated as 6·N·D), not both',
    );
  if (opts.trainingFlops !== undefined)
    return { flops: decimalInteger(opts.trainingFlops, '--training-flops'), method: 'declared', tokens: null };
  if (opts.tokens !== undefined) {
    const tokens = decimalInteger(opts.tokens, '--tokens');
    return { flops: (6n * BigInt(parameters) * BigInt(tokens)).toString(), method: '6ND', tokens };
  }
  return null;
}
