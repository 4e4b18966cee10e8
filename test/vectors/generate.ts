/**
 * Regenerates the conformance vectors: `npx tsx test/vectors/generate.ts`. Uses the public demo
 * fixture keys (keys/fixtures/), so another implementation can open the good vectors.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadPublisherKey, loadX25519Identity, readHead, seal, X25519Recipient } from '../../src/index.js';
import { streamOf, TAR_BLOCK } from '../../src/format/layout.js';

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

await seal({ input: join(tmp, 'ckpt'), output: out('good-folder.mseal'), recipients: [other, id.recipient], publisher, chunkSize: 65536, license: 'VECTOR-1', force: true });
await seal({ input: join(tmp, 'one.bin'), output: out('good-empty-file.mseal'), recipients: [id.recipient], publisher, chunkSize: 65536, force: true });
await seal({ input: join(tmp, 'ckpt'), output: out('bad-other-recipient.mseal'), recipients: [other], publisher, chunkSize: 65536, force: true });

const good = readFileSync(out('good-folder.mseal'));
const head = await readHead(out('good-folder.mseal'));
const seg = streamOf(head.layout, 2).segments[0]!;
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
variant('bad-flipped-commitment.mseal', (b) => {
  const at = b.indexOf('"commitment":"') + 16;
  b[at] = b[at] === 0x41 ? 0x42 : 0x41;
  return b;
});
variant('bad-flipped-signature.mseal', (b) => ((b[head.layout.signatureOffset + TAR_BLOCK + 300]! ^= 1), b));
rmSync(tmp, { recursive: true, force: true });
