/**
 * RFC 9162 §2.1 Merkle tree hashing, inclusion and consistency proofs, and the layout in which a
 * store keeps every complete subtree hash so that any proof or tile is a handful of reads.
 *
 * Sizes and indexes are JS numbers (exact below 2^53); bit tricks on them go through the helpers
 * below, because `>>` and `&` would truncate to 32 bits.
 */
import { createHash, hash, timingSafeEqual } from 'node:crypto';

export const HASH_SIZE = 32;
export type Hash = Buffer;

/** The hash of the empty tree, SHA-256 of nothing (RFC 9162 §2.1.1). */
export const EMPTY_ROOT: Hash = createHash('sha256').digest();

/** MTH of one entry: SHA-256(0x00 ‖ entry). */
export function leafHash(entry: Uint8Array): Hash {
  const b = Buffer.allocUnsafe(1 + entry.length);
  b[0] = 0;
  b.set(entry, 1);
  return sha256(b);
}

/** An interior node: SHA-256(0x01 ‖ left ‖ right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Hash {
  const b = Buffer.allocUnsafe(1 + 2 * HASH_SIZE);
  b[0] = 1;
  b.set(left, 1);
  b.set(right, 1 + HASH_SIZE);
  return sha256(b);
}

// One-shot hashing: a log audit hashes millions of small inputs, where createHash's per-call
// object costs three times the hashing itself.
const sha256 = (b: Buffer): Hash => hash('sha256', b, 'buffer');

const odd = (x: number) => x % 2 === 1;
const half = (x: number) => Math.floor(x / 2);

/** The largest power of two strictly below n (n ≥ 2). */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

export function hashesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

// ---- stored hashes ----
//
// A store keeps, for every complete aligned subtree [n·2^L, (n+1)·2^L), its hash, in the order the
// subtrees complete: leaf n is followed by the parents it completes. Appending a leaf is then one
// contiguous write, and the position of a subtree is arithmetic (the same layout as Go's
// golang.org/x/mod/sumdb/tlog, so its proofs and ours read the same hashes).

/** Position of the level-`level` subtree number `n` among the stored hashes. */
export function storedIndex(level: number, n: number): number {
  // Level L's n-th hash comes right after level L−1's (2n+1)-th; walk down to level 0.
  for (let l = level; l > 0; l--) n = 2 * n + 1;
  // Before leaf n come n leaves, n/2 level-1 hashes, n/4 level-2 hashes, ...
  let i = 0;
  for (; n > 0; n = half(n)) i += n;
  return i + level;
}

/** How many hashes a tree of `size` leaves stores. */
export function storedCount(size: number): number {
  return storedIndex(0, size);
}

/**
 * The hashes to store when leaf `n` is appended: its leaf hash, then each parent it completes.
 * `left(level, k)` returns the stored level-`level` hash number `k` (a left sibling).
 */
export function hashesToStore(n: number, leaf: Hash, left: (level: number, k: number) => Hash): Hash[] {
  const out = [leaf];
  let h = leaf;
  for (let level = 0, m = n; odd(m); level++, m = half(m)) {
    h = nodeHash(left(level, m - 1), h);
    out.push(h);
  }
  return out;
}

/**
 * Appends `leaves` to a tree of `start` leaves: the hashes to store after the existing ones, and
 * the new root. Only the old tree's right edge (at most 64 hashes) is read through `read`.
 */
export async function appendLeaves(
  start: number,
  leaves: readonly Hash[],
  read: HashReader,
): Promise<{ stored: Hash[]; root: Hash }> {
  const edge = rangeSubtrees(0, start).map(([level, n]) => storedIndex(level, n));
  const old = new Map<number, Hash>();
  (await read(edge)).forEach((h, i) => old.set(edge[i]!, h));
  const base = storedCount(start);
  const stored: Hash[] = [];
  const at = (level: number, n: number) => {
    const i = storedIndex(level, n);
    return i < base ? old.get(i)! : stored[i - base]!;
  };
  leaves.forEach((leaf, i) => stored.push(...hashesToStore(start + i, leaf, at)));
  const size = start + leaves.length;
  if (size === 0) return { stored, root: EMPTY_ROOT };
  return { stored, root: foldRight(rangeSubtrees(0, size).map(([level, n]) => at(level, n))) };
}

/** A half-open range of leaves [lo, hi) whose Merkle tree hash a proof needs. */
export type Range = readonly [lo: number, hi: number];

/**
 * The complete subtrees that make up [lo, hi), left to right, as [level, n] pairs: the binary
 * decomposition that RFC 9162's recursion produces (the ranges below always start aligned).
 */
export function rangeSubtrees(lo: number, hi: number): [level: number, n: number][] {
  const out: [number, number][] = [];
  while (lo < hi) {
    let level = 0;
    let size = 1;
    while (lo % (size * 2) === 0 && lo + size * 2 <= hi) {
      size *= 2;
      level++;
    }
    out.push([level, lo / size]);
    lo += size;
  }
  return out;
}

/** MTH of a range from its complete subtrees, left to right: node(first, MTH(rest)). */
export function foldRight(subtrees: readonly Hash[]): Hash {
  let h = subtrees[subtrees.length - 1]!;
  for (let i = subtrees.length - 2; i >= 0; i--) h = nodeHash(subtrees[i]!, h);
  return h;
}

/** Reads stored hashes by position; a store implements it with one batched read. */
export type HashReader = (indexes: readonly number[]) => Promise<Hash[]>;

/** MTH of each range, with one call to `read` for all of them. */
export async function rangeHashes(ranges: readonly Range[], read: HashReader): Promise<Hash[]> {
  const parts = ranges.map(([lo, hi]) => rangeSubtrees(lo, hi));
  const indexes = parts.flatMap((p) => p.map(([level, n]) => storedIndex(level, n)));
  const hashes = await read(indexes);
  let at = 0;
  return parts.map((p) => {
    return foldRight(hashes.slice(at, (at += p.length)));
  });
}

/** The root hash of the first `size` leaves. */
export async function treeHash(size: number, read: HashReader): Promise<Hash> {
  if (size === 0) return EMPTY_ROOT;
  return (await rangeHashes([[0, size]], read))[0]!;
}

// ---- proofs (RFC 9162 §2.1.3.1 and §2.1.4.1), as the ranges whose hashes they list ----

/** The ranges of the inclusion proof for leaf `index` in a tree of `size`, leaf's sibling first. */
export function inclusionRanges(index: number, size: number): Range[] {
  // The recursion appends each sibling on the way out; collect them going in, then reverse.
  const stack: Range[] = [];
  let lo = 0;
  let hi = size;
  while (hi - lo > 1) {
    const k = splitPoint(hi - lo);
    if (index < lo + k) {
      stack.push([lo + k, hi]);
      hi = lo + k;
    } else {
      stack.push([lo, lo + k]);
      lo = lo + k;
    }
  }
  return stack.reverse();
}

/** The ranges of the consistency proof from tree size `first` to `second` (0 < first < second). */
export function consistencyRanges(first: number, second: number): Range[] {
  const stack: Range[] = [];
  let m = first;
  let lo = 0;
  let hi = second;
  let whole = true;
  for (;;) {
    const n = hi - lo;
    if (m === n) {
      if (!whole) stack.push([lo, hi]);
      break;
    }
    const k = splitPoint(n);
    if (m <= k) {
      stack.push([lo + k, hi]);
      hi = lo + k;
    } else {
      stack.push([lo, lo + k]);
      lo = lo + k;
      m -= k;
      whole = false;
    }
  }
  return stack.reverse();
}

export async function inclusionProof(index: number, size: number, read: HashReader): Promise<Hash[]> {
  if (!(index >= 0 && index < size))
    throw new RangeError(`inclusion proof: index ${index} is not below tree size ${size}`);
  return rangeHashes(inclusionRanges(index, size), read);
}

export async function consistencyProof(first: number, second: number, read: HashReader): Promise<Hash[]> {
  if (!(first >= 0 && first <= second))
    throw new RangeError(`consistency proof: size ${first} is not at most ${second}`);
  if (first === 0 || first === second) return [];
  return rangeHashes(consistencyRanges(first, second), read);
}

// ---- verification (RFC 9162 §2.1.3.2 and §2.1.4.2) ----

/** Whether `proof` shows the leaf with hash `leaf` at `index` in the tree of `size` with `root`. */
export function verifyInclusion(
  leaf: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  if (!(Number.isSafeInteger(index) && Number.isSafeInteger(size) && index >= 0 && index < size)) return false;
  if (proof.some((p) => p.length !== HASH_SIZE)) return false;
  let fn = index;
  let sn = size - 1;
  let r: Uint8Array = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if (odd(fn) || fn === sn) {
      r = nodeHash(p, r);
      while (!odd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && hashesEqual(r, root);
}

/** Whether `proof` shows the tree (`second`, `secondRoot`) extends the tree (`first`, `firstRoot`). */
export function verifyConsistency(
  first: number,
  second: number,
  proof: readonly Uint8Array[],
  firstRoot: Uint8Array,
  secondRoot: Uint8Array,
): boolean {
  if (!(Number.isSafeInteger(first) && Number.isSafeInteger(second) && first >= 0 && first <= second)) return false;
  if (proof.some((p) => p.length !== HASH_SIZE)) return false;
  if (first === second) return proof.length === 0 && hashesEqual(firstRoot, secondRoot);
  if (first === 0) return proof.length === 0 && hashesEqual(firstRoot, EMPTY_ROOT);
  if (proof.length === 0) return false;
  // When `first` is a power of two its root is the first node of the path, left implicit.
  const path = isPowerOfTwo(first) ? [firstRoot, ...proof] : [...proof];
  let fn = first - 1;
  let sn = second - 1;
  while (odd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr: Uint8Array = path[0]!;
  let sr: Uint8Array = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (odd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (!odd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && hashesEqual(fr, firstRoot) && hashesEqual(sr, secondRoot);
}

function isPowerOfTwo(n: number): boolean {
  return n >= 1 && 2 ** Math.round(Math.log2(n)) === n;
}
