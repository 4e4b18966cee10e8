/**
 * openLogSource: one spelling of "the log" for every command that reads it (`audit`, `trace --log`):
 * an http(s) URL is a running release service read over its tiles, a PostgreSQL URL or a directory a
 * store opened read-only. A real server, file store and PostgreSQL (.peers), each holding entries.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  FileStore,
  isServiceLog,
  logSpecKind,
  NoteSigner,
  openLogSource,
  PgStore,
  RemoteLog,
  startServer,
  TransparencyLog,
  type LogSource,
  type ReleaseService,
} from '../../src/index.js';
import { unknownObservation } from '../../src/compliance/types.js';
import { tempDir } from '../support/fixtures.js';
import { usePostgres } from '../support/postgres.js';

const dir = tempDir('modelseal-log-source-');
const postgres = usePostgres();
const signer = NoteSigner.generate('source.test/log');
const entry = (i: number) => Buffer.from(JSON.stringify({ v: 1, type: 'note', i }));

const fileLog = new TransparencyLog(FileStore.open(join(dir, 'log')), signer, { commitIntervalMs: 0 });
for (let i = 0; i < 3; i++) await fileLog.append(entry(i));
// The read side of a release service over the same log: request ids and failure limits are never asked for.
const readOnly = {
  exchangeId: () => '0'.repeat(32),
  admitFailure: () => ({ ok: true }),
  locateSource: (peer: string) => ({ client: { address: peer }, observed: unknownObservation(peer) }),
};
const server = await startServer(readOnly as unknown as ReleaseService, fileLog, { port: 0 });
afterAll(async () => {
  await server.close();
  await fileLog.close();
});

/** Opens `spec`, hands back what the source says of itself and its entries, and closes it. */
async function read(source: Promise<LogSource>) {
  const s = await source;
  try {
    return { name: s.name, remote: s.remote, size: s.store.size, entries: await s.store.readEntries(0, s.store.size) };
  } finally {
    await s.store.close();
  }
}

describe('openLogSource', () => {
  it('tells a release service from a store by the spelling, as seal --log does', () => {
    for (const spec of ['http://127.0.0.1:7411', 'https://releases.example/log'])
      expect([logSpecKind(spec), isServiceLog(spec)]).toEqual(['service', true]);
    for (const spec of ['./data/log', '/srv/log', 'postgres://u@h/db', 'postgresql://u@h/db?schema=s', 'ftp://x'])
      expect([logSpecKind(spec), isServiceLog(spec)]).toEqual(['store', false]);
  });

  it('a directory is the file store, read-only: it reads beside the writer that holds the lock', async () => {
    const r = await read(openLogSource(join(dir, 'log')));
    expect(r).toMatchObject({ name: join(dir, 'log'), remote: false, size: 3 });
    expect(r.entries.map(String)).toEqual([0, 1, 2].map((i) => String(entry(i))));
  });

  it("an http(s) URL is the service's log over HTTP: the same entries, no stored hashes", async () => {
    const s = await openLogSource(server.url);
    expect(s.store).toBeInstanceOf(RemoteLog);
    await expect(s.store.readHashes([0])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    const r = await read(Promise.resolve(s));
    expect(r).toMatchObject({ name: server.url, remote: true, size: 3 });
    expect(r.entries.map(String)).toEqual([0, 1, 2].map((i) => String(entry(i))));
  });

  it('a PostgreSQL URL is the shared store, named without its URL (which may hold a password)', async () => {
    const schema = postgres.schema();
    const pgLog = new TransparencyLog(await PgStore.open(postgres.url, { schema }), signer);
    await pgLog.append(entry(7));
    await pgLog.close();
    const u = new URL(postgres.url);
    u.searchParams.set('schema', schema);
    const ok = await read(openLogSource(u.toString()));
    expect(ok).toMatchObject({ name: 'the PostgreSQL log', remote: false, size: 1 });
    expect(String(ok.entries[0])).toBe(String(entry(7)));
    expect(ok.name).not.toContain(u.host);
  });

  it('an explicit kind overrides the spelling (the old --store and --server flags keep their meaning)', async () => {
    await expect(openLogSource(server.url, 'store')).rejects.toMatchObject({ code: 'LOG_UNAVAILABLE' });
    await expect(openLogSource(join(dir, 'log'), 'service')).rejects.toMatchObject({ code: 'LOG_UNAVAILABLE' });
    await expect(openLogSource(join(dir, 'log'), 'store').then((s) => s.store.close())).resolves.toBeUndefined();
  });
});
