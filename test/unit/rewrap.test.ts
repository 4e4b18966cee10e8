/** rewrap (in place, header and signature only), its crash journal, and reseal. */
import { describe, expect, it } from 'vitest';
import {
  closeSync,
  existsSync,
  ftruncateSync,
  openSync,
  readFileSync,
  readSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import {
  type Identity,
  inspect,
  journalPath,
  open,
  readHead,
  recoverRewrap,
  reseal,
  rewrap,
  seal,
  verifyPackage,
} from '../../src/index.js';
import { KeySchedule } from '../../src/crypto/keyschedule.js';
import { encodeHeader, encodeHeaderMacInput, type Header } from '../../src/format/header.js';
import {
  computeLayout,
  ENTRY,
  initialRegionBytes,
  packageSize,
  segmentAt,
  segmentsOf,
  streamOf,
  TAR_BLOCK,
} from '../../src/format/layout.js';
import { headerRegion, tarEntry, ustarHeader } from '../../src/format/tar.js';
import { signPackage } from '../../src/package/common.js';
import { toB64 } from '../../src/format/encoding.js';
import { contextFor } from '../../src/providers/types.js';
import { detBytes, makeKeys, tempDir } from '../support/fixtures.js';

const keys = makeKeys();
const dir = tempDir();
let n = 0;

async function sealed(size = 300_000) {
  const id = n++;
  const src = join(dir, `w${id}.bin`);
  writeFileSync(src, detBytes(size, `rw${id}`));
  const pkg = join(dir, `p${id}.mseal`);
  await seal({
    input: src,
    output: pkg,
    recipients: [keys.local, keys.alice.recipient],
    publisher: keys.publisher,
    chunkSize: 1 << 16,
    license: 'L-1',
  });
  return { src, pkg };
}

const opener = (pkg: string, identities: Identity[] = [keys.bob]) =>
  open({ input: pkg, output: join(dir, `out${n++}.bin`), identities, trustedPublishers: keys.trusted });

/** The payload bytes of a package: everything between the header region and the chunk list. */
async function payloadDigest(pkg: string): Promise<string> {
  const head = await readHead(pkg);
  return createHash('sha256')
    .update(readFileSync(pkg).subarray(head.layout.regionBytes, head.layout.chunksEntry.offset))
    .digest('hex');
}

describe('rewrap', () => {
  it('adds a recipient without touching the payload; the new recipient opens, the package verifies', async () => {
    const { src, pkg } = await sealed();
    const before = await payloadDigest(pkg);
    const chunkList = (await readHead(pkg)).chunkList;
    await expect(opener(pkg)).rejects.toMatchObject({ code: 'NO_MATCHING_IDENTITY' });
    const r = await rewrap(pkg, {
      identities: [keys.local],
      trustedPublishers: keys.trusted,
      publisher: keys.publisher,
      add: [keys.bob.recipient],
      license: 'L-2',
    });
    expect(r.added).toEqual([keys.bob.recipient.id]);
    expect(r.recipients.map((s) => [s.recipient, s.license])).toEqual([
      [keys.local.id, 'L-1'],
      [keys.alice.recipient.id, 'L-1'],
      [keys.bob.recipient.id, 'L-2'],
    ]);
    expect(await payloadDigest(pkg)).toBe(before);
    expect(Buffer.from((await readHead(pkg)).chunkList).equals(Buffer.from(chunkList))).toBe(true);
    await verifyPackage(pkg, { trustedPublishers: keys.trusted });
    const o = await opener(pkg);
    expect(readFileSync(o.output).equals(readFileSync(src))).toBe(true);
    expect(o.openedWith.license).toBe('L-2');
    expect(existsSync(journalPath(pkg))).toBe(false);
  });

  it('removes a recipient: it no longer opens, the others still do', async () => {
    const { pkg } = await sealed();
    await rewrap(pkg, {
      identities: [keys.local],
      trustedPublishers: keys.trusted,
      publisher: keys.publisher,
      remove: [keys.alice.recipient.id],
    });
    expect((await inspect(pkg)).recipients.map((s) => s.recipient)).toEqual([keys.local.id]);
    await expect(opener(pkg, [keys.alice])).rejects.toMatchObject({ code: 'NO_MATCHING_IDENTITY' });
    await opener(pkg, [keys.local]);
  });

  it('rotates a stanza to another key in place, keeping its license and policy', async () => {
    const { src, pkg } = await sealed();
    const r = await rewrap(pkg, {
      identities: [keys.local],
      trustedPublishers: keys.trusted,
      publisher: keys.publisher,
      rotate: [{ from: keys.alice.recipient.id, to: keys.bob.recipient }],
    });
    expect(r.rotated).toEqual([{ from: keys.alice.recipient.id, to: keys.bob.recipient.id }]);
    expect(r.recipients.map((s) => [s.recipient, s.license])).toEqual([
      [keys.local.id, 'L-1'],
      [keys.bob.recipient.id, 'L-1'],
    ]);
    await expect(opener(pkg, [keys.alice])).rejects.toMatchObject({ code: 'NO_MATCHING_IDENTITY' });
    expect(readFileSync((await opener(pkg, [keys.bob])).output).equals(readFileSync(src))).toBe(true);
    const base = { identities: [keys.local], trustedPublishers: keys.trusted, publisher: keys.publisher };
    await expect(
      rewrap(pkg, { ...base, rotate: [{ from: keys.alice.recipient.id, to: keys.alice.recipient }] }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(
      rewrap(pkg, { ...base, rotate: [{ from: keys.bob.recipient.id, to: keys.local }] }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('refuses what it cannot do, and leaves the package as it was', async () => {
    const { pkg } = await sealed();
    const bytes = readFileSync(pkg);
    const base = { identities: [keys.local], trustedPublishers: keys.trusted, publisher: keys.publisher };
    await expect(rewrap(pkg, { ...base, remove: ['x25519:nobody'] })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(rewrap(pkg, { ...base, add: [keys.alice.recipient] })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(rewrap(pkg, { ...base, remove: [keys.local.id, keys.alice.recipient.id] })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(rewrap(pkg, { ...base, identities: [keys.bob], add: [keys.bob.recipient] })).rejects.toMatchObject({
      code: 'NO_MATCHING_IDENTITY',
    });
    const other = makeKeys();
    await expect(
      rewrap(pkg, {
        ...base,
        publisher: other.publisher,
        trustedPublishers: [...keys.trusted, ...other.trusted],
        add: [keys.bob.recipient],
      }),
    ).rejects.toMatchObject({ code: 'UNTRUSTED_SIGNER' });
    expect(readFileSync(pkg).equals(bytes)).toBe(true);
  });

  it('an interrupted rewrap is refused by readers and rolled back from its journal', async () => {
    const { pkg } = await sealed();
    const original = readFileSync(pkg);
    const head = await readHead(pkg);
    // What rewrap journals before it writes: the old header region and the old tail.
    const tailAt = head.layout.signatureOffset;
    writeFileSync(
      journalPath(pkg),
      JSON.stringify({
        journal: 'modelseal/v1 rewrap journal',
        size: original.length,
        parts: [
          { offset: 0, data: toB64(original.subarray(0, head.layout.regionBytes)) },
          { offset: tailAt, data: toB64(original.subarray(tailAt)) },
        ],
      }),
    );
    // The crash: half a new header region written, the tail cut short.
    const fd = openSync(pkg, 'r+');
    writeSync(fd, randomBytes(3000), 0, 3000, 0);
    ftruncateSync(fd, tailAt + 100);
    closeSync(fd);
    await expect(readHead(pkg)).rejects.toMatchObject({
      code: 'MALFORMED_PACKAGE',
      message: expect.stringContaining('rewrap --recover'),
    });
    expect(await recoverRewrap(pkg)).toBe(true);
    expect(readFileSync(pkg).equals(original)).toBe(true);
    expect(existsSync(journalPath(pkg))).toBe(false);
    await verifyPackage(pkg, { trustedPublishers: keys.trusted });
  });

  it('rewraps a 10 GiB package in under a second, rewriting only its header region and tail', async () => {
    const pkg = join(dir, 'huge.mseal');
    const markers = await makeHugePackage(pkg, 10 * 2 ** 30);
    const size = statSync(pkg).size;
    const t0 = performance.now();
    const r = await rewrap(pkg, {
      identities: [keys.local],
      trustedPublishers: keys.trusted,
      publisher: keys.publisher,
      add: [keys.bob.recipient],
    });
    const ms = performance.now() - t0;
    expect(ms).toBeLessThan(1000);
    const head = await readHead(pkg);
    expect(r.bytesWritten).toBeLessThan(head.layout.regionBytes + 4096);
    expect(Math.abs(statSync(pkg).size - size)).toBeLessThanOrEqual(TAR_BLOCK);
    const fd = openSync(pkg, 'r');
    for (const [at, bytes] of markers) {
      const got = Buffer.alloc(bytes.length);
      readSync(fd, got, 0, got.length, at);
      expect(got.equals(bytes), `payload bytes at ${at}`).toBe(true);
    }
    closeSync(fd);
    expect(head.parsed.header.stanzas.map((s) => s.recipient)).toEqual([keys.local.id, keys.bob.recipient.id]);
  }, 60_000);
});

describe('reseal', () => {
  it('re-encrypts under a fresh data key for the kept recipients (with their licenses) and the added ones', async () => {
    const { src, pkg } = await sealed();
    const out = join(dir, 'resealed.mseal');
    const r = await reseal(pkg, {
      output: out,
      identities: [keys.local],
      trustedPublishers: keys.trusted,
      publisher: keys.publisher,
      remove: [keys.alice.recipient.id],
      add: [keys.bob.recipient],
      license: 'L-3',
    });
    expect(r.packageId).not.toBe((await inspect(pkg)).packageId);
    expect((await inspect(out)).recipients.map((s) => [s.recipient, s.license])).toEqual([
      [keys.local.id, 'L-1'],
      [keys.bob.recipient.id, 'L-3'],
    ]);
    await expect(opener(out, [keys.alice])).rejects.toMatchObject({ code: 'NO_MATCHING_IDENTITY' });
    const o = await opener(out, [keys.bob]);
    expect(readFileSync(o.output).equals(readFileSync(src))).toBe(true);
    expect(r.model.rootDigest).toBe((await inspect(pkg)).model.rootDigest);
  });
});

/**
 * Writes a structurally valid, signed package of one `size`-byte file whose payload is sparse
 * (never encrypted: rewrap does not read it), with random markers at three payload offsets.
 * Returns the markers.
 */
async function makeHugePackage(path: string, size: number): Promise<[number, Buffer][]> {
  const C = 1 << 20;
  const dek = randomBytes(32);
  const packageId = new Uint8Array(randomBytes(32));
  const ks = new KeySchedule(dek, packageId);
  const header: Header = {
    packageId,
    created: '2026-01-02T03:04:05Z',
    chunkSize: C,
    model: { name: 'huge.bin', kind: 'file', rootDigest: new Uint8Array(randomBytes(32)) },
    provenanceSize: 1000,
    files: [{ path: 'huge.bin', size, mode: 0o644 }],
    stanzas: [],
    commitment: ks.commitment,
  };
  const ctx = contextFor(header, { recipient: keys.local.id, license: 'none', policy: 'none' });
  const w = keys.local.wrapDataKey(dek, ctx);
  header.stanzas = [
    { type: 'local', recipient: keys.local.id, license: 'none', policy: 'none', args: w.args, body: w.body },
  ];
  const headerBytes = encodeHeader(header, ks.headerMac(encodeHeaderMacInput(header)));
  const region = initialRegionBytes(headerBytes.length);
  const layout = computeLayout(header, region);
  const chunkList = randomBytes(layout.totalChunks * 32);
  const { headerSignature, trailer: sig } = await signPackage(keys.publisher.signer, headerBytes, chunkList);
  const fd = openSync(path, 'w');
  const put = (b: Uint8Array, at: number) => writeSync(fd, b, 0, b.length, at);
  ftruncateSync(fd, packageSize(layout, sig.length));
  put(headerRegion(headerBytes, headerSignature, region)!, 0);
  for (const s of layout.streams)
    for (const seg of segmentsOf(s)) put(ustarHeader(seg.entryName, seg.size), seg.offset);
  put(tarEntry(ENTRY.chunks, chunkList), layout.chunksEntry.offset);
  put(tarEntry(ENTRY.signature, sig), layout.signatureOffset);
  const file = streamOf(layout, 1);
  const last = segmentAt(file, file.segmentCount - 1);
  const markers: [number, Buffer][] = [
    [region + TAR_BLOCK, randomBytes(1 << 20)],
    [segmentAt(file, 1).offset + TAR_BLOCK + 12345, randomBytes(1 << 20)],
    [last.offset + TAR_BLOCK + last.size - 4096, randomBytes(4096)],
  ];
  for (const [at, b] of markers) put(b, at);
  closeSync(fd);
  return markers;
}
