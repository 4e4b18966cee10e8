/**
 * The independent check of the transparency log: Go's golang.org/x/mod/sumdb/note and
 * golang.org/x/mod/sumdb/tlog (built by test/peers/setup.sh into .peers/tlogcheck) must agree
 * with our verifier on every checkpoint, inclusion proof and consistency proof, good or tampered,
 * and must read our stored-hash layout as its own.
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { openCheckpoint, formatCheckpoint, originOfPrefix } from '../../src/log/checkpoint.js';
import { initKeystore } from '../../src/keystore/keystore.js';
import { parseTilePath, startServer } from '../../src/server/http.js';
import { openReleaseService } from '../../src/server/setup.js';
import { tempDir } from '../support/fixtures.js';
import { prng } from '../support/prng.js';
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
import { goCheck, goCheckAsync } from '../support/tlogcheck.js';

const b64 = (h: Uint8Array) => Buffer.from(h).toString('base64');
const flip = (h: Hash, bit = 0) => {
  const c = Buffer.from(h);
  c[bit % 32]! ^= 1 << (bit % 8);
  return c;
};

describe('Go sumdb/tlog and sumdb/note agree with our log verifier', () => {
  const { leaves, stored, read } = memoryTree(1100, (i) => `release ${i}`);
  const sizes = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 255, 256, 257, 511, 1000, 1024, 1025, 1100];

  it('on signed checkpoints, good and tampered', async () => {
    const signer = NoteSigner.generate('modelseal.test/log');
    const stranger = NoteSigner.generate('modelseal.test/log');
    const ours = parseVerifierKey(signer.verifierKey);
    const notes: { note: string; good: boolean }[] = [];
    for (const size of sizes) {
      const root = await treeHash(size, read);
      const note = await signNote(formatCheckpoint({ origin: signer.name, size, root, extensions: [] }), [signer]);
      notes.push({ note, good: true });
      notes.push({ note: note.replace(`\n${size}\n`, `\n${size + 1}\n`), good: false });
      notes.push({ note: note.replace(b64(root), b64(flip(root, size))), good: false });
      notes.push({
        note: await signNote(formatCheckpoint({ origin: signer.name, size, root, extensions: [] }), [stranger]),
        good: false,
      });
      const sig = note.lastIndexOf(' ') + 10;
      notes.push({ note: note.slice(0, sig) + (note[sig] === 'A' ? 'B' : 'A') + note.slice(sig + 1), good: false });
    }
    notes.push({ note: await signNote('modelseal.test/log\n3\n', [signer]), good: false });
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
    const cases: { leaf: Hash; index: number; size: number; proof: Hash[]; root: Hash }[] = [];
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
          cases.push({
            leaf,
            index,
            size,
            proof: proof.map((h, j) => (j === proof.length - 1 ? flip(h, 7) : h)),
            root,
          });
          cases.push({ leaf, index, size, proof: proof.slice(0, -1), root });
        }
        cases.push({ leaf, index, size, proof: [...proof, root], root });
      }
    }
    const go = goCheck(
      cases.map((c) => ({
        kind: 'inclusion',
        leaf: b64(c.leaf),
        index: c.index,
        size: c.size,
        proof: c.proof.map(b64),
        root: b64(c.root),
      })),
    );
    let accepted = 0;
    cases.forEach((c, i) => {
      const mine = verifyInclusion(c.leaf, c.index, c.size, c.proof, c.root);
      expect({ i, size: c.size, index: c.index, mine }).toEqual({ i, size: c.size, index: c.index, mine: go[i]!.ok });
      if (mine) accepted++;
    });
    expect(accepted).toBeGreaterThanOrEqual(sizes.length * 2);
  });

  it('on consistency proofs, good and tampered', async () => {
    const cases: { old: number; size: number; proof: Hash[]; oldRoot: Hash; root: Hash }[] = [];
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
      cases.map((c) => ({
        kind: 'consistency',
        old: c.old,
        size: c.size,
        proof: c.proof.map(b64),
        oldRoot: b64(c.oldRoot),
        root: b64(c.root),
      })),
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

describe('Go sumdb/tlog reads the served log (C2SP tlog-tiles)', () => {
  it('agrees with us on which tile paths are canonical, generated and mutated', () => {
    const rnd = prng(20261205).int;
    const encodeN = (n: number) => {
      const parts = [String(n % 1000).padStart(3, '0')];
      for (n = Math.floor(n / 1000); n > 0; n = Math.floor(n / 1000))
        parts.unshift(`x${String(n % 1000).padStart(3, '0')}`);
      return parts.join('/');
    };
    const mutations: ((p: string) => string)[] = [
      (p) => p.replace(/^\/tile\/(entries|\d+)\//, '/tile/$1/x000/'),
      (p) => p.replace(/^\/tile\/(\d+)\//, '/tile/0$1/'),
      (p) => p.replace(/^\/tile\/(\d+)\//, (_, l: string) => `/tile/${Number(l) + 64}/`),
      (p) => p.replace(/\.p\/(\d+)$/, '.p/0$1'),
      (p) => p.replace(/\.p\/\d+$/, '.p/256'),
      (p) => p.replace(/\.p\/\d+$/, '.p/0'),
      (p) => p.replace(/(\d{3})(\.p|$)/, (_, d: string, t: string) => `${d.slice(1)}${t}`),
      (p) => p.replace(/(\d{3})(\.p|$)/, '0$1$2'),
      (p) => p.replace(/\/x/, '/X'),
      (p) => `${p}/`,
      (p) => p.replace('/tile/', '/tile//'),
      (p) => p.replace(/\/(\d)(\d\d)(\.p|$)/, '/+$2$3'),
      (p) => `${p}.p/`,
      (p) => p.replace('/tile/entries/', '/tile/data/'),
    ];
    const paths: string[] = [];
    for (let i = 0; i < 3000; i++) {
      const level = rnd(5) === 0 ? 'entries' : String(rnd(4) === 0 ? rnd(64) : rnd(3));
      const n = [rnd(1000), rnd(1_000_000), rnd(2 ** 31) * 1000 + rnd(1000)][rnd(3)]!;
      const path = `/tile/${level}/${encodeN(n)}${rnd(2) ? `.p/${1 + rnd(255)}` : ''}`;
      paths.push(i % 2 ? path : mutations[rnd(mutations.length)]!(path));
    }
    const go = goCheck(paths.map((path) => ({ kind: 'tilepath', path })));
    const kinds = { canonical: 0, other: 0 };
    paths.forEach((path, i) => {
      const mine = parseTilePath(path);
      const want = go[i]!.ok ? go[i]!.values! : null;
      const got = mine
        ? [mine.level === 'entries' ? '-1' : String(mine.level), String(mine.n), String(mine.width)]
        : null;
      expect({ path, got }).toEqual({ path, got: want });
      kinds[want ? 'canonical' : 'other']++;
    });
    expect(kinds.canonical).toBeGreaterThan(1500);
    expect(kinds.other).toBeGreaterThan(1000);
  });

  it('verifies every entry of a running service through its tiles, gets entry bundles gzipped, and finds the caching SHOULDs', async () => {
    const dir = tempDir('modelseal-tlog-serve-');
    const keys = join(dir, 'keys');
    await initKeystore(keys, { logOrigin: originOfPrefix('https://releases.test/log/') });
    const setup = await openReleaseService(join(dir, 'data'), keys, { commitIntervalMs: 0 });
    const server = await startServer(setup.service, setup.log, { port: 0, logPrefix: '/log' });
    try {
      for (let i = 0; i < 600; i += 100)
        await Promise.all(
          Array.from({ length: 100 }, (_, j) =>
            setup.log.append(Buffer.from(`entry ${i + j} ${'·'.repeat((i + j) % 40)}`)),
          ),
        );
      expect(setup.log.origin).toBe('releases.test/log');
      const vkey = readFileSync(join(keys, 'log.vkey'), 'utf8').trim();
      // At the root and under the URL prefix the origin names.
      const [root, prefixed] = await goCheckAsync([
        { kind: 'serve', url: server.url, vkey },
        { kind: 'serve', url: `${server.url}/log`, vkey },
      ]);
      for (const v of [root, prefixed])
        expect(v).toEqual({
          ok: true,
          values: ['600', 'uncompressed:false:0', 'uncompressed:false:1', 'uncompressed:true:entries'],
        });
      const head = async (path: string, headers: Record<string, string> = {}) => {
        const r = await fetch(`${server.url}${path}`, { headers });
        return {
          status: r.status,
          cache: r.headers.get('cache-control'),
          encoding: r.headers.get('content-encoding'),
          bytes: Buffer.from(await r.arrayBuffer()),
        };
      };
      expect(await head('/tile/0/000')).toMatchObject({ status: 200, cache: 'public, max-age=31536000, immutable' });
      expect(await head('/tile/0/002.p/88')).toMatchObject({ status: 200, cache: 'public, max-age=60' });
      expect(await head('/log/checkpoint')).toMatchObject({ status: 200, cache: 'public, max-age=2' });
      // fetch decompresses by itself; node:http shows what was sent.
      const gz = await rawGet(server.url, '/tile/entries/000', { 'accept-encoding': 'gzip' });
      const plain = await rawGet(server.url, '/tile/entries/000', { 'accept-encoding': 'identity' });
      expect({ gz: gz.encoding, plain: plain.encoding, cache: gz.cache }).toEqual({
        gz: 'gzip',
        plain: undefined,
        cache: 'public, max-age=31536000, immutable',
      });
      expect(gunzipSync(gz.bytes).equals(plain.bytes)).toBe(true);
      expect(
        (await rawGet(server.url, '/tile/entries/000', { 'accept-encoding': 'gzip;q=0' })).encoding,
      ).toBeUndefined();
      for (const path of [
        '/tile/0/x000/000',
        '/tile/00/000',
        '/tile/0/00',
        '/tile/0/000.p/088',
        '/tile/0/002.p/256',
        '/tile/entries/x000/001',
      ]) {
        expect({ path, status: (await rawGet(server.url, path)).status }).toEqual({ path, status: 404 });
      }
    } finally {
      await server.close();
      await setup.close();
    }
  });
});

function rawGet(
  base: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; encoding: string | undefined; cache: string | undefined; bytes: Buffer }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port, path, headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (b: Buffer) => parts.push(b));
      res.on('end', () =>
        resolve({
          status: res.statusCode!,
          encoding: res.headers['content-encoding'],
          cache: res.headers['cache-control'],
          bytes: Buffer.concat(parts),
        }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}
