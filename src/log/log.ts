/**
 * The transparency log: a store, the log's Ed25519 note key, and group commit. Every `append`
 * resolves only after its entry is durable and covered by a signed checkpoint, with a receipt
 * (C2SP tlog-proof) that anyone holding the log's verifier key can check offline.
 */
import { ModelsealError } from '../errors.js';
import { formatCheckpoint, formatProof, unverifiedCheckpoint } from './checkpoint.js';
import { consistencyProof, EMPTY_ROOT, inclusionProof, storedIndex, type Hash } from './merkle.js';
import { signNote, type NoteSigner } from './note.js';
import { MAX_ENTRY_BYTES, type LogStore } from './store.js';

/** An entry's place in the log and the proof of it. */
export interface LogReceipt {
  index: number;
  /** The signed checkpoint the proof is against. */
  checkpoint: string;
  /** The C2SP tlog-proof text: the entry itself (as extra data), index, inclusion proof, checkpoint. */
  proof: string;
}

interface Pending {
  entry: Uint8Array;
  resolve: (r: { index: number; size: number; checkpoint: string }) => void;
  reject: (e: unknown) => void;
}

/** Entries committed together at most; more wait for the next commit. */
const MAX_BATCH = 4096;

export interface TransparencyLogOptions {
  /**
   * Least time between the starts of two commits, in ms (default 15). Under load, appends that
   * arrive meanwhile share the next commit, its fsync round and its checkpoint: at most ~67
   * checkpoints a second, which keeps an audit's signature checks in proportion to the entries.
   * An append to an idle log commits at once.
   */
  commitIntervalMs?: number;
}

export class TransparencyLog {
  readonly store: LogStore;
  readonly #signer: NoteSigner;
  #pending: Pending[] = [];
  #committing = false;
  #lastCommit = -Infinity;
  readonly #interval: number;

  /** `signer.name` is the log's origin (C2SP: its URL prefix without the scheme). */
  constructor(store: LogStore, signer: NoteSigner, opts: TransparencyLogOptions = {}) {
    this.store = store;
    this.#signer = signer;
    this.#interval = opts.commitIntervalMs ?? 15;
    const latest = store.checkpoint;
    if (latest !== null) {
      const origin = unverifiedCheckpoint(latest).origin;
      if (origin !== signer.name) {
        throw new ModelsealError(
          'INVALID_ARGUMENT',
          `this log store belongs to log ${JSON.stringify(origin)}, not ${JSON.stringify(signer.name)}: use its key`,
        );
      }
    }
  }

  get origin(): string {
    return this.#signer.name;
  }

  /** The verifier key that checks this log's checkpoints and receipts. */
  get verifierKey(): string {
    return this.#signer.verifierKey;
  }

  get size(): number {
    return this.store.size;
  }

  /** The latest signed checkpoint (for an empty log, a freshly signed one of size 0: hence a promise). */
  get checkpoint(): Promise<string> {
    return this.store.checkpoint !== null
      ? Promise.resolve(this.store.checkpoint)
      : this.#sign({ size: 0, root: EMPTY_ROOT });
  }

  /**
   * Appends `entry` and resolves once it is durable and under a signed checkpoint. Concurrent
   * calls are committed together (one fsync round for all). Throws LOG_UNAVAILABLE when the
   * entry could not be made durable: the caller must then release nothing.
   */
  async append(entry: Uint8Array): Promise<LogReceipt> {
    const { index, size, checkpoint } = await this.#enqueue(entry);
    return {
      index,
      checkpoint,
      proof: formatProof({
        index,
        proof: await inclusionProof(index, size, this.store.readHashes),
        checkpoint,
        extra: Buffer.from(entry),
      }),
    };
  }

  /**
   * Appends `entry` as {@link append} does (durable, under a signed checkpoint when it resolves) but
   * without building its receipt: for entries whose receipt nobody waits for (`receipt(index)` makes
   * one later). Saves the inclusion proof's hash reads on the appender's thread.
   */
  async appendEntry(entry: Uint8Array): Promise<{ index: number; checkpoint: string }> {
    const { index, checkpoint } = await this.#enqueue(entry);
    return { index, checkpoint };
  }

  #enqueue(entry: Uint8Array): Promise<{ index: number; size: number; checkpoint: string }> {
    if (!(entry instanceof Uint8Array) || entry.length > MAX_ENTRY_BYTES) {
      return Promise.reject(
        new ModelsealError('INVALID_ARGUMENT', `a log entry must be at most ${MAX_ENTRY_BYTES} bytes`),
      );
    }
    return new Promise((resolve, reject) => {
      this.#pending.push({ entry, resolve, reject });
      if (!this.#committing) void this.#commitPending();
    });
  }

  async #commitPending(): Promise<void> {
    this.#committing = true;
    try {
      while (this.#pending.length > 0) {
        const wait = this.#lastCommit + this.#interval - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        this.#lastCommit = performance.now();
        const batch = this.#pending.splice(0, MAX_BATCH);
        try {
          const r = await this.store.append(
            batch.map((p) => p.entry),
            this.#sign,
          );
          batch.forEach((p, i) => p.resolve({ index: r.first + i, size: r.size, checkpoint: r.checkpoint }));
        } catch (e) {
          batch.forEach((p) => p.reject(e));
        }
      }
    } finally {
      this.#committing = false;
    }
  }

  #sign = ({ size, root }: { size: number; root: Hash }): Promise<string> =>
    signNote(formatCheckpoint({ origin: this.#signer.name, size, root, extensions: [] }), [this.#signer]);

  /** The receipt for entry `index` against the latest checkpoint. */
  receipt(index: number): Promise<LogReceipt> {
    return receiptFor(this.store, index);
  }

  /** The consistency proof between two tree sizes of this log. */
  consistency(first: number, second: number): Promise<Hash[]> {
    if (second > this.store.size)
      throw new ModelsealError('INVALID_ARGUMENT', `tree size ${second} is beyond the log (size ${this.store.size})`);
    return consistencyProof(first, second, this.store.readHashes);
  }

  /**
   * A C2SP tlog-tiles hash tile: `width` hashes of tree level 8·`level`, starting at node 256·`n`.
   * Null when the tile does not exist at the current size.
   */
  async tile(level: number, n: number, width = 256): Promise<Buffer | null> {
    const per = 256 ** level;
    const full = Math.floor(this.store.size / per);
    if (!(width >= 1 && width <= 256) || 256 * n + width > full) return null;
    const ix = Array.from({ length: width }, (_, i) => storedIndex(8 * level, 256 * n + i));
    return Buffer.concat(await this.store.readHashes(ix));
  }

  /**
   * A C2SP tlog-tiles entry bundle: entries 256·`n` … 256·`n` + `width` − 1. Null when they are not all
   * logged.
   */
  async entryBundle(n: number, width = 256): Promise<Buffer | null> {
    if (!(width >= 1 && width <= 256) || 256 * n + width > this.store.size) return null;
    return this.store.readBundle(256 * n, 256 * n + width);
  }

  /** Waits for pending appends, then closes the store. */
  async close(): Promise<void> {
    while (this.#committing || this.#pending.length > 0) await new Promise((r) => setTimeout(r, 1));
    await this.store.close();
  }
}

/** The receipt for entry `index` of a store against its latest checkpoint (no key needed). */
export async function receiptFor(store: LogStore, index: number): Promise<LogReceipt> {
  const checkpoint = store.checkpoint;
  if (checkpoint === null || !(Number.isSafeInteger(index) && index >= 0 && index < store.size)) {
    throw new ModelsealError('INVALID_ARGUMENT', `entry ${index} is not in the log (size ${store.size})`);
  }
  const size = unverifiedCheckpoint(checkpoint).size;
  const [extra] = await store.readEntries(index, index + 1);
  return {
    index,
    checkpoint,
    proof: formatProof({
      index,
      proof: await inclusionProof(index, size, store.readHashes),
      checkpoint,
      extra: extra!,
    }),
  };
}
