/**
 * The proofs of a pack: inclusion proofs against one checkpoint, and the consistency proof from it
 * to the latest checkpoint, in a plain text format (docs/AUDIT.md, "consistency"). For a log read
 * over HTTP, which has no stored hashes, the tree is recomputed in memory from the entries.
 */
import { formatProof, openCheckpoint, type Checkpoint } from '../../log/checkpoint.js';
import {
  appendLeaves,
  consistencyProof,
  inclusionProof,
  leafHash,
  type Hash,
  type HashReader,
} from '../../log/merkle.js';
import { parseNote, type NoteVerifier } from '../../log/note.js';
import type { LogStore } from '../../log/store.js';
import { evidenceInvalid } from './pack.js';

const CONSISTENCY_HEADER = 'modelseal consistency v1';

/** The stored-hash layout of the tree of `entries`, held in memory, as a reader. */
export async function memoryHashes(entries: readonly Uint8Array[]): Promise<HashReader> {
  const { stored } = await appendLeaves(0, entries.map(leafHash), () => Promise.resolve([]));
  return (indexes) => Promise.resolve(indexes.map((i) => stored[i]!));
}

/** A checked checkpoint and its signed note. */
export interface SignedCheckpoint {
  note: string;
  checkpoint: Checkpoint;
}

/**
 * The oldest stored checkpoint whose tree holds entry `last`, among those the current log key
 * signed; `latest` when none does. Every one read is checked under `verifier` first: a checkpoint
 * signed only by an earlier key (before a rotation) is passed over, so the pack verifies under
 * today's key alone; a bad signature by `verifier` is LOG_INVALID.
 */
export async function coveringCheckpoint(
  store: LogStore,
  last: number,
  latest: SignedCheckpoint,
  verifier: NoteVerifier,
): Promise<SignedCheckpoint> {
  if (last < 0) return latest;
  for await (const note of store.checkpoints()) {
    if (!signedBy(note, verifier)) continue;
    const checkpoint = openCheckpoint(note, verifier);
    if (checkpoint.size > last && checkpoint.size <= latest.checkpoint.size) return { note, checkpoint };
  }
  return latest;
}

/** Whether `note` carries a signature line by `verifier` (its name and key ID), checked or not. */
function signedBy(note: string, verifier: NoteVerifier): boolean {
  try {
    parseNote(note, [verifier]);
    return true;
  } catch {
    return false;
  }
}

/** The tlog-proof of entry `index` (carrying the entry) against the checkpoint `c`. */
export async function entryProof(index: number, entry: Buffer, c: SignedCheckpoint, read: HashReader): Promise<string> {
  const proof = await inclusionProof(index, c.checkpoint.size, read);
  return formatProof({ index, proof, checkpoint: c.note, extra: entry });
}

/** The consistency proof between two tree sizes, as the pack's `consistency` file. */
export async function consistencyText(first: number, second: number, read: HashReader): Promise<string> {
  const proof = await consistencyProof(first, second, read);
  return (
    [CONSISTENCY_HEADER, String(first), String(second), ...proof.map((h) => h.toString('base64'))].join('\n') + '\n'
  );
}

/** Parses the `consistency` file. */
export function parseConsistency(text: string): { first: number; second: number; proof: Hash[] } {
  const lines = text.split('\n');
  const bad = (what: string) => evidenceInvalid('consistency', what);
  if (lines.pop() !== '' || lines[0] !== CONSISTENCY_HEADER || lines.length < 3)
    throw bad(`expected "${CONSISTENCY_HEADER}", two tree sizes and the proof's hashes, one a line`);
  const size = (s: string) => (/^(0|[1-9][0-9]{0,15})$/.test(s) ? Number(s) : NaN);
  const [first, second] = [size(lines[1]!), size(lines[2]!)];
  if (!Number.isSafeInteger(first) || !Number.isSafeInteger(second)) throw bad('a tree size is not a decimal number');
  const proof = lines.slice(3).map((l, i) => {
    const h = Buffer.from(l, 'base64');
    if (h.length !== 32 || h.toString('base64') !== l) throw bad(`line ${i + 4} is not a base64 SHA-256 hash`);
    return h;
  });
  return { first, second, proof };
}
