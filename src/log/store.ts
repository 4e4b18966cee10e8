/**
 * The storage interface of the transparency log. A backend keeps the entries, the stored subtree
 * hashes (src/log/merkle.ts layout) and every signed checkpoint, and makes an append durable as
 * one unit: after `append` resolves, the entries and the checkpoint covering them survive a crash;
 * if it rejects, none of it is visible. Backends: files (filestore.ts, one process), PostgreSQL
 * (pgstore.ts, shared by several processes in one total order).
 */
import { ModelsealError } from '../errors.js';
import type { Hash, HashReader } from './merkle.js';

/** tlog-tiles entry bundles prefix each entry with a big-endian uint16 length. */
export const MAX_ENTRY_BYTES = 0xffff;

/** Entries as a tlog-tiles entry bundle: each prefixed by its big-endian uint16 length. */
export function encodeBundle(entries: readonly Uint8Array[]): Buffer {
  const bundle = Buffer.allocUnsafe(entries.reduce((n, e) => n + 2 + e.length, 0));
  let at = 0;
  for (const e of entries) {
    bundle.writeUInt16BE(e.length, at);
    bundle.set(e, at + 2);
    at += 2 + e.length;
  }
  return bundle;
}

/** The entries of a bundle; null when it does not parse (a record runs past the end). */
export function splitBundle(bundle: Buffer): Buffer[] | null {
  const out: Buffer[] = [];
  for (let at = 0; at < bundle.length;) {
    if (at + 2 > bundle.length) return null;
    const end = at + 2 + bundle.readUInt16BE(at);
    if (end > bundle.length) return null;
    out.push(bundle.subarray(at + 2, end));
    at = end;
  }
  return out;
}

/** Refuses an append with an entry over MAX_ENTRY_BYTES before anything is written. */
export function checkEntrySizes(entries: readonly Uint8Array[]): void {
  for (const e of entries) {
    if (e.length > MAX_ENTRY_BYTES)
      throw new ModelsealError('INVALID_ARGUMENT', `a log entry is ${e.length} bytes; the limit is ${MAX_ENTRY_BYTES}`);
  }
}

export interface AppendResult {
  /** Index of the first appended entry. */
  first: number;
  /** Tree size after the append. */
  size: number;
  /** The signed checkpoint note for `size`. */
  checkpoint: string;
}

/** Signs the checkpoint for a new tree head; called by the store while it holds its append lock. */
export type CheckpointSigner = (head: { size: number; root: Hash }) => Promise<string>;

export interface LogStore {
  /** Committed tree size. */
  readonly size: number;
  /** The latest signed checkpoint, or null for an empty log. */
  readonly checkpoint: string | null;
  /**
   * Appends entries after everything committed, stores their hashes, signs and stores the new
   * checkpoint, and returns only when all of it is durable. Throws LOG_UNAVAILABLE on failure,
   * leaving the committed state unchanged.
   */
  append(entries: readonly Uint8Array[], sign: CheckpointSigner): Promise<AppendResult>;
  readHashes: HashReader;
  /** Entries [from, to) in order. */
  readEntries(from: number, to: number): Promise<Buffer[]>;
  /** The bytes of entries [from, to) as a tlog-tiles entry bundle (uint16-length-prefixed). */
  readBundle(from: number, to: number): Promise<Buffer>;
  /** Every stored checkpoint note, oldest first. */
  checkpoints(): AsyncIterable<string>;
  /**
   * Backends shared by several processes re-read the committed head, so that `size`, `checkpoint`
   * and the reads cover what the others appended; a process's own appends need no refresh.
   */
  refresh?(): Promise<void>;
  close(): Promise<void>;
}

export type { Hash };
