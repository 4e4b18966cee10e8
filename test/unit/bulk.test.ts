/** The bulk jobs the worker threads run (src/crypto/bulk.ts), called directly on this thread. */
import { describe, expect, it } from 'vitest';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { runBulkJob } from '../../src/crypto/bulk.js';
import { CryptoPool, SMALL_PAYLOAD_BYTES } from '../../src/crypto/pool.js';
import { decryptChunk } from '../../src/crypto/chunk.js';
import { detBytes, tempDir } from '../support/fixtures.js';

const dir = tempDir();
const C = 1 << 16;

describe('bulk jobs', () => {
  const key = randomBytes(32);
  const plain = detBytes(3 * C + 100, 'bulk');
  const src = join(dir, 'plain.bin');
  const dst = join(dir, 'sealed.bin');
  writeFileSync(src, plain);
  writeFileSync(dst, '');
  const piece = { firstCounter: 0, chunks: 4, chunkSize: C, lastLength: 100, finalLast: true, packagePos: 512 };

  it('seal writes every chunk at its offset, leaves the plaintext it read in the shared buffer and returns each chunk digest; open and hash agree', () => {
    const inFd = openSync(src, 'r');
    const outFd = openSync(dst, 'r+');
    try {
      const buf = new SharedArrayBuffer(4 * C);
      const r = runBulkJob({ op: 'seal', key, inFd, inPos: 0, outFd, buf, ...piece });
      expect(Buffer.from(buf, 0, r.length).equals(plain)).toBe(true);
      const sealed = readFileSync(dst).subarray(512);
      expect(sealed.length).toBe(plain.length + 4 * 16);
      for (let i = 0; i < 4; i++) {
        const c = sealed.subarray(i * (C + 16), Math.min(sealed.length, (i + 1) * (C + 16)));
        expect(
          Buffer.from(r.digests!.subarray(32 * i, 32 * i + 32)).equals(createHash('sha256').update(c).digest()),
        ).toBe(true);
        expect(decryptChunk(key, i, i === 3, c)?.equals(plain.subarray(i * C, i * C + C))).toBe(true);
      }
      const h = runBulkJob({ op: 'hash', inFd: outFd, ...piece });
      expect(Buffer.from(h.digests!).equals(Buffer.from(r.digests!))).toBe(true);
      const back = join(dir, 'back.bin');
      writeFileSync(back, '');
      const backFd = openSync(back, 'r+');
      const o = runBulkJob({
        op: 'open',
        key,
        inFd: outFd,
        outFd: backFd,
        outPos: 0,
        buf: new ArrayBuffer(4 * C),
        ...piece,
      });
      closeSync(backFd);
      expect(o.bad).toBe(-1);
      expect(readFileSync(back).equals(plain)).toBe(true);
    } finally {
      closeSync(inFd);
      closeSync(outFd);
    }
  });

  it('open names the first chunk that does not authenticate and writes nothing', () => {
    const bytes = readFileSync(dst);
    bytes[512 + 2 * (C + 16) + 5]! ^= 1;
    const bad = join(dir, 'bad.bin');
    writeFileSync(bad, bytes);
    const out = join(dir, 'bad-out.bin');
    writeFileSync(out, '');
    const inFd = openSync(bad, 'r');
    const outFd = openSync(out, 'r+');
    try {
      expect(runBulkJob({ op: 'open', key, inFd, outFd, outPos: 0, buf: new ArrayBuffer(4 * C), ...piece }).bad).toBe(
        2,
      );
      expect(readFileSync(out).length).toBe(0);
    } finally {
      closeSync(inFd);
      closeSync(outFd);
    }
  });

  it('a file shorter than its piece is a SHORT_READ (seal maps it to "changed while sealing")', () => {
    const short = join(dir, 'short.bin');
    writeFileSync(short, plain.subarray(0, 2 * C));
    const inFd = openSync(short, 'r');
    const outFd = openSync(dst, 'r+');
    try {
      expect(() =>
        runBulkJob({ op: 'seal', key, inFd, inPos: 0, outFd, buf: new SharedArrayBuffer(4 * C), ...piece }),
      ).toThrow(expect.objectContaining({ code: 'SHORT_READ' }));
    } finally {
      closeSync(inFd);
      closeSync(outFd);
    }
  });
});

describe('the crypto pool', () => {
  it('runs jobs on worker threads once they booted, with the same results as on this thread', async () => {
    const pool = new CryptoPool(2);
    try {
      await pool.whenReady();
      const data = Array.from({ length: 16 }, (_, i) => detBytes(1 << 16, `pool${i}`));
      const digests = await Promise.all(data.map((d) => pool.run({ op: 'hashChunk', data: new Uint8Array(d) })));
      for (const [i, r] of digests.entries())
        expect(Buffer.from(r.digests!).equals(createHash('sha256').update(data[i]!).digest())).toBe(true);
      expect(pool.jobsOnWorkers).toBeGreaterThan(0);
      expect(pool.jobsOnWorkers).toBeLessThanOrEqual(16);
    } finally {
      await pool.close();
    }
  });

  it('with one thread runs everything on the calling thread', async () => {
    const pool = new CryptoPool(1);
    const r = await pool.run({ op: 'hashChunk', data: new Uint8Array(10) });
    expect(r.digests!.length).toBe(32);
    expect(pool.jobsOnWorkers).toBe(0);
    await pool.close();
  });

  it('starts no worker for a small payload unless the thread count was chosen', () => {
    const saved = process.env.MODELSEAL_THREADS;
    delete process.env.MODELSEAL_THREADS;
    try {
      const cores = new CryptoPool().threads;
      expect(new CryptoPool().sized(SMALL_PAYLOAD_BYTES - 1).threads).toBe(1);
      expect(new CryptoPool().sized(SMALL_PAYLOAD_BYTES).threads).toBe(cores);
      expect(new CryptoPool(3).sized(1).threads).toBe(3);
      process.env.MODELSEAL_THREADS = '2';
      expect(new CryptoPool().sized(1).threads).toBe(2);
    } finally {
      if (saved === undefined) delete process.env.MODELSEAL_THREADS;
      else process.env.MODELSEAL_THREADS = saved;
    }
  });
});
