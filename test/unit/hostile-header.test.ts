/**
 * Issue 16 item 1: a header that claims absurd sizes must cost O(header) and bounded memory in every
 * reader, before and whatever its signature says. Each case runs the built CLI in a child process
 * with a 64 MiB heap, from a file and from stdin, and must fail fast with the right code.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  encodeHeaderMacInput,
  loadPublisherKey,
  loadX25519Identity,
  newPublisherKey,
  parseHeader,
  readPublisherPublicKey,
  readRange,
  reseal,
  rewrap,
  unlockPackage,
  X25519Identity,
  type Header,
} from '../../src/index.js';

const newX25519Recipient = () => X25519Identity.generate().identity.recipient;
import { computeLayout } from '../../src/format/layout.js';
import { regionOf, reheader, type Signer } from '../support/packages.js';
import { tempDir } from '../support/fixtures.js';

const BIN = resolve('dist/cli/modelseal.bundle.mjs');
const dir = tempDir('modelseal-hostile-');
const good = readFileSync('test/vectors/good-folder.mseal');
const publisher = await loadPublisherKey('keys/fixtures/demo-publisher.key');
// The worst case is the publisher itself (or its stolen key): it knows the data key, so the MAC is right too.
const region = regionOf(good);
const { keys: schedule } = await unlockPackage(parseHeader(region.headerBytes), [
  await loadX25519Identity('keys/fixtures/demo-recipient.x25519'),
]);
const mac = (h: Header) => schedule.headerMac(encodeHeaderMacInput(h));
const hostile = (edit: (h: Header) => void, signer?: Signer) => reheader(good, edit, signer, mac);
const MAX = Number.MAX_SAFE_INTEGER;
const files = (n: number, size: number) =>
  Array.from({ length: n }, (_, i) => ({ path: `f${i}.bin`, size, mode: 0o644 }));

/** name → [package bytes, the error code every reader must give]. */
const cases: Record<string, [Buffer, string]> = {
  'a dozen files of 2^53-1 bytes, signed by the trusted publisher': [
    hostile((h) => void (h.files = files(12, MAX)), publisher),
    'MALFORMED_PACKAGE',
  ],
  'a dozen files of 2^53-1 bytes, header signature not made again': [
    hostile((h) => void (h.files = files(12, MAX))),
    'SIGNATURE_INVALID',
  ],
  'a dozen files of 2^53-1 bytes, signed by an untrusted key': [
    hostile((h) => void (h.files = files(12, MAX)), newPublisherKey().publisher),
    'UNTRUSTED_SIGNER',
  ],
  'a dozen files of 2^48 bytes (a 3 PiB package that fits 2^53), trusted': [
    hostile((h) => void (h.files = files(12, 2 ** 48)), publisher),
    'MALFORMED_PACKAGE',
  ],
  '10000 files of 2^39 bytes, trusted': [
    hostile((h) => void (h.files = files(10000, 2 ** 39)), publisher),
    'MALFORMED_PACKAGE',
  ],
  'a 16 MiB provenance and one file of 2^52 bytes, trusted': [
    hostile((h) => {
      h.files = files(1, 2 ** 52);
      h.provenanceSize = 16 << 20;
    }, publisher),
    'MALFORMED_PACKAGE',
  ],
};

let n = 0;
describe('hostile header sizes (issue 16 item 1)', () => {
  it('computeLayout is arithmetic: O(files) time and memory whatever the sizes', () => {
    const h = parseHeader(regionOf(hostile((x) => void (x.files = files(12, 2 ** 48)), publisher)).headerBytes).header;
    const before = process.memoryUsage().heapUsed;
    const t = performance.now();
    const layout = computeLayout(h, 65536);
    expect(performance.now() - t).toBeLessThan(50);
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(8 << 20);
    expect(layout.totalChunks).toBe(12 * 2 ** 32 + 1);
    expect(() => computeLayout({ ...h, files: files(12, MAX) }, 65536)).toThrow(
      expect.objectContaining({ code: 'MALFORMED_PACKAGE' }),
    );
  });

  it('rewrap, reseal and readRange fail the same way, fast, with bounded heap growth', async () => {
    const [bytes] = cases['a dozen files of 2^53-1 bytes, signed by the trusted publisher']!;
    const [bytes48] = cases['a dozen files of 2^48 bytes (a 3 PiB package that fits 2^53), trusted']!;
    const trusted = [await readPublisherPublicKey('samples/keys/publisher.pub')];
    const identities = [await loadX25519Identity('keys/fixtures/demo-recipient.x25519')];
    for (const b of [bytes, bytes48]) {
      const pkg = join(dir, `lib${n++}.mseal`);
      writeFileSync(pkg, b);
      const before = process.memoryUsage().heapUsed;
      const t = performance.now();
      for (const run of [
        () => rewrap(pkg, { identities, trustedPublishers: trusted, publisher, add: [newX25519Recipient()] }),
        () =>
          reseal(pkg, {
            identities,
            trustedPublishers: trusted,
            publisher,
            output: join(dir, `rs${n++}.mseal`),
            threads: 0,
          }),
        () => readRange(pkg, 'f0.bin', 2 ** 40, 16, { identities, trustedPublishers: trusted }),
      ]) {
        await expect(run()).rejects.toMatchObject({ code: 'MALFORMED_PACKAGE' });
      }
      expect(performance.now() - t).toBeLessThan(5000);
      expect(process.memoryUsage().heapUsed - before).toBeLessThan(64 << 20);
    }
  });

  const keys = join(dir, 'keys');
  mkdirSync(keys, { recursive: true });
  for (const [name, [bytes, code]] of Object.entries(cases)) {
    const pkg = join(dir, `h${n++}.mseal`);
    writeFileSync(pkg, bytes);
    const trust = ['--publisher', 'samples/keys/publisher.pub'];
    const id = ['--identity', 'keys/fixtures/demo-recipient.x25519'];
    const modes: [string, string[], Buffer | undefined][] = [
      ['inspect', ['inspect', pkg], undefined],
      ['verify file', ['verify', pkg, ...trust], undefined],
      ['verify stdin', ['verify', '-', ...trust], bytes],
      ['open file', ['open', pkg, '-o', join(dir, `o${n}a`), ...id, ...trust], undefined],
      ['open stdin', ['open', '-', '-o', join(dir, `o${n}b`), ...id, ...trust], bytes],
    ];
    for (const [mode, args, input] of modes) {
      // inspect checks signatures but not trust: an untrusted signer gets through to the sizes.
      const want = mode === 'inspect' && code === 'UNTRUSTED_SIGNER' ? 'MALFORMED_PACKAGE' : code;
      it(`${name}: ${mode} → ${want}, fast, in a 64 MiB heap`, () => {
        if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\``);
        const t = performance.now();
        const r = spawnSync(process.execPath, ['--max-old-space-size=64', BIN, '--keys', keys, '--json', ...args], {
          input,
          timeout: 30_000,
          maxBuffer: 1 << 20,
        });
        const ms = performance.now() - t;
        expect(r.signal, `killed: ${r.stderr.toString()}`).toBeNull();
        const out = JSON.parse(r.stdout.toString() || '{}') as { error?: { code: string } };
        expect(out.error?.code, r.stderr.toString().slice(0, 400)).toBe(want);
        expect(ms).toBeLessThan(10_000);
      }, 40_000);
    }
  }
});
