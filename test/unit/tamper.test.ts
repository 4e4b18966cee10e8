import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { Readable } from 'node:stream';
import { join } from 'node:path';
import { fc } from '@fast-check/vitest';
import { open, readHead, seal, verifyPackage } from '../../src/index.js';
import { segmentAt, streamOf, TAR_BLOCK } from '../../src/format/layout.js';
import { detBytes, makeKeys, tempDir } from '../support/fixtures.js';
import { reheader } from '../support/packages.js';

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
/**
 * Opens `bytes` from a file and from a stream; each must fail with exactly its code (a stream may
 * differ from a file only where docs/FORMAT.md §9 "Check order" says) and write nothing.
 */
async function expectRejected(bytes: Uint8Array, fileCode: string, streamCode = fileCode, identities = [keys.alice]) {
  const path = join(dir, `bad-${k}.mseal`);
  const out = join(dir, `out-${k++}`);
  writeFileSync(path, bytes);
  const inputs: [string, string | Readable, string][] = [
    ['file', path, fileCode],
    ['stream', Readable.from([Buffer.from(bytes)]), streamCode],
  ];
  for (const [mode, input, code] of inputs) {
    const err = await open({ input, output: out, identities, trustedPublishers: keys.trusted, threads: 0 }).then(
      () => ({ code: 'OPENED', message: 'opened' }),
      (e: unknown) => e as { code?: string; message?: string },
    );
    expect(err.code, `${mode}: ${err.message}`).toBe(code);
    expect(existsSync(out)).toBe(false);
  }
  expect(readdirSync(dir).filter((f) => f.includes('mseal-partial'))).toEqual([]);
}

/**
 * Replaces the character at `offset` by the next of its class (digit, a–f, g–z, A–Z, - and _): the field stays
 * well-formed, only its value changes.
 */
function alter(bytes: Uint8Array, offset: number): void {
  const classes = ['0123456789', 'abcdef', 'ghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', '-_'];
  const c = String.fromCharCode(bytes[offset]!);
  const cls = classes.find((k) => k.includes(c));
  if (!cls) throw new Error(`the byte at ${offset} (${JSON.stringify(c)}) is not a character of a known class`);
  bytes[offset] = cls.charCodeAt((cls.indexOf(c) + 1) % cls.length);
}

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
  const trailerAt = L.signatureOffset + TAR_BLOCK;
  const trailerText = a.bytes.subarray(trailerAt, trailerAt + 1024).toString('latin1');
  const inTrailer = (needle: string) => trailerAt + trailerText.indexOf(needle);
  // One code per region, the same from a file and from a stream: the walker checks structure and
  // the header signature before any key is asked for, so every header byte the signature covers
  // is SIGNATURE_INVALID unless the parser rejects it first (docs/FORMAT.md §9 "Check order").
  // 'bit' flips bit 2 of a byte whose value is fixed; 'char' changes a random-valued character to
  // another of its class, so the field stays well-formed whatever the keys of this run.
  const regions: [string, number, 'bit' | 'char', string][] = [
    ['tar header of the header entry', 100, 'bit', 'MALFORMED_PACKAGE'],
    ['tar checksum', 150, 'bit', 'MALFORMED_PACKAGE'],
    ['version line', headerStart + 3, 'bit', 'MALFORMED_PACKAGE'],
    ['packageId', at('"packageId":"') + 15, 'char', 'SIGNATURE_INVALID'],
    ['chunk size', at('"chunkSize":') + 13, 'bit', 'MALFORMED_PACKAGE'],
    ['a file size', at('"size":') + 8, 'char', 'SIGNATURE_INVALID'],
    ['first stanza recipient', at('"recipient":"x25519:') + 25, 'char', 'SIGNATURE_INVALID'],
    ['first stanza body', at('"body":"') + 12, 'char', 'SIGNATURE_INVALID'],
    ['second stanza body', headerText.lastIndexOf('"body":"') + headerStart + 12, 'char', 'SIGNATURE_INVALID'],
    ['commitment', at('"commitment":"') + 18, 'char', 'SIGNATURE_INVALID'],
    ['header MAC', at('--- ') + 8, 'char', 'SIGNATURE_INVALID'],
    ['reserve', a.head.headerBytes.length + 2 * TAR_BLOCK + 700, 'bit', 'MALFORMED_PACKAGE'],
    ['provenance ciphertext', segmentAt(streamOf(L, 0), 0).offset + TAR_BLOCK + 40, 'bit', 'DECRYPTION_FAILED'],
    ['first chunk', chunkAt(0) + 5, 'bit', 'DECRYPTION_FAILED'],
    ['middle chunk', chunkAt(1) + 777, 'bit', 'DECRYPTION_FAILED'],
    ['last chunk', chunkAt(3) + 50, 'bit', 'DECRYPTION_FAILED'],
    ['a GCM tag', chunkAt(1) + C + 3, 'bit', 'DECRYPTION_FAILED'],
    ['chunk list', L.chunksEntry.offset + TAR_BLOCK + 40, 'bit', 'SIGNATURE_INVALID'],
    ['signature entry', trailerAt + 60, 'char', 'SIGNATURE_INVALID'],
    [
      'chunk-list digest in the signature entry',
      inTrailer('"chunksDigest":"sha256:') + 30,
      'char',
      'SIGNATURE_INVALID',
    ],
    ['signature bytes', inTrailer('"signature":"') + 20, 'char', 'SIGNATURE_INVALID'],
    // Outside every signature and MAC, but the walker requires the canonical all-zero blocks.
    ['end-of-archive blocks', a.bytes.length - 10, 'bit', 'MALFORMED_PACKAGE'],
  ];
  for (const [name, offset, how, code] of regions) {
    it(`a changed ${how} in the ${name} is ${code}, from a file and from a stream`, async () => {
      const bad = Uint8Array.from(a.bytes);
      if (how === 'bit') bad[offset]! ^= 0x04;
      else alter(bad, offset);
      await expectRejected(bad, code);
    });
  }
  it('a header field the parser rejects (not base64url) is MALFORMED_PACKAGE before the signature is checked', async () => {
    const bad = Uint8Array.from(a.bytes);
    bad[at('"commitment":"') + 18] = '!'.charCodeAt(0);
    await expectRejected(bad, 'MALFORMED_PACKAGE');
  });

  // Damage under a valid publisher signature (a publisher's bug, or a key the attacker stole)
  // reaches the checks after the signature: the key, its commitment, the header MAC.
  const forged: [string, Buffer, string, string?][] = [
    [
      'a stanza body',
      reheader(a.bytes, (h) => void (h.stanzas[0]!.body[3]! ^= 1), keys.publisher),
      'DECRYPTION_FAILED',
    ],
    ['the key commitment', reheader(a.bytes, (h) => void (h.commitment[0]! ^= 1), keys.publisher), 'DECRYPTION_FAILED'],
    [
      'the header MAC (a header field changed)',
      reheader(a.bytes, (h) => void (h.model.name += 'x'), keys.publisher),
      'DECRYPTION_FAILED',
    ],
    [
      'the recipients (nobody of ours)',
      reheader(a.bytes, (h) => h.stanzas.forEach((s) => (s.recipient = `${s.recipient}-gone`)), keys.publisher),
      'NO_MATCHING_IDENTITY',
    ],
  ];
  for (const [name, bad, code] of forged) {
    it(`${name} changed and re-signed by the publisher is ${code}, from a file and from a stream`, async () => {
      await expectRejected(bad, code);
    });
  }
  it('damage in two places: a file reports the structure first; a stream, at the header, what needs no key', async () => {
    const cut = (p: Buffer) => p.subarray(0, p.length - 3000);
    // A stanza that is ours but broken: a stream defers it, so both meet the truncation first.
    await expectRejected(cut(forged[0]![1]), 'TRUNCATED');
    // No stanza is ours: a file still checks the whole structure first; a stream knows at the header.
    await expectRejected(cut(forged[3]![1]), 'TRUNCATED', 'NO_MATCHING_IDENTITY');
  });

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
      await expectRejected(a.bytes.subarray(0, cut), 'TRUNCATED');
    }
  });

  it('two chunks swapped are rejected', async () => {
    const bad = Buffer.from(a.bytes);
    const c0 = Buffer.from(bad.subarray(chunkAt(0), chunkAt(1)));
    bad.copy(bad, chunkAt(0), chunkAt(1), chunkAt(2));
    c0.copy(bad, chunkAt(1));
    await expectRejected(bad, 'DECRYPTION_FAILED');
  });

  it('a chunk spliced from another package is rejected', async () => {
    const bad = Buffer.from(a.bytes);
    Buffer.from(b.bytes).copy(bad, chunkAt(1), chunkAt(1), chunkAt(2));
    await expectRejected(bad, 'DECRYPTION_FAILED');
  });

  it('a stanza spliced from another package is rejected', async () => {
    const other = Buffer.from(b.head.headerBytes).toString('latin1');
    const body = (t: string) => t.slice(t.indexOf('"body":"') + 8, t.indexOf('"', t.indexOf('"body":"') + 8));
    const mine = headerText;
    const forged = mine
      .replace(body(mine), body(other))
      .replace(/"args":\["[^"]+"\]/, /"args":\["[^"]+"\]/.exec(other)![0]);
    const bad = Buffer.from(a.bytes);
    bad.write(forged, headerStart, 'latin1');
    await expectRejected(bad, 'SIGNATURE_INVALID');
  });

  it('a package for another recipient is NO_MATCHING_IDENTITY', async () => {
    const c = await makePackage('c', [keys.bob.recipient]);
    await expectRejected(c.bytes, 'NO_MATCHING_IDENTITY');
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
            (e: unknown) => (e as { code?: string }).code,
          );
          // Only a change to bytes nothing covers may still open, and then identically.
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
          (e: unknown) => (e as { code?: string }).code,
        );
        expect(['MALFORMED_PACKAGE', 'TRUNCATED']).toContain(r);
      }),
      { numRuns: process.env.SLOW ? 500 : 50 },
    );
  });
});
