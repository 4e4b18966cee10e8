/**
 * The auditor's check of a whole log store: recompute the tree from the entries, compare it with
 * every stored hash, check every stored checkpoint's signature, and check that each checkpoint's
 * root is the root of the recomputed tree at its size (so successive checkpoints are consistent:
 * each is a prefix of the same tree). Reports the first problem found.
 */
import { runBulkJob } from '../crypto/bulk.js';
import { CryptoPool } from '../crypto/pool.js';
import { parseCheckpoint } from './checkpoint.js';
import { InferenceLedger, type InferenceCalls } from './inference-audit.js';
import { EMPTY_ROOT, foldRight, hashesToStore, leafHash, rangeSubtrees, storedCount, type Hash } from './merkle.js';
import { parseNote, type NoteVerifier } from './note.js';
import type { LogStore } from './store.js';

export interface AuditProblem {
  /**
   * `entry`: an entry differs from its logged hash; `hash`: a stored interior hash is wrong;
   * `checkpoint`: a checkpoint is forged, out of order or does not match the entries;
   * `inference`: the gateway's entries do not pair (a settle with no admit of its call, or a
   * different recipient or model; a call admitted or settled twice).
   */
  kind: 'entry' | 'hash' | 'checkpoint' | 'inference';
  /** The entry index, stored-hash position or checkpoint number (0 = oldest). */
  index: number;
  message: string;
}

export interface AuditReport {
  ok: boolean;
  origin: string;
  /** Entries in the store, and how many were checked before a problem stopped the audit. */
  size: number;
  entriesChecked: number;
  checkpoints: number;
  /** The latest checkpoint's size and root (base64), when there is one. */
  latest?: { size: number; root: string };
  /** The gateway's calls, when the log holds any (docs/LOG.md, "Inference"). */
  inference?: InferenceCalls;
  problem?: AuditProblem;
}

// Entries per read. Signatures per pool job: the workers verify while this thread recomputes the
// tree (which never yields to the event loop, so the pool does not hand it a job meanwhile); then
// this thread joins them on what is left, in jobs small enough that all lanes finish together.
const BLOCK = 4096;
const SIGNATURES_PER_JOB = 128;

/** Audits `store` against the log's verifier key. Never throws for a bad log: it reports it. */
export async function auditLog(
  store: LogStore,
  log: NoteVerifier,
  opts: {
    origin?: string;
    threads?: number;
    onProgress?: (entries: number, total: number) => void;
    /** Compare the recomputed tree with the store's stored hashes (default true; a log read over HTTP has none). */
    storedHashes?: boolean;
  } = {},
): Promise<AuditReport> {
  const origin = opts.origin ?? log.name;
  const size = store.size;
  const report: AuditReport = { ok: true, origin, size, entriesChecked: 0, checkpoints: 0 };
  const fail = (problem: AuditProblem) => Object.assign(report, { ok: false, problem });

  // 1. Every checkpoint: for this origin, never shrinking, and signed by the log. Signatures are
  // verified on worker threads while this thread recomputes the tree (an Ed25519 verification
  // costs as much as hashing a hundred entries).
  const heads: { size: number; root: Hash }[] = [];
  const signatures = new SignatureQueue(new CryptoPool(opts.threads).start(), log.publicKey);
  try {
    for await (const note of store.checkpoints()) {
      const k = heads.length;
      let head;
      try {
        const parsed = parseNote(note, [log]);
        head = parseCheckpoint(parsed.text);
        if (head.origin !== origin)
          throw new Error(`it is for log ${JSON.stringify(head.origin)}, not ${JSON.stringify(origin)}`);
        for (const { signature } of parsed.signatures) signatures.add(k, Buffer.from(parsed.text, 'utf8'), signature);
      } catch (e) {
        return fail({ kind: 'checkpoint', index: k, message: `checkpoint ${k}: ${(e as Error).message}` });
      }
      const prev = heads[k - 1];
      if (prev && head.size < prev.size)
        return fail({
          kind: 'checkpoint',
          index: k,
          message:
            `checkpoint ${k} has size ${head.size}, smaller than checkpoint ${k - 1} (${prev.size}): ` +
            'the log was rolled back',
        });
      heads.push({ size: head.size, root: head.root });
    }
    report.checkpoints = heads.length;
    const last = heads[heads.length - 1];
    if (last) report.latest = { size: last.size, root: last.root.toString('base64') };
    if ((last?.size ?? 0) !== size)
      return fail({
        kind: 'checkpoint',
        index: heads.length - 1,
        message: `the store holds ${size} entries but its latest checkpoint covers ${last?.size ?? 0}`,
      });
    const calls = new InferenceLedger();
    const treeProblem = await checkTree(store, heads, report, calls, opts.storedHashes ?? true, opts.onProgress);
    // A forged signature outranks what the tree check found after it.
    const forged = await signatures.finish();
    if (forged !== undefined)
      return fail({
        kind: 'checkpoint',
        index: forged,
        message: `checkpoint ${forged}: the signature by ${log.name} does not verify`,
      });
    if (treeProblem) return fail(treeProblem);
    const inference = calls.summary();
    if (inference) report.inference = inference;
    return calls.problem ? fail({ kind: 'inference', ...calls.problem }) : report;
  } finally {
    await signatures.close();
  }
}

/** Signatures to verify in one job; `owners` are the checkpoint numbers they belong to. */
interface SignatureBatch {
  owners: number[];
  messages: Uint8Array[];
  signatures: Uint8Array[];
}

/**
 * Ed25519 signatures by one key, verified on the pool's worker threads as they are added; `finish`
 * has the calling thread verify what the workers have not started, then reports the first failure.
 * Only as many jobs as the workers hold are handed to the pool, so it never runs one on the calling
 * thread while that thread is busy with the tree.
 */
class SignatureQueue {
  #pool: CryptoPool;
  #publicKey: Uint8Array;
  #batches: SignatureBatch[] = [];
  #next = 0;
  #inFlight = 0;
  #failed: number[] = [];
  #failure: { cause: unknown } | undefined;
  #settled: (() => void) | undefined;

  constructor(pool: CryptoPool, publicKey: Uint8Array) {
    this.#pool = pool;
    this.#publicKey = publicKey;
  }

  add(owner: number, message: Uint8Array, signature: Uint8Array): void {
    let b = this.#batches[this.#batches.length - 1];
    if (!b || b.owners.length === SIGNATURES_PER_JOB) {
      b = { owners: [], messages: [], signatures: [] };
      this.#batches.push(b);
    }
    b.owners.push(owner);
    b.messages.push(message);
    b.signatures.push(signature);
    if (b.owners.length === SIGNATURES_PER_JOB) this.#feed();
  }

  #job(b: SignatureBatch) {
    return { op: 'verifyEd25519' as const, publicKey: this.#publicKey, messages: b.messages, signatures: b.signatures };
  }

  #feed(): void {
    const limit = 4 * Math.max(0, this.#pool.threads - 1);
    while (
      this.#inFlight < limit &&
      this.#next < this.#batches.length &&
      this.#batches[this.#next]!.owners.length === SIGNATURES_PER_JOB
    ) {
      const b = this.#batches[this.#next++]!;
      this.#inFlight++;
      void this.#pool.run(this.#job(b)).then(
        (r) => this.#done(b, r.bad!),
        (e: unknown) => {
          this.#failure ??= { cause: e };
          this.#done(b, -1);
        },
      );
    }
  }

  #done(b: SignatureBatch, bad: number): void {
    this.#inFlight--;
    if (bad >= 0) this.#failed.push(b.owners[bad]!);
    this.#feed();
    if (this.#inFlight === 0) this.#settled?.();
  }

  /** Verifies the rest here, waits for the workers; returns the first owner whose signature failed. */
  async finish(): Promise<number | undefined> {
    while (this.#next < this.#batches.length) {
      const b = this.#batches[this.#next++]!;
      const bad = runBulkJob(this.#job(b)).bad!;
      if (bad >= 0) this.#failed.push(b.owners[bad]!);
      await new Promise(setImmediate); // take in worker results, refill them
    }
    if (this.#inFlight > 0) await new Promise<void>((resolve) => (this.#settled = resolve));
    if (this.#failure) throw this.#failure.cause;
    return this.#failed.length > 0 ? Math.min(...this.#failed) : undefined;
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}

/** Recomputes the tree from the entries; compares it with the stored hashes and each checkpoint root. */
async function checkTree(
  store: LogStore,
  heads: readonly { size: number; root: Hash }[],
  report: AuditReport,
  calls: InferenceLedger,
  storedHashes: boolean,
  onProgress?: (entries: number, total: number) => void,
): Promise<AuditProblem | undefined> {
  const size = store.size;
  // 2. The tree, recomputed from the entries, against the stored hashes and each checkpoint root.
  const latestAt: Hash[] = []; // the most recent complete subtree hash at each level
  const rootAt = (n: number) =>
    n === 0 ? EMPTY_ROOT : foldRight(rangeSubtrees(0, n).map(([level]) => latestAt[level]!));
  let next = 0; // next checkpoint to compare
  const checkHeads = (n: number): AuditProblem | undefined => {
    for (; next < heads.length && heads[next]!.size === n; next++) {
      if (!rootAt(n).equals(heads[next]!.root)) {
        const from = [...heads.slice(0, next)].reverse().find((h) => h.size < n)?.size ?? 0;
        return {
          kind: 'checkpoint',
          index: next,
          message:
            `checkpoint ${next} (size ${n}) does not match the logged entries: ` +
            `an entry in [${from}, ${n}) was changed, or the checkpoint was forged`,
        };
      }
    }
    return undefined;
  };
  const p0 = checkHeads(0);
  if (p0) return p0;
  for (let start = 0; start < size; start += BLOCK) {
    const end = Math.min(size, start + BLOCK);
    const entries = await store.readEntries(start, end);
    const base = storedCount(start);
    const stored = storedHashes
      ? await store.readHashes(Array.from({ length: storedCount(end) - base }, (_, i) => base + i))
      : null;
    let at = 0;
    for (let n = start; n < end; n++) {
      const leaf = leafHash(entries[n - start]!);
      calls.add(n, entries[n - start]!);
      const hashes = hashesToStore(n, leaf, (level) => latestAt[level]!);
      for (let level = 0; level < hashes.length; level++, at++) {
        if (stored && !hashes[level]!.equals(stored[at]!)) {
          report.entriesChecked = n;
          return level === 0
            ? {
                kind: 'entry',
                index: n,
                message: `entry ${n} differs from its logged hash: it was changed after it was logged`,
              }
            : {
                kind: 'hash',
                index: base + at,
                message: `the stored hash at level ${level} above entry ${n} is wrong: the hash file was changed`,
              };
        }
        latestAt[level] = hashes[level]!;
      }
      const p = checkHeads(n + 1);
      if (p) {
        report.entriesChecked = n + 1;
        return p;
      }
    }
    report.entriesChecked = end;
    onProgress?.(end, size);
    await new Promise(setImmediate); // take in signature results, refill the workers
  }
  return undefined;
}
