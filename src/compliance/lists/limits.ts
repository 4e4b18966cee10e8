/** The limits of a list import (docs/SCREENING.md, "Limits"): a file over one is refused with LIST_INVALID. */
export const LIST_LIMITS = {
  /** Bytes of one input file. */
  fileBytes: 4 * 1024 ** 3,
  /** Bytes of one record: a JSON line, a CSV record, an element of a CSL JSON `results` array. */
  recordBytes: 8 * 1024 ** 2,
  /** Party entities of one source (all its files together). */
  entities: 2_000_000,
  /** Names, aliases and weak aliases of one entity together. */
  namesPerEntity: 1_000,
  /** Code points of one name. */
  nameChars: 1_000,
} as const;

/** A list's maximum age, in days, when the import names none (`--max-age`). */
export const DEFAULT_MAX_AGE_DAYS = 7;
