/**
 * `audit import-cloudtrail` as a library call: a recorded CloudTrail log file
 * (test/fixtures/cloudtrail/kms-decrypts.json, its README says what each record is) imported into
 * a log store that holds the aws-kms export the Decrypts opened.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  encodeEvent,
  importCloudTrail,
  initKeystore,
  openExportLog,
  openLogStore,
  parseCloudTrail,
  queryEvents,
  type ExportEvent,
  type ReleaseEvent,
} from '../../src/index.js';
import { MemoryLedger } from '../../src/server/ledger.js';
import { tempDir } from '../support/fixtures.js';

const FIXTURE = resolve('test/fixtures/cloudtrail/kms-decrypts.json');
const KEY = 'arn:aws:kms:us-east-1:111122223333:key/0f5e2d4c-1a2b-4c3d-8e9f-0123456789ab';
const PACKAGE = '1d'.repeat(16) + 'e2'.repeat(16);
const dir = tempDir('modelseal-cloudtrail-');

/** The export `seal --to aws-kms:KEY --license EAR-7 --log` records for the fixture's package. */
const sealed: ExportEvent = {
  v: 1,
  type: 'export',
  time: '2026-03-01T12:00:00.000Z',
  package: PACKAGE,
  artifact: `sha256:${'5a'.repeat(32)}`,
  model: 'llama-tiny',
  recipient: `aws-kms:${KEY}`,
  provider: 'aws-kms',
  license: 'EAR-7',
  policy: 'none',
  publisher: `sha256:${'00'.repeat(32)}`,
  fingerprint: null,
};

/** A log store holding the fixture package's export, and the key store that signs it. */
async function logWithExport(name: string) {
  const keysDir = join(dir, `${name}-keys`);
  await initKeystore(keysDir);
  const where = join(dir, `${name}-log`);
  const log = await openExportLog(where, { keysDir });
  await log.local!.append(encodeEvent(sealed));
  return { log, where };
}

describe('audit import-cloudtrail', () => {
  it('reads the KMS Decrypt records of a CloudTrail file and skips every other call', () => {
    const t = parseCloudTrail(readFileSync(FIXTURE, 'utf8'));
    expect(t.decrypts.map((d) => d.eventID.slice(0, 8))).toEqual([
      '3f2a9c1e',
      'a1b2c3d4',
      '5e6f7a8b',
      'c0ffee00',
      'f9e8d7c6',
    ]);
    expect(t.otherRecords).toBe(2);
    expect(t.decrypts[1]).toMatchObject({
      key: KEY,
      principal: 'arn:aws:iam::777788889999:user/mallory',
      sourceIPAddress: '198.51.100.7',
      errorCode: 'AccessDenied',
    });
  });

  it('imports matched Decrypts as release events, reports the unmatched, and adds nothing on a second import', async () => {
    const { log, where } = await logWithExport('twice');
    try {
      const first = await importCloudTrail(FIXTURE, log);
      expect(first).toMatchObject({
        imported: 3,
        duplicates: 0,
        failedDecrypts: 1,
        otherKeys: 1,
        otherRecords: 2,
        indexes: [1, 2, 3],
      });
      expect(first.unmatched.map((u) => u.eventID)).toEqual(['5e6f7a8b-2222-4ccc-9ddd-abcdef012345']);
      const again = await importCloudTrail(FIXTURE, log);
      expect(again).toMatchObject({ imported: 0, duplicates: 3, failedDecrypts: 0, indexes: [] });
      expect(again.unmatched).toHaveLength(1);
      expect(log.local!.size).toBe(4);
    } finally {
      await log.close();
    }
    const store = await openLogStore(where, 'read');
    try {
      // The imported releases list beside the service's, under the same filters.
      const { entries } = await queryEvents(store, { type: 'release', license: 'EAR-7' });
      const releases = entries.map((e) => e.event as ReleaseEvent);
      expect(releases.map((r) => [r.decision, r.reason, r.kms?.principal])).toEqual([
        ['allow', 'kms-decrypt', 'arn:aws:sts::444455556666:assumed-role/model-consumer/consumer-1'],
        ['deny', 'kms:AccessDenied', 'arn:aws:iam::777788889999:user/mallory'],
        ['allow', 'kms-decrypt', 'arn:aws:sts::444455556666:assumed-role/model-consumer/consumer-1'],
      ]);
      expect(releases[0]).toMatchObject({
        time: '2026-03-02T09:15:02.000Z',
        request: 'cloudtrail:3f2a9c1e-7b4d-4e8a-9f01-2c3d4e5f6a7b',
        path: 'aws-kms',
        package: PACKAGE,
        artifact: sealed.artifact,
        recipient: sealed.recipient,
        ip: '203.0.113.24',
        kms: { key: KEY, event: '3f2a9c1e-7b4d-4e8a-9f01-2c3d4e5f6a7b' },
      });
      expect((await queryEvents(store, { decision: 'deny' })).entries).toHaveLength(1);
      // KMS released those keys, not the service: they do not spend the service's quota for the license.
      expect(await (await MemoryLedger.fromLog(store, Date.now(), 60_000)).used('EAR-7')).toBe(0);
    } finally {
      await store.close();
    }
  });

  it('--key limits the import to those keys; a Decrypt naming another artifact matches no package', async () => {
    const { log } = await logWithExport('keys');
    try {
      const none = await importCloudTrail(FIXTURE, log, new Set(['arn:aws:kms:us-east-1:111122223333:key/other']));
      expect(none).toMatchObject({ imported: 0, otherKeys: 5 });
      const trail = JSON.parse(readFileSync(FIXTURE, 'utf8')) as {
        Records: { requestParameters: { encryptionContext?: Record<string, string> } }[];
      };
      trail.Records[0]!.requestParameters.encryptionContext!.artifact = `sha256:${'6b'.repeat(32)}`;
      const moved = join(dir, 'moved.json');
      writeFileSync(moved, JSON.stringify(trail));
      const r = await importCloudTrail(moved, log);
      expect(r.unmatched.map((u) => u.eventID.slice(0, 8))).toEqual(['3f2a9c1e', '5e6f7a8b']);
      expect(r.imported).toBe(2);
    } finally {
      await log.close();
    }
  });

  it('reads the file as CloudTrail delivers it to S3, gzipped', async () => {
    const { log } = await logWithExport('gz');
    try {
      const gz = join(dir, 'trail.json.gz');
      writeFileSync(gz, gzipSync(readFileSync(FIXTURE)));
      expect(await importCloudTrail(gz, log)).toMatchObject({ imported: 3, failedDecrypts: 1 });
      writeFileSync(gz, gzipSync(readFileSync(FIXTURE)).subarray(0, 100));
      await expect(importCloudTrail(gz, log)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    } finally {
      await log.close();
    }
  });

  it('a file that is not a CloudTrail log is refused with a typed error, before anything is logged', async () => {
    const { log } = await logWithExport('bad');
    try {
      const bad = join(dir, 'bad.json');
      for (const text of [
        'not json',
        '{"records": []}',
        '{"Records": [{"eventSource": "kms.amazonaws.com", "eventName": "Decrypt"}]}',
      ]) {
        writeFileSync(bad, text);
        await expect(importCloudTrail(bad, log)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      }
      expect(log.local!.size).toBe(1);
    } finally {
      await log.close();
    }
  });
});
