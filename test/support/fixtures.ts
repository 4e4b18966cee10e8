/** Shared helpers for package tests: fresh keys, temp folders, deterministic bytes. */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { LocalKey, newPublisherKey, X25519Identity, type Publisher } from '../../src/index.js';

export function tempDir(prefix = 'modelseal-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Deterministic pseudo-random bytes (SHA-256 in counter mode), so failures reproduce. */
export function detBytes(n: number, seed = 'seed'): Buffer {
  const out = Buffer.alloc(n);
  for (let i = 0, at = 0; at < n; i++) {
    const block = createHash('sha256').update(`${seed}:${i}`).digest();
    at += block.copy(out, at);
  }
  return out;
}

export interface Keys {
  publisher: Publisher;
  trusted: Uint8Array[];
  alice: X25519Identity;
  bob: X25519Identity;
  local: LocalKey;
}

export function makeKeys(): Keys {
  const { publisher } = newPublisherKey();
  return {
    publisher,
    trusted: [publisher.spki],
    alice: X25519Identity.generate().identity,
    bob: X25519Identity.generate().identity,
    local: new LocalKey(randomBytes(8).toString('hex'), randomBytes(32)),
  };
}
