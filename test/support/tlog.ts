/** An in-memory tree in the stored-hash layout of src/log/merkle.ts, for tests. */
import { encodeEvent, type LogEvent } from '../../src/log/events.js';
import { FileStore } from '../../src/log/filestore.js';
import { TransparencyLog } from '../../src/log/log.js';
import { hashesToStore, leafHash, storedIndex, type Hash, type HashReader } from '../../src/log/merkle.js';
import type { NoteSigner } from '../../src/log/note.js';

export function memoryTree(n: number, entry = (i: number) => `entry ${i}`) {
  const leaves: Hash[] = [];
  const stored: Hash[] = [];
  for (let i = 0; i < n; i++) {
    const leaf = leafHash(Buffer.from(entry(i)));
    leaves.push(leaf);
    stored.push(...hashesToStore(i, leaf, (level, k) => stored[storedIndex(level, k)]!));
  }
  const read: HashReader = async (ix) => ix.map((i) => stored[i]!);
  return { leaves, stored, read };
}

/** A file store at `path` holding `events`, appended one at a time (a checkpoint each), opened read-only. */
export async function fileLogOf(path: string, signer: NoteSigner, events: readonly LogEvent[]): Promise<FileStore> {
  const log = new TransparencyLog(FileStore.open(path), signer, { commitIntervalMs: 0 });
  for (const e of events) await log.append(encodeEvent(e));
  await log.close();
  return FileStore.openReadOnly(path);
}
