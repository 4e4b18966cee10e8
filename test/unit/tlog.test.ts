import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  consistencyProof,
  EMPTY_ROOT,
  inclusionProof,
  leafHash,
  nodeHash,
  storedCount,
  storedIndex,
  treeHash,
  verifyConsistency,
  verifyInclusion,
  type Hash,
} from '../../src/log/merkle.js';
import { NoteSigner, openNote, parseVerifierKey, signNote } from '../../src/log/note.js';
import {
  formatCheckpoint,
  formatProof,
  openCheckpoint,
  parseCheckpoint,
  parseProof,
  verifyProof,
} from '../../src/log/checkpoint.js';
import { isModelsealError } from '../../src/errors.js';
import { memoryTree } from '../support/tlog.js';

const RUNS = process.env.SLOW ? 2000 : 100;

/** The RFC 9162 definitions, literally recursive over the leaves: the reference for the fast code. */
function mth(d: Hash[]): Hash {
  if (d.length === 0) return EMPTY_ROOT;
  if (d.length === 1) return d[0]!;
  let k = 1;
  while (k * 2 < d.length) k *= 2;
  return nodeHash(mth(d.slice(0, k)), mth(d.slice(k)));
}
function path(m: number, d: Hash[]): Hash[] {
  if (d.length <= 1) return [];
  let k = 1;
  while (k * 2 < d.length) k *= 2;
  return m < k ? [...path(m, d.slice(0, k)), mth(d.slice(k))] : [...path(m - k, d.slice(k)), mth(d.slice(0, k))];
}
function subproof(m: number, d: Hash[], b: boolean): Hash[] {
  if (m === d.length) return b ? [] : [mth(d)];
  let k = 1;
  while (k * 2 < d.length) k *= 2;
  return m <= k
    ? [...subproof(m, d.slice(0, k), b), mth(d.slice(k))]
    : [...subproof(m - k, d.slice(k), false), mth(d.slice(0, k))];
}

describe('Merkle tree (RFC 9162)', () => {
  it('matches the 8-leaf tree of the RFC 6962 test data', async () => {
    const entries = [
      '',
      '00',
      '10',
      '2021',
      '3031',
      '40414243',
      '5051525354555657',
      '606162636465666768696a6b6c6d6e6f',
    ].map((h) => Buffer.from(h, 'hex'));
    expect(mth(entries.map(leafHash)).toString('hex')).toBe(
      '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
    );
    expect(EMPTY_ROOT.toString('hex')).toBe(createHash('sha256').digest('hex'));
  });

  it('stores each subtree hash once, at its computed position, in completion order', () => {
    const { stored, leaves } = memoryTree(300);
    expect(stored.length).toBe(storedCount(300));
    for (let level = 0; 2 ** level <= 300; level++) {
      for (let n = 0; (n + 1) * 2 ** level <= 300; n++) {
        expect(stored[storedIndex(level, n)]!.equals(mth(leaves.slice(n * 2 ** level, (n + 1) * 2 ** level)))).toBe(
          true,
        );
      }
    }
  });

  it('roots, inclusion and consistency proofs equal the recursive definitions', async () => {
    const { leaves, read } = memoryTree(200);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 200 }), fc.nat(), fc.nat(), async (size, a, b) => {
        const d = leaves.slice(0, size);
        const root = await treeHash(size, read);
        expect(root.equals(mth(d))).toBe(true);
        const index = a % size;
        const ip = await inclusionProof(index, size, read);
        expect(ip).toEqual(path(index, d));
        expect(verifyInclusion(leaves[index]!, index, size, ip, root)).toBe(true);
        const first = 1 + (b % size);
        const cp = await consistencyProof(first, size, read);
        expect(cp).toEqual(first === size ? [] : subproof(first, d, true));
        expect(verifyConsistency(first, size, cp, mth(leaves.slice(0, first)), root)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('rejects every altered inclusion or consistency proof', async () => {
    const { leaves, read } = memoryTree(130);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 2, max: 130 }), fc.nat(), fc.nat(), fc.nat(), async (size, a, b, c) => {
        const root = await treeHash(size, read);
        const index = a % size;
        const ip = await inclusionProof(index, size, read);
        const other = (index + 1 + (b % (size - 1))) % size;
        expect(verifyInclusion(leaves[other]!, index, size, ip, root)).toBe(false);
        expect(verifyInclusion(leaves[index]!, other, size, ip, root)).toBe(false);
        expect(verifyInclusion(leaves[index]!, size, size, ip, root)).toBe(false);
        expect(verifyInclusion(leaves[index]!, index, size, [...ip, root], root)).toBe(false);
        if (ip.length > 0) {
          const bad = ip.map((h) => Buffer.from(h));
          bad[c % bad.length]![c % 32]! ^= 1;
          expect(verifyInclusion(leaves[index]!, index, size, bad, root)).toBe(false);
          expect(verifyInclusion(leaves[index]!, index, size, ip.slice(1), root)).toBe(false);
        }
        const first = 1 + (b % (size - 1));
        const firstRoot = await treeHash(first, read);
        const cp = await consistencyProof(first, size, read);
        expect(verifyConsistency(first, size, cp, firstRoot, root)).toBe(true);
        expect(verifyConsistency(first, size, cp, root, firstRoot)).toBe(false);
        expect(verifyConsistency(first, size, cp, leafHash(Buffer.from('no such tree')), root)).toBe(false);
        const bad = cp.map((h) => Buffer.from(h));
        bad[c % bad.length]![c % 32]! ^= 1;
        expect(verifyConsistency(first, size, bad, firstRoot, root)).toBe(false);
        expect(verifyConsistency(first, size, cp.slice(0, -1), firstRoot, root)).toBe(false);
        expect(verifyConsistency(first + 1, size, cp, firstRoot, root)).toBe(false);
      }),
      { numRuns: RUNS },
    );
  });

  it('handles the edges: empty tree, size one, equal sizes', async () => {
    const { leaves, read } = memoryTree(1);
    expect((await treeHash(0, read)).equals(EMPTY_ROOT)).toBe(true);
    expect(await inclusionProof(0, 1, read)).toEqual([]);
    expect(verifyInclusion(leaves[0]!, 0, 1, [], leaves[0]!)).toBe(true);
    expect(verifyInclusion(leaves[0]!, 0, 0, [], leaves[0]!)).toBe(false);
    expect(verifyConsistency(0, 1, [], EMPTY_ROOT, leaves[0]!)).toBe(true);
    expect(verifyConsistency(1, 1, [], leaves[0]!, leaves[0]!)).toBe(true);
    expect(verifyConsistency(1, 1, [leaves[0]!], leaves[0]!, leaves[0]!)).toBe(false);
    await expect(inclusionProof(1, 1, read)).rejects.toThrow(RangeError);
  });
});

describe('signed notes and checkpoints (C2SP)', () => {
  const signer = NoteSigner.generate('log.example/modelseal');
  const verifier = parseVerifierKey(signer.verifierKey);
  const text = formatCheckpoint({ origin: signer.name, size: 3, root: leafHash(Buffer.from('x')), extensions: [] });

  it('signs and opens; the signer key round-trips through its encoding', async () => {
    const note = await signNote(text, [signer]);
    expect(note).toMatch(
      /^log\.example\/modelseal\n3\n[A-Za-z0-9+/]{43}=\n\n\u2014 log\.example\/modelseal [A-Za-z0-9+/]+=*\n$/,
    );
    expect(openNote(note, [verifier])).toEqual({ text, verifiedBy: [signer.name], unknownSignatures: 0 });
    expect(openCheckpoint(note, verifier).size).toBe(3);
    const seed = Buffer.concat([Buffer.from([1]), signer.seed]).toString('base64');
    const skey = `PRIVATE+KEY+${signer.name}+${signer.keyId.toString(16).padStart(8, '0')}+${seed}`;
    expect(NoteSigner.fromSignerKey(skey).verifierKey).toBe(signer.verifierKey);
  });

  it('ignores signatures by unknown keys but needs one trusted signature', async () => {
    const other = NoteSigner.generate('witness.example');
    const both = await signNote(text, [other, signer]);
    expect(openNote(both, [verifier])).toMatchObject({ verifiedBy: [signer.name], unknownSignatures: 1 });
    const others = await signNote(text, [other]);
    expect(() => openNote(others, [verifier])).toThrow(/not signed by a trusted key/);
  });

  it('rejects altered text, signatures, key IDs and origins with LOG_INVALID', async () => {
    const note = await signNote(text, [signer]);
    const cases = [
      note.replace('\n3\n', '\n4\n'),
      note.replace(/ ([A-Za-z0-9+/])/, (_, c) => ` ${c === 'A' ? 'B' : 'A'}`),
      note.replace(/=\n$/, 'A\n'),
      note.slice(0, -1),
      note.replace('\n\n', '\n'),
      '',
    ];
    for (const bad of cases) {
      let err: unknown;
      try {
        openCheckpoint(bad, verifier);
      } catch (e) {
        err = e;
      }
      expect(isModelsealError(err, 'LOG_INVALID'), JSON.stringify(bad)).toBe(true);
    }
    expect(() => openCheckpoint(note, verifier, 'another.example/log')).toThrow(/not "another.example\/log"/);
    const renamed = NoteSigner.generate('log.example/other');
    expect(() => parseVerifierKey(renamed.verifierKey.replace('other', 'modelseal'))).toThrow(/key ID/);
  });

  it('parses checkpoints strictly', () => {
    expect(parseCheckpoint(`o\n10\n${EMPTY_ROOT.toString('base64')}\next\n`)).toMatchObject({
      origin: 'o',
      size: 10,
      extensions: ['ext'],
    });
    for (const bad of [
      'o\n10\n',
      `o\n010\n${EMPTY_ROOT.toString('base64')}\n`,
      `o\n1\nAAAA\n`,
      `\n1\n${EMPTY_ROOT.toString('base64')}\n`,
    ]) {
      expect(() => parseCheckpoint(bad)).toThrow(/checkpoint/);
    }
  });

  it('writes and verifies tlog-proof receipts', async () => {
    const { read } = memoryTree(11);
    const entry = Buffer.from('entry 6');
    const root = await treeHash(11, read);
    const checkpoint = await signNote(formatCheckpoint({ origin: signer.name, size: 11, root, extensions: [] }), [
      signer,
    ]);
    const text = formatProof({ index: 6, proof: await inclusionProof(6, 11, read), checkpoint, extra: entry });
    expect(text.startsWith(`c2sp.org/tlog-proof@v1\nextra ${entry.toString('base64')}\nindex 6\n`)).toBe(true);
    expect(parseProof(text).extra?.equals(entry)).toBe(true);
    expect(verifyProof(text, entry, verifier)).toMatchObject({ index: 6, checkpoint: { size: 11 } });
    expect(verifyProof(text, undefined, verifier).entry.equals(entry)).toBe(true);
    expect(() => verifyProof(text, Buffer.from('entry 7'), verifier)).toThrow(/differs/);
    const bare = formatProof({ index: 6, proof: await inclusionProof(6, 11, read), checkpoint });
    expect(() => verifyProof(bare, Buffer.from('entry 7'), verifier)).toThrow(/does not match/);
    expect(() => verifyProof(bare, undefined, verifier)).toThrow(/carries no entry/);
    expect(() => verifyProof(text.replace('index 6', 'index 7'), entry, verifier)).toThrow(/does not match/);
  });
});
