/**
 * The independent check of the transparency log: Go's golang.org/x/mod/sumdb/note and
 * golang.org/x/mod/sumdb/tlog (built by test/peers/setup.sh into .peers/tlogcheck) must agree
 * with our verifier on every checkpoint, inclusion proof and consistency proof, good or tampered,
 * and must read our stored-hash layout as its own.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openCheckpoint, formatCheckpoint } from '../../src/log/checkpoint.js';
import {
  consistencyProof,
  inclusionProof,
  storedIndex,
  treeHash,
  verifyConsistency,
  verifyInclusion,
  type Hash,
} from '../../src/log/merkle.js';
import { NoteSigner, parseVerifierKey, signNote } from '../../src/log/note.js';
import { memoryTree } from '../support/tlog.js';

const TLOGCHECK = join(import.meta.dirname, '../../.peers/tlogcheck');

interface Verdict {
  ok: boolean;
  error?: string;
  values?: string[];
}

/** Runs every case through the Go program in one process. */
function goCheck(cases: object[]): Verdict[] {
  if (!existsSync(TLOGCHECK)) throw new Error(`${TLOGCHECK} is missing: run \`bash test/peers/setup.sh\` (npm test does), which builds it with Go`);
  const r = spawnSync(TLOGCHECK, [], { input: cases.map((c) => JSON.stringify(c)).join('\n') + '\n', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`tlogcheck failed: ${r.stderr}`);
  const out = r.stdout.toString().trim().split('\n').map((l) => JSON.parse(l) as Verdict);
  expect(out.length).toBe(cases.length);
  return out;
}

const b64 = (h: Uint8Array) => Buffer.from(h).toString('base64');
const flip = (h: Hash, bit = 0) => {
  const c = Buffer.from(h);
  c[bit % 32]! ^= 1 << bit % 8;
  return c;
};


describe('Go sumdb/tlog and sumdb/note agree with our log verifier', () => {
  const { leaves, stored, read } = memoryTree(1100, (i) => `release ${i}`);
  const sizes = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 255, 256, 257, 511, 1000, 1024, 1025, 1100];

  it('on signed checkpoints, good and tampered', async () => {
    const signer = NoteSigner.generate('modelseal.test/log');
    const stranger = NoteSigner.generate('modelseal.test/log');
    const ours = parseVerifierKey(signer.verifierKey);
    const notes: Array<{ note: string; good: boolean }> = [];
    for (const size of sizes) {
      const root = await treeHash(size, read);
      const note = signNote(formatCheckpoint({ origin: signer.name, size, root, extensions: [] }), [signer]);
      notes.push({ note, good: true });
      notes.push({ note: note.replace(`\n${size}\n`, `\n${size + 1}\n`), good: false });
      notes.push({ note: note.replace(b64(root), b64(flip(root, size))), good: false });
      notes.push({ note: signNote(formatCheckpoint({ origin: signer.name, size, root, extensions: [] }), [stranger]), good: false });
      const sig = note.lastIndexOf(' ') + 10;
      notes.push({ note: note.slice(0, sig) + (note[sig] === 'A' ? 'B' : 'A') + note.slice(sig + 1), good: false });
    }
    notes.push({ note: signNote('modelseal.test/log\n3\n', [signer]), good: false });
    const go = goCheck(notes.map(({ note }) => ({ kind: 'checkpoint', vkey: signer.verifierKey, note })));
    notes.forEach(({ note, good }, i) => {
      let mine = true;
      try {
        openCheckpoint(note, ours);
      } catch {
        mine = false;
      }
      expect({ i, go: go[i]!.ok, mine }).toEqual({ i, go: good, mine: good });
    });
  });

  it('on inclusion proofs, good and tampered', async () => {
    const cases: Array<{ leaf: Hash; index: number; size: number; proof: Hash[]; root: Hash }> = [];
    for (const size of sizes) {
      const root = await treeHash(size, read);
      for (const index of new Set([0, 1, Math.floor(size / 2), size - 2, size - 1].filter((i) => i >= 0 && i < size))) {
        const proof = await inclusionProof(index, size, read);
        const leaf = leaves[index]!;
        cases.push({ leaf, index, size, proof, root });
        cases.push({ leaf: flip(leaf), index, size, proof, root });
        cases.push({ leaf, index: (index + 1) % size, size, proof, root });
        cases.push({ leaf, index, size, proof, root: flip(root, 3) });
        if (proof.length) {
          cases.push({ leaf, index, size, proof: proof.map((h, j) => (j === proof.length - 1 ? flip(h, 7) : h)), root });
          cases.push({ leaf, index, size, proof: proof.slice(0, -1), root });
        }
        cases.push({ leaf, index, size, proof: [...proof, root], root });
      }
    }
    const go = goCheck(cases.map((c) => ({ kind: 'inclusion', leaf: b64(c.leaf), index: c.index, size: c.size, proof: c.proof.map(b64), root: b64(c.root) })));
    let accepted = 0;
    cases.forEach((c, i) => {
      const mine = verifyInclusion(c.leaf, c.index, c.size, c.proof, c.root);
      expect({ i, size: c.size, index: c.index, mine }).toEqual({ i, size: c.size, index: c.index, mine: go[i]!.ok });
      if (mine) accepted++;
    });
    expect(accepted).toBeGreaterThanOrEqual(sizes.length * 2);
  });

  it('on consistency proofs, good and tampered', async () => {
    const cases: Array<{ old: number; size: number; proof: Hash[]; oldRoot: Hash; root: Hash }> = [];
    for (const size of sizes) {
      const root = await treeHash(size, read);
      for (const old of new Set([1, 2, 3, Math.floor(size / 2), size - 1, size].filter((o) => o >= 1 && o <= size))) {
        const oldRoot = await treeHash(old, read);
        const proof = await consistencyProof(old, size, read);
        cases.push({ old, size, proof, oldRoot, root });
        cases.push({ old, size, proof, oldRoot: flip(oldRoot), root });
        cases.push({ old, size, proof, oldRoot, root: flip(root, 9) });
        if (proof.length) {
          cases.push({ old, size, proof: proof.map((h, j) => (j === 0 ? flip(h, 5) : h)), oldRoot, root });
          cases.push({ old, size, proof: proof.slice(1), oldRoot, root });
        }
        if (old < size) cases.push({ old: old + 1, size, proof, oldRoot, root });
      }
    }
    const go = goCheck(
      cases.map((c) => ({ kind: 'consistency', old: c.old, size: c.size, proof: c.proof.map(b64), oldRoot: b64(c.oldRoot), root: b64(c.root) })),
    );
    let accepted = 0;
    cases.forEach((c, i) => {
      const mine = verifyConsistency(c.old, c.size, c.proof, c.oldRoot, c.root);
      expect({ i, old: c.old, size: c.size, mine }).toEqual({ i, old: c.old, size: c.size, mine: go[i]!.ok });
      if (mine) accepted++;
    });
    expect(accepted).toBeGreaterThanOrEqual(sizes.length * 3);
  });

  it('reads our stored hashes as its own layout: same tree hashes and proofs', async () => {
    const cases = [];
    const want: string[][] = [];
    for (const size of [1, 6, 256, 257, 1100]) {
      const index = Math.floor(size / 3);
      const old = Math.max(1, Math.floor(size / 2));
      cases.push({ kind: 'layout', size, index, old, stored: stored.slice(0, storedIndex(0, size)).map(b64) });
      want.push([
        b64(await treeHash(size, read)),
        ...(await inclusionProof(index, size, read)).map(b64),
        '|',
        ...(await consistencyProof(old, size, read)).map(b64),
      ]);
    }
    const go = goCheck(cases);
    go.forEach((v, i) => expect(v).toEqual({ ok: true, values: want[i] }));
  });
});
