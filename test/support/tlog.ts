/** An in-memory tree in the stored-hash layout of src/log/merkle.ts, for tests. */
import { hashesToStore, leafHash, storedIndex, type Hash, type HashReader } from '../../src/log/merkle.js';

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
