/** The report's one order for keys: the same everywhere, unlike a locale's collation. */

/** Code-unit order with nulls last. */
export function byKey(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return a < b ? -1 : 1;
}
