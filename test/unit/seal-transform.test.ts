/**
 * The seal pipeline's transform stage is pluggable: a transform registered here (XOR with a byte)
 * changes the bytes that are sealed, on this thread and on the pool's worker threads, and sees
 * each piece's original bytes and what its piece transform returned, in order.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isMainThread, threadId } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { open, registerPieceTransform, seal, type SealTransform } from '../../src/index.js';
import { makeKeys, tempDir } from '../support/fixtures.js';

const dir = tempDir('modelseal-transform-');
const keys = makeKeys();
const KIND = 'xor-test';
const DIST = resolve('dist/src/crypto');

// On this thread each piece also waits 25 ms, so the pool's worker boots while pieces remain.
registerPieceTransform(KIND, (params, _pos, plain) => {
  const { byte } = params as { byte: number };
  for (let i = 0; i < plain.length; i++) plain[i]! ^= byte;
  if (isMainThread) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 25);
  return { threadId };
});

/** A worker entry: the bulk loop, with the XOR registered or not. */
function workerScript(name: string, register: boolean): URL {
  const path = join(dir, name);
  writeFileSync(
    path,
    `import { registerPieceTransform } from ${JSON.stringify(pathToFileURL(join(DIST, 'transform.js')).href)};
import { serveBulkJobs } from ${JSON.stringify(pathToFileURL(join(DIST, 'worker-loop.js')).href)};
import { threadId } from 'node:worker_threads';
${
  register
    ? `registerPieceTransform(${JSON.stringify(KIND)}, ({ byte }, _pos, plain) => { ` +
      `for (let i = 0; i < plain.length; i++) plain[i] ^= byte; return { threadId }; });`
    : ''
}
serveBulkJobs();
`,
  );
  return pathToFileURL(path);
}

/** XORs every .bin file with `byte`; remembers the originals' digests and which threads ran pieces. */
function xorTransform(byte: number, script?: URL) {
  const seen = { originals: new Map<string, string>(), threads: new Set<number>(), pieces: 0 };
  let paths: string[] = [];
  let hash = createHash('sha256');
  const t: SealTransform = {
    ...(script ? { workerScript: script } : {}),
    async plan(inputs) {
      paths = inputs.files.map((f) => f.path);
    },
    headerFields: () => ({}),
    piece: (file) => (paths[file]!.endsWith('.bin') ? { kind: KIND, params: { byte }, keepOriginal: true } : undefined),
    consumePiece({ original, output }) {
      hash.update(original!);
      if (output) {
        seen.pieces++;
        seen.threads.add((output as { threadId: number }).threadId);
      }
    },
    endFile(file) {
      seen.originals.set(paths[file]!, hash.digest('hex'));
      hash = createHash('sha256');
    },
    finishHeader() {
      // Nothing to add to the header: this transform only counts and XORs.
    },
    async record() {
      return { xor: { byte, pieces: seen.pieces } };
    },
  };
  return { t, seen };
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function checkpoint(name: string, binBytes: number): string {
  const ckpt = join(dir, name);
  mkdirSync(ckpt, { recursive: true });
  writeFileSync(join(ckpt, 'weights.bin'), randomBytes(binBytes));
  writeFileSync(join(ckpt, 'config.json'), '{"layers":2}\n');
  return ckpt;
}

async function sealAndOpen(ckpt: string, t: SealTransform, threads: number) {
  const pkg = `${ckpt}.mseal`;
  const r = await seal({
    input: ckpt,
    output: pkg,
    recipients: [keys.local],
    publisher: keys.publisher,
    transform: t,
    threads,
  });
  const out = `${ckpt}.opened`;
  await open({ input: pkg, output: out, identities: [keys.local], trustedPublishers: keys.trusted });
  return { r: r as typeof r & { xor?: { byte: number; pieces: number } }, out };
}

describe('a custom seal transform', () => {
  it('changes the sealed bytes of the files it picks, sees their originals, and adds to the result', async () => {
    const ckpt = checkpoint('one', 3 * 2 ** 20 + 5);
    const { t, seen } = xorTransform(0x5a);
    const { r, out } = await sealAndOpen(ckpt, t, 1);
    const input = readFileSync(join(ckpt, 'weights.bin'));
    const opened = readFileSync(join(out, 'weights.bin'));
    expect(opened.equals(input.map((b) => b ^ 0x5a))).toBe(true);
    expect(readFileSync(join(out, 'config.json'), 'utf8')).toBe('{"layers":2}\n');
    expect(seen.originals.get('weights.bin')).toBe(sha(input));
    expect(seen.originals.get('config.json')).toBe(sha(readFileSync(join(ckpt, 'config.json'))));
    // The manifest is of what was sealed.
    expect(r.files.find((f) => f.path === 'weights.bin')!.sha256).toBe(sha(opened));
    expect(r.xor).toEqual({ byte: 0x5a, pieces: 4 });
  });

  it('runs on the worker threads of the entry script it names', async () => {
    const ckpt = checkpoint('many', 12 * 2 ** 20);
    const { t, seen } = xorTransform(0xa5, workerScript('xor-worker.mjs', true));
    const { out } = await sealAndOpen(ckpt, t, 2);
    const input = readFileSync(join(ckpt, 'weights.bin'));
    expect(readFileSync(join(out, 'weights.bin')).equals(input.map((b) => b ^ 0xa5))).toBe(true);
    expect(seen.originals.get('weights.bin')).toBe(sha(input));
    expect(seen.threads.has(threadId)).toBe(true);
    expect([...seen.threads].some((id) => id !== threadId)).toBe(true);
  });

  it('fails INTERNAL, writing nothing, when a worker does not have the transform', async () => {
    const ckpt = checkpoint('missing', 12 * 2 ** 20);
    const { t } = xorTransform(1, workerScript('bare-worker.mjs', false));
    await expect(
      seal({
        input: ckpt,
        output: `${ckpt}.mseal`,
        recipients: [keys.local],
        publisher: keys.publisher,
        transform: t,
        threads: 2,
      }),
    ).rejects.toMatchObject({ code: 'INTERNAL' });
    expect(() => readFileSync(`${ckpt}.mseal`)).toThrow();
  });

  it('is refused together with a fingerprint', async () => {
    const { t } = xorTransform(1);
    await expect(
      seal({
        input: checkpoint('both', 10),
        output: join(dir, 'both.mseal'),
        recipients: [keys.local],
        publisher: keys.publisher,
        transform: t,
        fingerprint: { recipient: 'r', key: { id: 'k', key: new Uint8Array(32) }, registry: join(dir, 'reg.jsonl') },
      }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
