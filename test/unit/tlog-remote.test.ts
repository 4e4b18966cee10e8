/** The log's read side over HTTP (C2SP tlog-tiles + /v1/checkpoints), audited from afar. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { auditLog } from '../../src/log/audit.js';
import { FileStore } from '../../src/log/filestore.js';
import { TransparencyLog } from '../../src/log/log.js';
import { NoteSigner, parseVerifierKey } from '../../src/log/note.js';
import { RemoteLog, tileIndexPath } from '../../src/log/remote.js';
import { startServer } from '../../src/server/http.js';
import { unknownObservation } from '../../src/compliance/types.js';
import type { ReleaseService } from '../../src/server/service.js';
import { tempDir } from '../support/fixtures.js';

const dir = tempDir('modelseal-tlog-remote-');
const signer = NoteSigner.generate('remote.test/log');
const verifier = parseVerifierKey(signer.verifierKey);
const log = new TransparencyLog(FileStore.open(join(dir, 'log')), signer, { commitIntervalMs: 0 });
const entry = (i: number) => Buffer.from(JSON.stringify({ v: 1, type: 'note', i, pad: 'x'.repeat(i % 50) }));
// Only the read side is exercised: of a release service, only the request ids and the limits on failures.
let seq = 0;
const readOnly = {
  exchangeId: () => (seq++).toString(16).padStart(32, '0'),
  admitFailure: () => ({ ok: true }),
  locateSource: (peer: string) => ({ client: { address: peer }, observed: unknownObservation(peer) }),
};
const server = await startServer(readOnly as unknown as ReleaseService, log, { port: 0 });
afterAll(async () => {
  await server.close();
  await log.close();
});

describe('a log read over HTTP', () => {
  it('names tiles as C2SP does', () => {
    expect([0, 7, 999, 1000, 1234067].map(tileIndexPath)).toEqual(['000', '007', '999', 'x001/000', 'x001/x234/067']);
  });

  it('reads entries across full and partial tiles, and every checkpoint; the audit recomputes the tree', async () => {
    for (let i = 0; i < 600; i += 100)
      await Promise.all(Array.from({ length: 100 }, (_, k) => log.append(entry(i + k))));
    const remote = await RemoteLog.open(server.url + '/');
    expect(remote.size).toBe(600);
    const got = await remote.readEntries(250, 520);
    expect(got.map((b) => b.toString())).toEqual(Array.from({ length: 270 }, (_, k) => entry(250 + k).toString()));
    const notes: string[] = [];
    for await (const n of remote.checkpoints()) notes.push(n);
    expect(notes.length).toBeGreaterThanOrEqual(6);
    expect(notes[notes.length - 1]).toBe(remote.checkpoint);
    await expect(auditLog(remote, verifier, { storedHashes: false })).resolves.toMatchObject({
      ok: true,
      size: 600,
      entriesChecked: 600,
    });
  });

  it('a view opened before the log grew stops at its own checkpoint', async () => {
    const remote = await RemoteLog.open(server.url);
    await log.append(entry(600));
    await expect(auditLog(remote, verifier, { storedHashes: false })).resolves.toMatchObject({ ok: true, size: 600 });
  });

  it('an entry rewritten on the server is found', async () => {
    const file = join(dir, 'log', 'entries');
    const bytes = readFileSync(file);
    bytes.write('"i":3', bytes.indexOf('"i":7,')); // entry 7 now claims to be entry 3
    writeFileSync(file, bytes);
    const report = await auditLog(await RemoteLog.open(server.url), verifier, { storedHashes: false });
    expect(report).toMatchObject({ ok: false, problem: { kind: 'checkpoint' } });
    expect(report.problem!.message).toMatch(/does not match the logged entries: an entry in \[\d+, 100\) was changed/);
  });

  it('an unreachable server is LOG_UNAVAILABLE', async () => {
    await expect(RemoteLog.open('http://127.0.0.1:9')).rejects.toMatchObject({ code: 'LOG_UNAVAILABLE' });
  });
});
