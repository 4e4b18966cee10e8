/** open to a stream through a scratch file, and the release receipt beside the output, as library calls. */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { openToStream, releaseReceiptPath, seal, writeReleaseReceipt } from '../../src/index.js';
import { detBytes, makeKeys, tempDir } from '../support/fixtures.js';

const keys = makeKeys();
const dir = tempDir('modelseal-deliver-');
const savedTmp = process.env.TMPDIR;
afterEach(() => {
  if (savedTmp === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmp;
});

/** A private TMPDIR, so the test sees exactly the scratch folders openToStream makes. */
function privateTmp(name: string): string {
  const tmp = join(dir, name);
  mkdirSync(tmp);
  process.env.TMPDIR = tmp;
  return tmp;
}

function collect(stream: PassThrough): () => Buffer {
  const parts: Buffer[] = [];
  stream.on('data', (b: Buffer) => parts.push(b));
  return () => Buffer.concat(parts);
}

describe('openToStream', () => {
  it('writes the verified file to the stream, leaves the stream open and no scratch behind', async () => {
    const src = join(dir, 'w.bin');
    writeFileSync(src, detBytes(200_000, 'deliver'));
    const pkg = join(dir, 'w.mseal');
    await seal({ input: src, output: pkg, recipients: [keys.alice.recipient], publisher: keys.publisher });
    const tmp = privateTmp('tmp1');
    const out = new PassThrough();
    const bytes = collect(out);
    const r = await openToStream({ input: pkg, identities: [keys.alice], trustedPublishers: keys.trusted }, out);
    expect(out.writableEnded).toBe(false);
    expect(bytes().equals(readFileSync(src))).toBe(true);
    expect(r.kind).toBe('file');
    expect(r).not.toHaveProperty('output');
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('refuses a folder package, writing nothing to the stream and leaving no scratch', async () => {
    const folder = join(dir, 'ckpt');
    mkdirSync(folder);
    writeFileSync(join(folder, 'a.bin'), detBytes(1000, 'a'));
    writeFileSync(join(folder, 'b.bin'), detBytes(1000, 'b'));
    const pkg = join(dir, 'folder.mseal');
    await seal({ input: folder, output: pkg, recipients: [keys.alice.recipient], publisher: keys.publisher });
    const tmp = privateTmp('tmp2');
    const out = new PassThrough();
    const bytes = collect(out);
    await expect(
      openToStream({ input: pkg, identities: [keys.alice], trustedPublishers: keys.trusted }, out),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('single-file') });
    expect(bytes().length).toBe(0);
    expect(readdirSync(tmp)).toEqual([]);
  });
});

describe('writeReleaseReceipt', () => {
  it('writes <output>.release.tlog-proof, and replaces one only when told to', async () => {
    const output = join(dir, 'opened.bin');
    expect(releaseReceiptPath(output)).toBe(`${output}.release.tlog-proof`);
    expect(await writeReleaseReceipt(output, 'receipt 1\n')).toBe(`${output}.release.tlog-proof`);
    expect(readFileSync(`${output}.release.tlog-proof`, 'utf8')).toBe('receipt 1\n');
    await expect(writeReleaseReceipt(output, 'receipt 2\n')).rejects.toMatchObject({ code: 'OUTPUT_EXISTS' });
    await writeReleaseReceipt(output, 'receipt 2\n', { overwrite: true });
    expect(readFileSync(`${output}.release.tlog-proof`, 'utf8')).toBe('receipt 2\n');
  });
});
