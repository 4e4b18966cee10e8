import { describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, writeFileSync, existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  open,
  readHead,
  readRange,
  seal,
  inspect,
  unlockPackage,
  verifyPackage,
  type Identity,
} from '../../src/index.js';
import { KeySchedule } from '../../src/crypto/keyschedule.js';
import { decryptChunk } from '../../src/crypto/chunk.js';
import { chunkOffset, segmentAt, streamOf } from '../../src/format/layout.js';
import { detBytes, makeKeys, tempDir } from '../support/fixtures.js';

const keys = makeKeys();
const dir = tempDir();
let n = 0;

async function roundTrip(data: Buffer, chunkSize: number, threads: number, identities: Identity[] = [keys.alice]) {
  const id = n++;
  const src = join(dir, `in-${id}.bin`);
  writeFileSync(src, data);
  const pkg = join(dir, `p-${id}.mseal`);
  const out = join(dir, `out-${id}.bin`);
  const s = await seal({
    input: src,
    output: pkg,
    recipients: [keys.alice.recipient, keys.local],
    publisher: keys.publisher,
    chunkSize,
    threads,
  });
  const o = await open({ input: pkg, output: out, identities, trustedPublishers: keys.trusted, threads });
  expect(readFileSync(out).equals(data)).toBe(true);
  expect(o.files[0]!.sha256).toBe(s.files[0]!.sha256);
  return { pkg, src, s, o };
}

describe('seal → open round trips', () => {
  const C = 1 << 16;
  for (const size of [0, 1, C - 1, C, C + 1, 3 * C, 3 * C + 7]) {
    it(`${size} bytes, 64 KiB chunks, workers`, async () => {
      await roundTrip(detBytes(size, `s${size}`), C, 2);
    });
  }

  for (let e = 16; e <= 24; e++) {
    it(`chunk size 2^${e}, without workers, opened by the local key`, async () => {
      const size = (1 << e) + 12345;
      await roundTrip(detBytes(size, `c${e}`), 1 << e, 0, [keys.local]);
    });
  }

  it('a multi-file folder, with random access reads equal to the plaintext slices', async () => {
    const src = join(dir, 'ckpt');
    mkdirSync(join(src, 'sub', 'deeper'), { recursive: true });
    const files: Record<string, Buffer> = {
      'config.json': Buffer.from('{"a":1}\n'),
      'model-00001.safetensors': detBytes(300_000, 'w1'),
      'sub/empty.bin': Buffer.alloc(0),
      'sub/deeper/tok.json': detBytes(70_000, 'tok'),
    };
    for (const [p, b] of Object.entries(files)) writeFileSync(join(src, p), b);
    const pkg = join(dir, 'ckpt.mseal');
    const out = join(dir, 'ckpt-out');
    await seal({
      input: src,
      output: pkg,
      recipients: [keys.bob.recipient],
      publisher: keys.publisher,
      chunkSize: 1 << 16,
    });
    const info = await inspect(pkg);
    expect(info.files.map((f) => f.path).sort()).toEqual(Object.keys(files).sort());
    expect(info.recipients).toEqual([
      { type: 'x25519', recipient: keys.bob.recipient.id, license: 'none', policy: 'none' },
    ]);
    await verifyPackage(pkg, { trustedPublishers: keys.trusted });
    await open({ input: pkg, output: out, identities: [keys.bob], trustedPublishers: keys.trusted });
    for (const [p, b] of Object.entries(files)) expect(readFileSync(join(out, p)).equals(b), p).toBe(true);
    expect(existsSync(join(out, 'model.sig'))).toBe(true);

    const w = files['model-00001.safetensors']!;
    for (const [off, len] of [
      [0, 0],
      [0, 1],
      [65535, 2],
      [65536, 65536],
      [1000, 200_000],
      [299_999, 1],
      [0, 300_000],
    ] as const) {
      const got = await readRange(pkg, 'model-00001.safetensors', off, len, {
        identities: [keys.bob],
        trustedPublishers: keys.trusted,
      });
      expect(Buffer.from(got).equals(w.subarray(off, off + len)), `${off}+${len}`).toBe(true);
    }
    await expect(
      readRange(pkg, 'model-00001.safetensors', 299_999, 2, {
        identities: [keys.bob],
        trustedPublishers: keys.trusted,
      }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('refuses to overwrite, leaves no temporary files behind, and replaces with force', async () => {
    const { pkg } = await roundTrip(detBytes(1000), 1 << 16, 0);
    const out = join(dir, 'exists.bin');
    writeFileSync(out, 'keep me');
    await expect(
      open({ input: pkg, output: out, identities: [keys.alice], trustedPublishers: keys.trusted }),
    ).rejects.toMatchObject({ code: 'OUTPUT_EXISTS' });
    expect(readFileSync(out, 'utf8')).toBe('keep me');
    await open({ input: pkg, output: out, identities: [keys.alice], trustedPublishers: keys.trusted, force: true });
    expect(statSync(out).size).toBe(1000);
    expect(readdirSync(dir).filter((f) => f.includes('mseal-partial'))).toEqual([]);
  });

  it('refuses a single-file output whose .sig sidecar exists, before writing anything', async () => {
    const { pkg } = await roundTrip(detBytes(1000, 'sidecar'), 1 << 16, 2);
    const out = join(dir, 'sidecar.bin');
    writeFileSync(`${out}.sig`, 'old provenance');
    await expect(
      open({ input: pkg, output: out, identities: [keys.alice], trustedPublishers: keys.trusted }),
    ).rejects.toMatchObject({ code: 'OUTPUT_EXISTS' });
    expect(existsSync(out)).toBe(false);
    expect(readFileSync(`${out}.sig`, 'utf8')).toBe('old provenance');
  });
});

describe('payload keys come from the data key', () => {
  it('a KeySchedule keeps its own copy of the data key (callers wipe theirs)', () => {
    const dek = new Uint8Array(32).fill(7);
    const salt = new Uint8Array(32).fill(1);
    const ks = new KeySchedule(dek, salt);
    const before = ks.payloadKey(1, 0);
    dek.fill(0);
    expect(Buffer.from(ks.payloadKey(1, 0)).equals(Buffer.from(before))).toBe(true);
    expect(Buffer.from(new KeySchedule(dek, salt).payloadKey(1, 0)).equals(Buffer.from(before))).toBe(false);
  });

  it('a sealed chunk opens with the unwrapped key schedule and not with one from an all-zero data key', async () => {
    const { pkg } = await roundTrip(detBytes(1000, 'zero-dek'), 1 << 16, 2);
    const head = await readHead(pkg);
    const { keys: real } = await unlockPackage(head.parsed, [keys.alice]);
    const seg = segmentAt(streamOf(head.layout, 1), 0);
    const sealed = readFileSync(pkg).subarray(chunkOffset(seg, 1 << 16, 0), chunkOffset(seg, 1 << 16, 0) + 1000 + 16);
    expect(decryptChunk(real.payloadKey(1, 0), 0, true, sealed)).not.toBeNull();
    const zero = new KeySchedule(new Uint8Array(32), head.parsed.header.packageId);
    expect(decryptChunk(zero.payloadKey(1, 0), 0, true, sealed)).toBeNull();
  });
});
