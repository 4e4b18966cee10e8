/**
 * The seal pipeline writes the same bytes as the seal it replaced: with its randomness fixed (data
 * key, package id, nonces, fingerprint id and time; ECDSA's random nonce by a stand-in signature),
 * a checkpoint seals to a package whose SHA-256 was recorded from the code before the pipeline
 * (commit 2ae3b62), on one thread and on worker threads, plain and fingerprinted.
 */
import { createHash } from 'node:crypto';
import type * as NodeCrypto from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { LocalKey, loadPublisherKey, seal, type Publisher } from '../../src/index.js';
import { makeModel, writeSafetensors } from '../support/checkpoints.js';
import { detBytes, tempDir } from '../support/fixtures.js';

const fixed = vi.hoisted(() => ({ counters: new Map<number, number>() }));

vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof NodeCrypto>();
  const stream = (n: number, label: string) => {
    const out = Buffer.alloc(n);
    for (let i = 0, at = 0; at < n; i++) at += real.createHash('sha256').update(`${label}:${i}`).digest().copy(out, at);
    return out;
  };
  // Per requested size, so calls of different sizes may come in any order (a temporary name's 6
  // bytes, a nonce's 12, a fingerprint id's 8); the data key comes before the package id (32 each).
  const randomBytes = (n: number) => {
    const c = fixed.counters.get(n) ?? 0;
    fixed.counters.set(n, c + 1);
    return stream(n, `random:${n}:${c}`);
  };
  // A DER-shaped stand-in for ECDSA, which draws a fresh nonce per signature; nothing here verifies it.
  const sign = (_alg: unknown, data: Uint8Array) =>
    Buffer.concat([
      Buffer.from([0x30, 0x44, 0x02, 0x20]),
      stream(32, `r:${real.createHash('sha256').update(data).digest('hex')}`),
      Buffer.from([0x02, 0x20]),
      stream(32, `s:${real.createHash('sha256').update(data).digest('hex')}`),
    ]);
  return { ...real, default: { ...real, randomBytes, sign }, randomBytes, sign };
});

const dir = tempDir('modelseal-identical-');
const ckpt = join(dir, 'ckpt');
let publisher: Publisher;
const recipients = [
  new LocalKey('0123456789abcdef', Buffer.alloc(32, 7)),
  new LocalKey('fedcba9876543210', Buffer.alloc(32, 9)),
];

beforeAll(async () => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(new Date('2026-01-02T03:04:05.678Z'));
  publisher = await loadPublisherKey(resolve('keys/fixtures/demo-publisher.key'));
  mkdirSync(join(ckpt, 'sub'), { recursive: true });
  writeSafetensors(join(ckpt, 'model.safetensors'), makeModel(7, 3, 256, 512, 'BF16'));
  writeSafetensors(join(ckpt, 'sub', 'head.safetensors'), makeModel(8, 2, 256, 300, 'F32'));
  writeFileSync(join(ckpt, 'config.json'), '{"hidden_size":512}\n');
  writeFileSync(join(ckpt, 'tokenizer.bin'), detBytes(200_000, 'tok'));
});
afterAll(() => vi.useRealTimers());

async function sealedDigest(name: string, threads: number, fingerprint: boolean): Promise<string> {
  fixed.counters.clear();
  const out = join(dir, `${name}-${threads}.mseal`);
  const registry = join(dir, `${name}-${threads}`, 'registry.jsonl');
  await seal({
    input: ckpt,
    output: out,
    recipients,
    publisher,
    chunkSize: 65536,
    threads,
    license: 'L-1',
    ...(fingerprint
      ? { fingerprint: { recipient: 'carol', key: { id: 'fk-1', key: Buffer.alloc(32, 3) }, registry } }
      : {}),
  });
  return createHash('sha256').update(readFileSync(out)).digest('hex');
}

describe('seal writes the bytes it wrote before the pipeline', () => {
  for (const threads of [1, 2]) {
    it(`plain, ${threads} thread(s)`, async () => {
      expect(await sealedDigest('plain', threads, false)).toBe(
        '389600f3a565d93d4f6084452e8f46aa79c2f66ceba9ce08af8c28109b80acff',
      );
    });
    it(`fingerprinted, ${threads} thread(s)`, async () => {
      expect(await sealedDigest('marked', threads, true)).toBe(
        'a205072648319bc995de0235fcea88b4f2c23b519f00fc4bab389be2ba045c78',
      );
    });
  }
});
