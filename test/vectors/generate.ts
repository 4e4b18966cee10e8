/**
 * Regenerates the conformance vectors: `npx tsx test/vectors/generate.ts`. Uses the public demo
 * fixture keys (keys/fixtures/), so another implementation can open the good vectors.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  loadPublisherKey,
  loadX25519Identity,
  newPublisherKey,
  readHead,
  seal,
  X25519Recipient,
} from '../../src/index.js';
import { fixChecksum, regionOf, reheader, replaceEntry } from '../support/packages.js';
import { segmentAt, streamOf, TAR_BLOCK } from '../../src/format/layout.js';

const here = new URL('.', import.meta.url).pathname;
const tmp = join(here, '.src');
rmSync(tmp, { recursive: true, force: true });
mkdirSync(join(tmp, 'ckpt', 'sub'), { recursive: true });
const payload = Buffer.alloc(3 * 65536 + 123);
for (let i = 0; i < payload.length; i++) payload[i] = (i * 31 + (i >> 8)) & 0xff;
writeFileSync(join(tmp, 'ckpt', 'weights.bin'), payload);
writeFileSync(join(tmp, 'ckpt', 'sub', 'config.json'), '{"hidden_size":64}\n');
writeFileSync(join(tmp, 'one.bin'), Buffer.alloc(0));

const publisher = await loadPublisherKey(join(here, '../../keys/fixtures/demo-publisher.key'));
const id = await loadX25519Identity(join(here, '../../keys/fixtures/demo-recipient.x25519'));
const other = new X25519Recipient(Buffer.alloc(32, 9));
const out = (n: string) => join(here, n);

await seal({
  input: join(tmp, 'ckpt'),
  output: out('good-folder.mseal'),
  recipients: [other, id.recipient],
  publisher,
  chunkSize: 65536,
  license: 'VECTOR-1',
  force: true,
});
await seal({
  input: join(tmp, 'one.bin'),
  output: out('good-empty-file.mseal'),
  recipients: [id.recipient],
  publisher,
  chunkSize: 65536,
  force: true,
});
await seal({
  input: join(tmp, 'ckpt'),
  output: out('bad-other-recipient.mseal'),
  recipients: [other],
  publisher,
  chunkSize: 65536,
  force: true,
});

const good = readFileSync(out('good-folder.mseal'));
const head = await readHead(out('good-folder.mseal'));
const seg = segmentAt(streamOf(head.layout, 2), 0);
const chunk = (i: number) => seg.offset + TAR_BLOCK + i * (65536 + 16);
const variant = (name: string, f: (b: Buffer) => Buffer) => writeFileSync(out(name), f(Buffer.from(good)));
variant('bad-flipped-chunk.mseal', (b) => ((b[chunk(1) + 100]! ^= 1), b));
variant('bad-flipped-tag.mseal', (b) => ((b[chunk(1) + 65536 + 2]! ^= 1), b));
variant('bad-truncated-mid-chunk.mseal', (b) => b.subarray(0, chunk(2) + 10));
variant('bad-truncated-at-chunk.mseal', (b) => b.subarray(0, chunk(2)));
variant('bad-swapped-chunks.mseal', (b) => {
  const a = Buffer.from(b.subarray(chunk(0), chunk(1)));
  b.copy(b, chunk(0), chunk(1), chunk(2));
  a.copy(b, chunk(1));
  return b;
});
// A malicious publisher: a header whose key commitment does not match, signed by the trusted key.
variant('bad-flipped-commitment.mseal', (b) => reheader(b, (h) => void (h.commitment[0]! ^= 1), publisher));
// A header edited after signing, and one signed again by a key nobody trusts.
variant('bad-header-unsigned.mseal', (b) => reheader(b, (h) => void (h.stanzas[1]!.license = 'VECTOR-2')));
variant('bad-header-other-signer.mseal', (b) =>
  reheader(b, (h) => void (h.stanzas[1]!.license = 'VECTOR-2'), newPublisherKey().publisher),
);
// Bytes no signature covers, which the canonical encoding (FORMAT.md §1) rejects.
const { headerSigAt } = regionOf(good);
variant('bad-header-padding.mseal', (b) => ((b[headerSigAt - 1] = 0x20), b));
variant('bad-tar-mtime.mseal', (b) => {
  b.write('00000000001 ', seg.offset + 136, 'latin1');
  fixChecksum(b, seg.offset);
  return b;
});
variant('bad-bom-before-signature.mseal', (b) => {
  const at = head.layout.signatureOffset;
  const sig = b.subarray(
    at + TAR_BLOCK,
    at + TAR_BLOCK + parseInt(b.subarray(at + 124, at + 135).toString('latin1'), 8),
  );
  return Buffer.concat([
    replaceEntry(b, at, 'modelseal.sig', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), sig])).subarray(
      0,
      at + TAR_BLOCK + 512,
    ),
    Buffer.alloc(1024),
  ]);
});
// The reserve's size field 16 bytes short, over the same zero bytes (its padding): a second encoding.
variant('bad-reserve-size.mseal', (b) => {
  const { reserveAt } = regionOf(b);
  const size = parseInt(b.subarray(reserveAt + 124, reserveAt + 135).toString('latin1'), 8);
  b.write((size - 16).toString(8).padStart(11, '0') + ' ', reserveAt + 124, 'latin1');
  fixChecksum(b, reserveAt);
  return b;
});
variant('bad-trailing-block.mseal', (b) => Buffer.concat([b, Buffer.alloc(512)]));
variant('bad-flipped-signature.mseal', (b) => ((b[head.layout.signatureOffset + TAR_BLOCK + 300]! ^= 1), b));
rmSync(tmp, { recursive: true, force: true });
