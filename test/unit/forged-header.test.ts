/**
 * Issue 16 item 2: no key provider is reached before the publisher signature over the header is
 * verified and its signer trusted — in every path that can unwrap a data key: open from a file,
 * open from a stream, rewrap, reseal, readRange. Every provider (local, x25519, KMS, HSM, the
 * release service) is reached only through Identity.unwrapDataKey (and, in rewrap, a Recipient),
 * so counting those calls counts every key request.
 */
import { describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { newPublisherKey, open, readRange, reseal, rewrap, seal, type Identity } from '../../src/index.js';
import { encodeHeaderSignature } from '../../src/format/signature.js';
import { ENTRY } from '../../src/format/layout.js';
import type { Recipient } from '../../src/providers/types.js';
import { detBytes, makeKeys, tempDir } from '../support/fixtures.js';
import { regionOf, reheader, replaceEntry } from '../support/packages.js';
import { parseHeaderSignature } from '../../src/format/signature.js';

const keys = makeKeys();
const dir = tempDir('modelseal-forged-');
let calls = 0;
const counting = (inner: Identity): Identity => ({
  description: `counting ${inner.description}`,
  unwrapDataKey: (s, c) => {
    calls++;
    return inner.unwrapDataKey(s, c);
  },
});
const countingRecipient = (inner: Recipient): Recipient => ({
  type: inner.type,
  id: inner.id,
  wrapDataKey: (k, c) => {
    calls++;
    return inner.wrapDataKey(k, c);
  },
});

describe('forged headers reach no key provider (issue 16 item 2)', async () => {
  const src = join(dir, 'src');
  mkdirSync(src, { recursive: true });
  writeFileSync(join(src, 'weights.bin'), detBytes(200_000, 'forged'));
  const pkg = join(dir, 'good.mseal');
  await seal({
    input: src,
    output: pkg,
    recipients: [keys.alice.recipient],
    publisher: keys.publisher,
    chunkSize: 1 << 16,
    threads: 0,
  });
  const good = readFileSync(pkg);
  const { headerSigAt } = regionOf(good);
  const sigBytes = good.subarray(
    headerSigAt + 512,
    headerSigAt + 512 + parseInt(good.subarray(headerSigAt + 124, headerSigAt + 135).toString(), 8),
  );
  const sig = parseHeaderSignature(sigBytes);
  const flipped = new Uint8Array(sig.signature);
  flipped[10]! ^= 1;
  const license = (h: { stanzas: { license: string }[] }) => void (h.stanzas[0]!.license = 'STOLEN');

  const forgeries: [string, Buffer, string][] = [
    [
      'a header re-signed (both signatures) by an untrusted key',
      reheader(good, license, newPublisherKey().publisher),
      'UNTRUSTED_SIGNER',
    ],
    ['a header changed under its old signature', reheader(good, license), 'SIGNATURE_INVALID'],
    [
      'a header signature whose signature bytes are garbled',
      replaceEntry(good, headerSigAt, ENTRY.headerSignature, encodeHeaderSignature({ ...sig, signature: flipped })),
      'SIGNATURE_INVALID',
    ],
    [
      'a header signature that is not JSON',
      replaceEntry(good, headerSigAt, ENTRY.headerSignature, Buffer.from('garbage\n')),
      'MALFORMED_PACKAGE',
    ],
    [
      'a header signature by the untrusted key over the real header',
      replaceEntry(
        good,
        headerSigAt,
        ENTRY.headerSignature,
        Buffer.from(
          sigBytes
            .toString()
            .replace(
              /"publicKey":"[^"]+"/,
              `"publicKey":"${Buffer.from(newPublisherKey().publisher.spki).toString('base64url')}"`,
            ),
        ),
      ),
      'SIGNATURE_INVALID',
    ],
  ];
  const identities = [counting(keys.alice)];
  let n = 0;
  for (const [what, bytes, code] of forgeries) {
    const modes: [string, (path: string) => Promise<unknown>][] = [
      [
        'open (file)',
        (p) =>
          open({ input: p, output: join(dir, `o${n++}`), identities, trustedPublishers: keys.trusted, threads: 0 }),
      ],
      [
        'open (stream)',
        () =>
          open({
            input: Readable.from([bytes]),
            output: join(dir, `o${n++}`),
            identities,
            trustedPublishers: keys.trusted,
            threads: 0,
          }),
      ],
      [
        'rewrap',
        (p) =>
          rewrap(p, {
            identities,
            trustedPublishers: keys.trusted,
            publisher: keys.publisher,
            add: [countingRecipient(keys.bob.recipient)],
          }),
      ],
      [
        'reseal',
        (p) =>
          reseal(p, {
            identities,
            trustedPublishers: keys.trusted,
            publisher: keys.publisher,
            output: join(dir, `r${n++}.mseal`),
            add: [countingRecipient(keys.bob.recipient)],
            threads: 0,
          }),
      ],
      ['readRange', (p) => readRange(p, 'weights.bin', 0, 10, { identities, trustedPublishers: keys.trusted })],
    ];
    for (const [mode, run] of modes) {
      it(`${what}: ${mode} → ${code}, no key request`, async () => {
        const path = join(dir, `f${n++}.mseal`);
        writeFileSync(path, bytes);
        calls = 0;
        const err = await run(path).then(
          () => ({ code: 'ACCEPTED' }),
          (e: unknown) => e as { code?: string },
        );
        expect(err.code).toBe(code);
        expect(calls).toBe(0);
        expect(readFileSync(path).equals(bytes)).toBe(true);
      });
    }
  }

  // A file is checked whole before its key is requested: a damaged copy of a genuine package (its
  // header authentic) must not burn a release either. A stream cannot wait; it unlocks at the header.
  for (const [what, bytes, code] of [
    ['cut off in the payload', good.subarray(0, good.length - 40_000), 'TRUNCATED'],
    ['missing its end-of-archive blocks', good.subarray(0, good.length - 1024), 'TRUNCATED'],
    [
      'with a damaged payload tar block',
      Buffer.concat([good.subarray(0, good.length - 3000), Buffer.from('x'), good.subarray(good.length - 2999)]),
      'MALFORMED_PACKAGE',
    ],
  ] as const) {
    it(`a genuine package ${what}: open (file) → ${code}, no key request`, async () => {
      const path = join(dir, `d${n++}.mseal`);
      writeFileSync(path, bytes);
      calls = 0;
      const err = await open({
        input: path,
        output: join(dir, `o${n++}`),
        identities,
        trustedPublishers: keys.trusted,
        threads: 0,
      }).then(
        () => ({ code: 'ACCEPTED' }),
        (e: unknown) => e as { code?: string },
      );
      expect(err.code).toBe(code);
      expect(calls).toBe(0);
    });
  }

  it('the genuine package does reach the identity, in every mode (the counter counts)', async () => {
    calls = 0;
    await open({
      input: pkg,
      output: join(dir, 'genuine-file'),
      identities,
      trustedPublishers: keys.trusted,
      threads: 0,
    });
    expect(calls).toBe(1);
    await open({
      input: Readable.from([good]),
      output: join(dir, 'genuine-stream'),
      identities,
      trustedPublishers: keys.trusted,
      threads: 0,
    });
    expect(calls).toBe(2);
    expect((await readRange(pkg, 'weights.bin', 5, 10, { identities, trustedPublishers: keys.trusted })).length).toBe(
      10,
    );
    expect(calls).toBe(3);
    await reseal(pkg, {
      identities,
      trustedPublishers: keys.trusted,
      publisher: keys.publisher,
      output: join(dir, 'genuine-reseal.mseal'),
      threads: 0,
    });
    expect(calls).toBe(4);
    await rewrap(pkg, {
      identities,
      trustedPublishers: keys.trusted,
      publisher: keys.publisher,
      add: [countingRecipient(keys.bob.recipient)],
    });
    expect(calls).toBe(6);
    expect(existsSync(join(dir, 'genuine-file', 'weights.bin'))).toBe(true);
  });
});
