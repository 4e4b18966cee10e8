/** `audit import-cloudtrail`: releases made by KMS outside the service, from CloudTrail into the log. docs/LOG.md. */
import type { Command } from 'commander';
import { importCloudTrail } from '../../src/index.js';
import { collect, emitJson, exportLog, say, type GlobalOptions } from '../util.js';

interface ImportFlags {
  log: string;
  key: string[];
}

async function importTrail(file: string, o: ImportFlags, g: GlobalOptions): Promise<void> {
  const log = await exportLog(g, o.log);
  try {
    const r = await importCloudTrail(file, log, o.key.length ? new Set(o.key) : undefined);
    for (const u of r.unmatched)
      say(g, `unmatched: CloudTrail event ${u.eventID} (${u.eventTime}, ${u.principal}) names no package in the log`);
    say(
      g,
      `imported ${r.imported} KMS Decrypt(s) (${r.failedDecrypts} failed), ${r.duplicates} already in the log, ` +
        `${r.unmatched.length} unmatched, ${r.otherKeys} for other keys`,
    );
    emitJson(g, 'audit import-cloudtrail', {
      log: log.origin,
      imported: r.imported,
      duplicates: r.duplicates,
      unmatched: r.unmatched.map((u) => ({
        eventID: u.eventID,
        eventTime: u.eventTime,
        key: u.key,
        principal: u.principal,
        encryptionContext: u.encryptionContext,
        errorCode: u.errorCode,
      })),
      failedDecrypts: r.failedDecrypts,
      otherKeys: r.otherKeys,
      otherRecords: r.otherRecords,
      indexes: r.indexes,
    });
  } finally {
    await log.close();
  }
}

/** `audit import-cloudtrail`: KMS Decrypts of our keys, from CloudTrail, into the log as releases. */
export function registerImportCloudTrail(audit: Command): void {
  audit
    .command('import-cloudtrail <events.json>')
    .description(
      'record the KMS Decrypt calls a CloudTrail log file holds for packages sealed --to aws-kms as release ' +
        'events (matched by EncryptionContext; each CloudTrail event once)',
    )
    .requiredOption('--log <dir|postgres-url>', 'the log store the packages were sealed into (seal --log)')
    .option(
      '--key <arn>',
      'only Decrypts of this key (repeatable); default: every key an aws-kms export names',
      collect,
      [],
    )
    .action((file: string, o: ImportFlags, cmd: Command) => importTrail(file, o, cmd.optsWithGlobals<GlobalOptions>()));
}
