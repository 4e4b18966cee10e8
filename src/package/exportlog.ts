/**
 * `seal --log`: the log that records a package's exports before the package is written. Either a
 * local log store signed with the key store's log key, or a release service that logs the exports
 * its trusted publishers sign and returns receipts. docs/LOG.md, docs/SERVER.md.
 */
import { join } from 'node:path';
import { encodeEvent, exportEvents, type PublisherEvent } from '../log/events.js';
import { TransparencyLog } from '../log/log.js';
import type { NoteVerifier } from '../log/note.js';
import { logSpecKind, openLogStore } from '../log/open.js';
import {
  KEYSTORE_FILES,
  loadLogSigner,
  noPassphrase,
  readLogVerifier,
  type PassphraseSource,
  type Publisher,
} from '../keystore/keystore.js';
import { logExports } from '../providers/release.js';
import type { SealResult } from './seal.js';

/** One recorded export: the log entry's index and the recipient it is for. */
export interface LoggedExport {
  index: number;
  recipient: string;
}

/** Where a sealed package's exports are recorded, whichever kind of log it is. */
export interface ExportLog {
  /** The log's origin (C2SP: its URL prefix without the scheme). */
  readonly origin: string;
  /** The local log itself (a log store signed with the key store's log key); null for a release service. */
  readonly local: TransparencyLog | null;
  /** Records one export event per recipient of `result` and returns the entries; throws if any is not recorded. */
  record(result: SealResult, publisher: Publisher): Promise<LoggedExport[]>;
  /** Records publisher events (exports, screening overrides), one entry each; returns their indexes or throws. */
  append(events: PublisherEvent[], publisher: Publisher): Promise<number[]>;
  close(): Promise<void>;
}

export interface ExportLogOptions {
  /** The key store: its log.key signs a local log's checkpoints; its log.vkey checks a service's receipts. */
  keysDir: string;
  /** Unlocks a protected log.key. */
  passphrase?: PassphraseSource;
  /** A service's log verifier key (origin+id+key) or a file holding it; default: the key store's log.vkey. */
  logKey?: string;
}

/** Whether a `--log` value names a release service (an http(s) URL) rather than a log store. */
export function isServiceLog(where: string): boolean {
  return logSpecKind(where) === 'service';
}

/**
 * Opens the export log `where`: a release service URL (http:// or https://), else a log store (a
 * data directory or a PostgreSQL URL) signed with the key store's log.key. Close it when done.
 */
export async function openExportLog(where: string, opts: ExportLogOptions): Promise<ExportLog> {
  if (isServiceLog(where)) {
    const logKey = await readLogVerifier(opts.logKey ?? join(opts.keysDir, KEYSTORE_FILES.logPub));
    return serviceLog(where, logKey);
  }
  const signer = await loadLogSigner(join(opts.keysDir, KEYSTORE_FILES.log), opts.passphrase ?? noPassphrase);
  const store = await openLogStore(where);
  let log: TransparencyLog;
  try {
    log = new TransparencyLog(store, signer);
  } catch (e) {
    await store.close();
    throw e;
  }
  const append = async (events: PublisherEvent[]) =>
    (await Promise.all(events.map((e) => log.append(encodeEvent(e))))).map((rc) => rc.index);
  return {
    origin: log.origin,
    local: log,
    record: async (result) => {
      const events = exportEvents(result);
      return (await append(events)).map((index, i) => ({ index, recipient: events[i]!.recipient }));
    },
    append,
    close: () => log.close(),
  };
}

/** A release service's log: it records the events the publisher signs, and each receipt must verify under `logKey`. */
function serviceLog(url: string, logKey: NoteVerifier): ExportLog {
  const append = (events: PublisherEvent[], publisher: Publisher) => logExports(url, events, publisher.signer, logKey);
  return {
    origin: logKey.name,
    local: null,
    record: async (result, publisher) => {
      const events = exportEvents(result);
      return (await append(events, publisher)).map((index, i) => ({ index, recipient: events[i]!.recipient }));
    },
    append,
    close: async () => {},
  };
}
