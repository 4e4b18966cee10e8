/**
 * The one payload path of open (src/package/open-payload.ts decryptPayload), from a file and from
 * a stream whose walker feeds it: the same files and digests whatever the reader, the worker count
 * or how the stream is cut; and a stream that stops or fails at any point, while the payload path
 * waits for a chunk or the walker waits for the path, rejects promptly and leaves nothing behind.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { open, readHead, seal } from '../../src/index.js';
import { segmentAt, streamOf, TAR_BLOCK } from '../../src/format/layout.js';
import { detBytes, makeKeys, tempDir } from '../support/fixtures.js';

const keys = makeKeys();
const dir = tempDir('modelseal-open-paths-');
const C = 1 << 16;

/** A stream of `bytes` in pieces of `piece` bytes; `at(n)` runs after n bytes were handed out. */
function chunked(bytes: Uint8Array, piece: number, at?: (sent: number) => Error | undefined): Readable {
  let sent = 0;
  return new Readable({
    read() {
      const err = at?.(sent);
      if (err) return void this.destroy(err);
      if (sent >= bytes.length) return void this.push(null);
      const n = Math.min(piece, bytes.length - sent);
      this.push(Buffer.from(bytes.subarray(sent, sent + n)));
      sent += n;
    },
  });
}

let k = 0;
const output = () => join(dir, `out-${k++}`);
const noPartials = () => expect(readdirSync(dir).filter((f) => f.includes('mseal-partial'))).toEqual([]);

describe('one payload path for files and streams', async () => {
  const src = join(dir, 'src');
  mkdirSync(join(src, 'sub'), { recursive: true });
  const files: Record<string, Buffer> = {
    'a.bin': detBytes(5 * C + 7, 'a'),
    'empty.bin': Buffer.alloc(0),
    'sub/b.bin': detBytes(C, 'b'),
    'z.json': Buffer.from('{"z":1}\n'),
  };
  for (const [p, b] of Object.entries(files)) writeFileSync(join(src, p), b);
  const pkg = join(dir, 'm.mseal');
  await seal({ input: src, output: pkg, recipients: [keys.alice.recipient], publisher: keys.publisher, chunkSize: C });
  const bytes = readFileSync(pkg);
  const head = await readHead(pkg);
  const opts = { identities: [keys.alice], trustedPublishers: keys.trusted };

  const reference = await open({ ...opts, input: pkg, output: output(), threads: 0 });
  it('a file opens every file, the empty one included, byte for byte', () => {
    expect(reference.files.map((f) => f.path)).toEqual(['a.bin', 'empty.bin', 'sub/b.bin', 'z.json']);
    for (const [p, b] of Object.entries(files)) expect(readFileSync(join(reference.output, p)).equals(b)).toBe(true);
  });

  for (const [name, piece, threads] of [
    ['whole chunks, no workers', 1 << 20, 0],
    ['whole chunks, two workers', 1 << 20, 2],
    ['7-byte pieces, two workers', 7, 2],
    ['one byte at a time, no workers', 1, 0],
  ] as const) {
    it(`a stream in ${name} gives the same files and digests as the file`, async () => {
      const r = await open({ ...opts, input: chunked(bytes, piece), output: output(), threads });
      expect(r.files).toEqual(reference.files);
      for (const [p, b] of Object.entries(files)) expect(readFileSync(join(r.output, p)).equals(b)).toBe(true);
    });
  }

  const weights = segmentAt(streamOf(head.layout, 1), 0).offset + TAR_BLOCK;
  // Where the walker is when the stream stops: in the header, in the first file's chunks (the
  // payload path waiting for more), in the last file, in the provenance, in the signature.
  const stops: [string, number][] = [
    ['in the header', 300],
    ['in the first chunk of a file', weights + 100],
    ['between chunks of a file', weights + 2 * (C + 16)],
    ['in the provenance', segmentAt(streamOf(head.layout, 0), 0).offset + TAR_BLOCK + 10],
    ['in the signature entry', head.layout.signatureOffset + TAR_BLOCK + 5],
  ];
  for (const [where, cut] of stops) {
    it(`a stream that ends ${where} is TRUNCATED, with nothing written`, async () => {
      const out = output();
      const r = open({ ...opts, input: chunked(bytes.subarray(0, cut), 4096), output: out, threads: 2 });
      await expect(r).rejects.toMatchObject({ code: 'TRUNCATED' });
      expect(existsSync(out)).toBe(false);
      noPartials();
    });
    it(`a stream that fails ${where} is IO, with nothing written`, async () => {
      const out = output();
      const input = chunked(bytes, 4096, (sent) => (sent >= cut ? new Error('the disk went away') : undefined));
      await expect(open({ ...opts, input, output: out, threads: 2 })).rejects.toMatchObject({ code: 'IO' });
      expect(existsSync(out)).toBe(false);
      noPartials();
    });
  }

  it('a stream aborted while the payload path runs is INTERRUPTED, with nothing written', async () => {
    const out = output();
    const ctl = new AbortController();
    const input = chunked(bytes, 4096, (sent) => {
      if (sent >= weights + 3 * C) ctl.abort();
      return undefined; // no stream error: the abort is what stops the open
    });
    await expect(open({ ...opts, input, output: out, threads: 2, signal: ctl.signal })).rejects.toMatchObject({
      code: 'INTERRUPTED',
    });
    expect(existsSync(out)).toBe(false);
    noPartials();
  });
});
