/** Conformance vectors (test/vectors/): each opened whole from a file, streamed, and streamed byte by byte. */
import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { loadX25519Identity, open, readPublisherPublicKey, verifyPackage } from '../../src/index.js';
import { tempDir } from '../support/fixtures.js';

const V = 'test/vectors';
const spec = JSON.parse(readFileSync(join(V, 'expected.json'), 'utf8')) as {
  identity: string;
  publisher: string;
  vectors: Record<string, { result: string; keyless?: string; files?: Record<string, number> }>;
};
const dir = tempDir();

describe('conformance vectors', async () => {
  const identity = await loadX25519Identity(spec.identity);
  const trusted = [await readPublisherPublicKey(spec.publisher)];
  it('every vector file is listed', () => {
    expect(
      readdirSync(V)
        .filter((f) => f.endsWith('.mseal'))
        .sort(),
    ).toEqual(Object.keys(spec.vectors).sort());
  });
  let n = 0;
  for (const [name, want] of Object.entries(spec.vectors)) {
    const bytes = readFileSync(join(V, name));
    const inputs: [string, () => string | Readable][] = [
      ['file', () => join(V, name)],
      ['stream', () => Readable.from([bytes])],
      [
        'byte-by-byte stream',
        () =>
          Readable.from(
            (function* () {
              for (let i = 0; i < bytes.length; i++) yield bytes.subarray(i, i + 1);
            })(),
          ),
      ],
    ];
    for (const [how, input] of inputs) {
      it(`${name} (${how}) → ${want.result}`, async () => {
        const out = join(dir, `o${n++}`);
        const r = await open({
          input: input(),
          output: out,
          identities: [identity],
          trustedPublishers: trusted,
          threads: 0,
        }).then(
          () => 'ok',
          (e: unknown) => (e as { code?: string }).code,
        );
        // One parser: a file, a stream and a byte-by-byte stream get the same verdict (FORMAT.md §9).
        expect(r).toBe(want.result);
        if (want.files)
          for (const [p, size] of Object.entries(want.files))
            expect(statSync(statSync(out).isFile() ? out : join(out, p)).size, p).toBe(size);
      }, 120_000);
    }
    if (want.keyless) {
      for (const [how, input] of inputs) {
        it(`${name} keyless verify (${how}) → ${want.keyless}`, async () => {
          const r = await verifyPackage(input(), { trustedPublishers: trusted, threads: 0 }).then(
            () => 'ok',
            (e: unknown) => (e as { code?: string }).code,
          );
          expect(r).toBe(want.keyless);
        });
      }
    }
  }
});
