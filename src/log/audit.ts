/**
 * The auditor's check of a whole log store: recompute the tree from the entries, compare it with
 * every stored hash, check every stored checkpoint's signature, and check that each checkpoint's
 * root is the root of the recomputed tree at its size (so successive checkpoints are consistent:
 * each is a prefix of the same tree). Reports the first problem found.
 */
import { openCheckpoint } from './checkpoint.js';
import { EMPTY_ROOT, foldRight, hashesToStore, leafHash, rangeSubtrees, storedCount, type Hash } from './merkle.js';
import type { NoteVerifier } from './note.js';
import type { LogStore } from './store.js';

export interface AuditProblem {
  /** `entry`: an entry differs from its logged hash; `hash`: a stored interior hash is wrong; `checkpoint`: a checkpoint is forged, out of order or does not match the entries. */
  kind: 'entry' | 'hash' | 'checkpoint';
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
  problem?: AuditProblem;
}

const BLOCK = 1 << 16;

/** Audits `store` against the log's verifier key. Never throws for a bad log: it reports it. */
export async function auditLog(
  store: LogStore,
  log: NoteVerifier,
  opts: { origin?: string; onProgress?: (entries: number, total: number) => void } = {},
): Promise<AuditReport> {
  const origin = opts.origin ?? log.name;
  const size = store.size;
  const report: AuditReport = { ok: true, origin, size, entriesChecked: 0, checkpoints: 0 };
  const fail = (problem: AuditProblem) => Object.assign(report, { ok: false, problem });

  // 1. Every checkpoint: signed by the log, for this origin, never shrinking.
  const heads: Array<{ size: number; root: Hash }> = [];
  for await (const note of store.checkpoints()) {
    const k = heads.length;
    let head;
    try {
      head = openCheckpoint(note, log, origin);
    } catch (e) {
      return fail({ kind: 'checkpoint', index: k, message: `checkpoint ${k}: ${(e as Error).message}` });
    }
    const prev = heads[k - 1];
    if (prev && head.size < prev.size) return fail({ kind: 'checkpoint', index: k, message: `checkpoint ${k} has size ${head.size}, smaller than checkpoint ${k - 1} (${prev.size}): the log was rolled back` });
    heads.push({ size: head.size, root: head.root });
  }
  report.checkpoints = heads.length;
  const last = heads[heads.length - 1];
  if (last) report.latest = { size: last.size, root: last.root.toString('base64') };
  if ((last?.size ?? 0) !== size) return fail({ kind: 'checkpoint', index: heads.length - 1, message: `the store holds ${size} entries but its latest checkpoint covers ${last?.size ?? 0}` });

  // 2. The tree, recomputed from the entries, against the stored hashes and each checkpoint root.
  const latestAt: Hash[] = []; // the most recent complete subtree hash at each level
  const rootAt = (n: number) => (n === 0 ? EMPTY_ROOT : foldRight(rangeSubtrees(0, n).map(([level]) => latestAt[level]!)));
  let next = 0; // next checkpoint to compare
  const checkHeads = (n: number): AuditProblem | undefined => {
    for (; next < heads.length && heads[next]!.size === n; next++) {
      if (!rootAt(n).equals(heads[next]!.root)) {
        const from = [...heads.slice(0, next)].reverse().find((h) => h.size < n)?.size ?? 0;
        return { kind: 'checkpoint', index: next, message: `checkpoint ${next} (size ${n}) does not match the logged entries: an entry in [${from}, ${n}) was changed, or the checkpoint was forged` };
      }
    }
    return undefined;
  };
  const p0 = checkHeads(0);
  if (p0) return fail(p0);
  for (let start = 0; start < size; start += BLOCK) {
    const end = Math.min(size, start + BLOCK);
    const entries = await store.readEntries(start, end);
    const base = storedCount(start);
    const stored = await store.readHashes(Array.from({ length: storedCount(end) - base }, (_, i) => base + i));
    let at = 0;
    for (let n = start; n < end; n++) {
      const leaf = leafHash(entries[n - start]!);
      const hashes = hashesToStore(n, leaf, (level) => latestAt[level]!);
      for (let level = 0; level < hashes.length; level++, at++) {
        if (!hashes[level]!.equals(stored[at]!)) {
          report.entriesChecked = n;
          return level === 0
            ? fail({ kind: 'entry', index: n, message: `entry ${n} differs from its logged hash: it was changed after it was logged` })
            : fail({ kind: 'hash', index: base + at, message: `the stored hash at level ${level} above entry ${n} is wrong: the hash file was changed` });
        }
        latestAt[level] = hashes[level]!;
      }
      const p = checkHeads(n + 1);
      if (p) {
        report.entriesChecked = n + 1;
        return fail(p);
      }
    }
    report.entriesChecked = end;
    opts.onProgress?.(end, size);
  }
  return report;
}
