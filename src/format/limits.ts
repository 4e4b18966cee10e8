/**
 * Hard limits of modelseal/v1, checked before any cryptography runs so that a hostile
 * package cannot make a reader allocate, loop or decrypt much. See docs/FORMAT.md §Limits.
 */
export const LIMITS = {
  /** Largest header entry, bytes. */
  maxHeaderBytes: 1 << 20,
  /** Largest reserve entry (header slack kept for rewrap), bytes. */
  maxReserveBytes: 1 << 24,
  /** Recipient stanzas in one package. */
  maxStanzas: 64,
  /** Key groups (k-of-n custody) in one package. */
  maxKeyGroups: 16,
  /** One stanza's encoded JSON, bytes. */
  maxStanzaBytes: 8192,
  /** Files in one package. */
  maxFiles: 10000,
  /**
   * One path, bytes of UTF-8; one path component, bytes. 1024 leaves room for an output folder of
   * 3000 bytes (and open's temporary suffix) under Linux's PATH_MAX of 4096.
   */
  maxPathBytes: 1024,
  maxComponentBytes: 255,
  /** Encrypted provenance (the OMS bundle), plaintext bytes. */
  maxProvenanceBytes: 16 << 20,
  /** Header signature entry (modelseal.header.sig), bytes. */
  maxHeaderSignatureBytes: 1024,
  /** Signature trailer entry, bytes. */
  maxSignatureBytes: 64 << 10,
  /** One file's plaintext size (2^53-1: exact in a JS number). */
  maxFileBytes: Number.MAX_SAFE_INTEGER,
} as const;

/** Chunk sizes allowed: a power of two from 64 KiB to 16 MiB. Default 1 MiB. */
export const MIN_CHUNK_SIZE = 1 << 16;
export const MAX_CHUNK_SIZE = 1 << 24;
export const DEFAULT_CHUNK_SIZE = 1 << 20;

/**
 * Plaintext bytes per segment. Each segment of a file has its own AES-256-GCM key and its own tar
 * entry: no key encrypts more than 4 GiB (far below the 64 GiB DESIGN.md allows) and every tar
 * entry stays below the 8 GiB ustar size field, so the layout is computable from the header alone.
 */
export const SEGMENT_BYTES = 2 ** 32;

/** GCM tag length appended to every chunk. */
export const TAG_BYTES = 16;

export function isValidChunkSize(n: number): boolean {
  return Number.isInteger(n) && n >= MIN_CHUNK_SIZE && n <= MAX_CHUNK_SIZE && (n & (n - 1)) === 0;
}
