/** seal --log as a library call: openExportLog picks a log store or a release service and records the exports. */
import { describe, expect, it } from 'vitest';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  initKeystore,
  isServiceLog,
  loadPublisherKey,
  openExportLog,
  openLogStore,
  openReleaseService,
  queryEvents,
  seal,
  startServer,
} from '../../src/index.js';
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
      // Only export events: another type would show as its type name and fail the comparison.
      const recipients = entries.map((e) => (e.event.type === 'export' ? e.event.recipient : e.event.type));
      expect(recipients).toEqual([keys.local.id, keys.alice.recipient.id]);
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

  it('a release service URL: the service logs the exports the publisher signs; each receipt must verify under log.vkey', async () => {
    const keysDir = join(dir, 'service-keys');
    await initKeystore(keysDir);
    const setup = await openReleaseService(join(dir, 'service-data'), keysDir, { commitIntervalMs: 0 });
    const server = await startServer(setup.service, setup.log, { port: 0 });
    try {
      const publisher = await loadPublisherKey(join(keysDir, 'publisher.key'));
      const src = join(dir, 's.bin');
      writeFileSync(src, detBytes(5_000, 'service'));
      const log = await openExportLog(server.url, { keysDir });
      expect(log.origin).toBe(setup.log.origin);
      let logged: Awaited<ReturnType<typeof log.record>> = [];
      await seal({
        input: src,
        output: join(dir, 's.mseal'),
        recipients: [keys.local],
        publisher,
        beforeCommit: async (r) => {
          logged = await log.record(r, publisher);
        },
      });
      await log.close();
      expect(logged).toEqual([{ index: 0, recipient: keys.local.id }]);
      // Receipts from this service do not verify under another log's key: nothing is recorded as logged.
      const otherKeys = join(dir, 'other-keys');
      await initKeystore(otherKeys);
      const wrong = await openExportLog(server.url, { keysDir: otherKeys });
      await expect(
        seal({
          input: src,
          output: join(dir, 's2.mseal'),
          recipients: [keys.local],
          publisher,
          beforeCommit: async (r) => {
            await wrong.record(r, publisher);
          },
        }),
      ).rejects.toMatchObject({ code: 'LOG_INVALID' });
      expect(existsSync(join(dir, 's2.mseal'))).toBe(false);
    } finally {
      await server.close();
      await setup.close();
    }
  });
});
