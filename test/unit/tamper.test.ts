import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { Readable } from 'node:stream';
import { join } from 'node:path';
import { fc } from '@fast-check/vitest';
import { open, readHead, seal, verifyPackage } from '../../src/index.js';
import { segmentAt, streamOf, TAR_BLOCK } from '../../src/format/layout.js';
import { detBytes, makeKeys, tempDir } from '../support/fixtures.js';

const keys = makeKeys();
const dir = tempDir();
const C = 1 << 16;

async function makePackage(name: string, recipients = [keys.alice.recipient, keys.bob.recipient]) {
  const src = join(dir, `${name}-src`);
  mkdirSync(src, { recursive: true });
  writeFileSync(join(src, 'weights.bin'), detBytes(3 * C + 100, name));
  writeFileSync(join(src, 'config.json'), '{"x":1}\n');
  const pkg = join(dir, `${name}.mseal`);
  await seal({ input: src, output: pkg, recipients, publisher: keys.publisher, chunkSize: C, threads: 0 });
  return { pkg, bytes: readFileSync(pkg), head: await readHead(pkg) };
}

let k = 0;
/** Opens `bytes` from a file and from a stream; both must fail with one of `codes` and write nothing. */
async function expectRejected(bytes: Uint8Array, codes: string[], identities = [keys.alice]) {
  const path = join(dir, `bad-${k}.mseal`);
  const out = join(dir, `out-${k++}`);
  writeFileSync(path, bytes);
  for (const input of [path, Readable.from([Buffer.from(bytes)])]) {
    const err = await open({ input, output: out, identities, trustedPublishers: keys.trusted, threads: 0 }).then(
      () => ({ code: 'OPENED' }),
      (e: { code?: string }) => e,
    );
    expect(codes, `got ${err.code}`).toContain(err.code);
    expect(existsSync(out)).toBe(false);
  }
  expect(readdirSync(dir).filter((f) => f.includes('mseal-partial'))).toEqual([]);
}

const AUTH = [
  'DECRYPTION_FAILED',
  'SIGNATURE_INVALID',
  'MALFORMED_PACKAGE',
  'UNSAFE_PATH',
  'TRUNCATED',
  'UNSUPPORTED_VERSION',
  'HEADER_TOO_LARGE',
  'NO_MATCHING_IDENTITY',
];

describe('tamper matrix: every region, truncation, reordering, splicing', async () => {
  const a = await makePackage('a');
  const b = await makePackage('b');
  const L = a.head.layout;
  const headerStart = TAR_BLOCK;
  const headerText = a.bytes.subarray(headerStart, headerStart + a.head.headerBytes.length).toString('latin1');
  const at = (needle: string) => headerStart + headerText.indexOf(needle);
  const weights = streamOf(L, 2); // files are sorted: config.json (stream 1), weights.bin (stream 2)
  const seg = segmentAt(weights, 0);
  const chunkAt = (i: number) => seg.offset + TAR_BLOCK + i * (C + 16);
  const regions: [string, number, string[]][] = [
    ['tar header of the header entry', 100, ['MALFORMED_PACKAGE']],
    ['tar checksum', 150, ['MALFORMED_PACKAGE']],
    ['version line', headerStart + 3, ['MALFORMED_PACKAGE', 'UNSUPPORTED_VERSION']],
    ['packageId', at('"packageId":"') + 15, AUTH],
    ['chunk size', at('"chunkSize":') + 13, ['MALFORMED_PACKAGE', 'DECRYPTION_FAILED', 'SIGNATURE_INVALID']],
    ['a file size', at('"size":') + 8, AUTH],
    ['first stanza recipient', at('"recipient":"x25519:') + 25, AUTH],
    ['first stanza body', at('"body":"') + 12, AUTH],
    ['second stanza body', headerText.lastIndexOf('"body":"') + headerStart + 12, AUTH],
    ['commitment', at('"commitment":"') + 18, AUTH],
    ['header MAC', at('--- ') + 8, AUTH],
    ['reserve', a.head.headerBytes.length + 2 * TAR_BLOCK + 700, ['MALFORMED_PACKAGE']],
    ['provenance ciphertext', segmentAt(streamOf(L, 0), 0).offset + TAR_BLOCK + 40, AUTH],
    ['first chunk', chunkAt(0) + 5, AUTH],
    ['middle chunk', chunkAt(1) + 777, AUTH],
    ['last chunk', chunkAt(3) + 50, AUTH],
    ['a GCM tag', chunkAt(1) + C + 3, AUTH],
    ['chunk list', L.chunksEntry.offset + TAR_BLOCK + 40, ['SIGNATURE_INVALID']],
    ['signature entry', L.signatureOffset + TAR_BLOCK + 60, ['SIGNATURE_INVALID', 'MALFORMED_PACKAGE']],
    [
      'signature bytes',
      L.signatureOffset + TAR_BLOCK + a.head.trailer.signature.length + 200,
      ['SIGNATURE_INVALID', 'MALFORMED_PACKAGE'],
    ],
    ['end-of-archive blocks', a.bytes.length - 10, ['MALFORMED_PACKAGE', 'OPENED']],
  ];
  for (const [name, offset, codes] of regions) {
    it(`a flipped bit in the ${name} is rejected`, async () => {
      const bad = Uint8Array.from(a.bytes);
      bad[offset]! ^= 0x04;
      // The end blocks are outside every signature; a stream reader may ignore them, a file reader must not.
      if (name === 'end-of-archive blocks') {
        const path = join(dir, 'endblocks.mseal');
        writeFileSync(path, bad);
        await expect(
          open({
            input: path,
            output: join(dir, 'eb'),
            identities: [keys.alice],
            trustedPublishers: keys.trusted,
            threads: 0,
          }),
        ).rejects.toMatchObject({ code: 'MALFORMED_PACKAGE' });
        return;
      }
      await expectRejected(bad, codes);
    });
  }

  it('truncation at and between chunk boundaries, and of every entry, is rejected', async () => {
    for (const cut of [
      100,
      TAR_BLOCK + 10,
      chunkAt(0),
      chunkAt(1),
      chunkAt(1) + 1000,
      chunkAt(2) - 1,
      chunkAt(3),
      L.chunksEntry.offset,
      L.signatureOffset + 20,
      a.bytes.length - 1024,
    ]) {
      await expectRejected(a.bytes.subarray(0, cut), ['TRUNCATED', 'MALFORMED_PACKAGE']);
    }
  });

  it('two chunks swapped are rejected', async () => {
    const bad = Buffer.from(a.bytes);
    const c0 = Buffer.from(bad.subarray(chunkAt(0), chunkAt(1)));
    bad.copy(bad, chunkAt(0), chunkAt(1), chunkAt(2));
    c0.copy(bad, chunkAt(1));
    await expectRejected(bad, AUTH);
  });

  it('a chunk spliced from another package is rejected', async () => {
    const bad = Buffer.from(a.bytes);
    Buffer.from(b.bytes).copy(bad, chunkAt(1), chunkAt(1), chunkAt(2));
    await expectRejected(bad, AUTH);
  });

  it('a stanza spliced from another package is rejected', async () => {
    const other = Buffer.from(b.head.headerBytes).toString('latin1');
    const body = (t: string) => t.slice(t.indexOf('"body":"') + 8, t.indexOf('"', t.indexOf('"body":"') + 8));
    const mine = headerText;
    const forged = mine
      .replace(body(mine), body(other))
      .replace(/"args":\["[^"]+"\]/, other.match(/"args":\["[^"]+"\]/)![0]);
    const bad = Buffer.from(a.bytes);
    bad.write(forged, headerStart, 'latin1');
    await expectRejected(bad, ['DECRYPTION_FAILED', 'SIGNATURE_INVALID']);
  });

  it('a package for another recipient is NO_MATCHING_IDENTITY', async () => {
    const c = await makePackage('c', [keys.bob.recipient]);
    await expectRejected(c.bytes, ['NO_MATCHING_IDENTITY']);
  });

  it('an untrusted publisher is UNTRUSTED_SIGNER, with or without a key', async () => {
    const other = makeKeys();
    await expect(
      open({
        input: a.pkg,
        output: join(dir, 'ut'),
        identities: [keys.alice],
        trustedPublishers: other.trusted,
        threads: 0,
      }),
    ).rejects.toMatchObject({ code: 'UNTRUSTED_SIGNER' });
    await expect(verifyPackage(a.pkg, { trustedPublishers: other.trusted, threads: 0 })).rejects.toMatchObject({
      code: 'UNTRUSTED_SIGNER',
    });
  });

  it('keyless verify finds a modified chunk', async () => {
    const bad = Buffer.from(a.bytes);
    bad[chunkAt(2) + 9]! ^= 1;
    const path = join(dir, 'verify-bad.mseal');
    writeFileSync(path, bad);
    await expect(verifyPackage(path, { trustedPublishers: keys.trusted })).rejects.toMatchObject({
      code: 'SIGNATURE_INVALID',
    });
  });

  it('random mutations never crash, never hang, never produce plaintext', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat(a.bytes.length - 1), fc.integer({ min: 1, max: 255 })), {
          minLength: 1,
          maxLength: 4,
        }),
        async (muts) => {
          const bad = Uint8Array.from(a.bytes);
          for (const [i, x] of muts) bad[i]! ^= x;
          const path = join(dir, `fuzz.mseal`);
          const out = join(dir, `fuzz-out`);
          writeFileSync(path, bad);
          const r = await open({
            input: path,
            output: out,
            identities: [keys.alice],
            trustedPublishers: keys.trusted,
            threads: 0,
          }).then(
            () => 'opened',
            (e: { code?: string }) => e.code,
          );
          // Only a change to bytes nothing covers (tar mtime/padding/end blocks) may still open, and then identically.
          if (r === 'opened') {
            expect(readFileSync(join(out, 'weights.bin')).equals(detBytes(3 * C + 100, 'a'))).toBe(true);
            (await import('node:fs')).rmSync(out, { recursive: true });
          } else {
            expect(r).toMatch(/^[A-Z_]+$/);
            expect(r).not.toBe('INTERNAL');
            expect(existsSync(out)).toBe(false);
          }
        },
      ),
      { numRuns: process.env.SLOW ? 500 : 40 },
    );
  });

  it('random bytes are rejected as not a package', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 0, maxLength: 4096 }), async (junk) => {
        const path = join(dir, 'junk.mseal');
        writeFileSync(path, junk);
        const r = await open({
          input: path,
          output: join(dir, 'junk-out'),
          identities: [keys.alice],
          trustedPublishers: keys.trusted,
          threads: 0,
        }).then(
          () => 'opened',
          (e: { code?: string }) => e.code,
        );
        expect(['MALFORMED_PACKAGE', 'TRUNCATED']).toContain(r);
      }),
      { numRuns: process.env.SLOW ? 500 : 50 },
    );
  });
});
