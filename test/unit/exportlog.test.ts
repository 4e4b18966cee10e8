/** seal --log as a library call: openExportLog picks a log store or a release service and records the exports. */
import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initKeystore, isServiceLog, openExportLog, openLogStore, queryEvents, seal } from '../../src/index.js';
import { detBytes, makeKeys, tempDir } from '../support/fixtures.js';

const keys = makeKeys();
const dir = tempDir('modelseal-exportlog-');

describe('openExportLog', () => {
  it('tells a release service URL from a log store', () => {
    expect(isServiceLog('https://release.example')).toBe(true);
    expect(isServiceLog('http://127.0.0.1:7411')).toBe(true);
    expect(isServiceLog('./data/log')).toBe(false);
    expect(isServiceLog('postgres://u@h/db')).toBe(false);
  });

  it("a log store: signed with the key store's log.key, one export entry per recipient, recorded before commit", async () => {
    const keysDir = join(dir, 'keys');
    await initKeystore(keysDir);
    const where = join(dir, 'log');
    const log = await openExportLog(where, { keysDir });
    const src = join(dir, 'w.bin');
    writeFileSync(src, detBytes(10_000));
    let logged: Awaited<ReturnType<typeof log.record>> = [];
    try {
      await seal({
        input: src,
        output: join(dir, 'w.mseal'),
        recipients: [keys.local, keys.alice.recipient],
        publisher: keys.publisher,
        beforeCommit: async (r) => {
          logged = await log.record(r, keys.publisher);
        },
      });
    } finally {
      await log.close();
    }
    expect(logged).toEqual([
      { index: 0, recipient: keys.local.id },
      { index: 1, recipient: keys.alice.recipient.id },
    ]);
    const store = await openLogStore(where, 'read');
    try {
      const { entries } = await queryEvents(store, { type: 'export' });
      expect(entries.map((e) => e.event.recipient)).toEqual([keys.local.id, keys.alice.recipient.id]);
      expect(store.checkpoint).toContain(log.origin);
    } finally {
      await store.close();
    }
  });

  it('a log store without a log key in the key store is refused before anything is written', async () => {
    await expect(openExportLog(join(dir, 'log2'), { keysDir: join(dir, 'no-keys') })).rejects.toMatchObject({
      code: 'KEYSTORE',
      message: expect.stringContaining('log.key'),
    });
  });
});
