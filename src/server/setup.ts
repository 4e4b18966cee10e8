/**
 * Assembles the release service from a data directory and a key store, the embedded default of
 * `modelseal serve`: <data>/log (file store), <data>/policy (created with the defaults when
 * missing), <data>/recipients; the key store's log key signs checkpoints and its x25519 identity
 * is the service's own key (release stanzas are wrapped to it).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readdir } from 'node:fs/promises';
import { KEYSTORE_FILES, loadLogSigner, loadX25519Identity, noPassphrase, readPublisherPublicKey, type PassphraseSource } from '../keystore/keystore.js';
import { openLogStore } from '../log/open.js';
import { PgStore } from '../log/pgstore.js';
import { PgLedger } from './pgledger.js';
import { TransparencyLog } from '../log/log.js';
import { createPseudonymKey, loadPseudonymizer, type Pseudonymizer } from '../log/pseudonym.js';
import { initPolicyDir, PolicyWatcher } from '../policy/engine.js';
import { envThreads } from '../crypto/pool.js';
import { Decider } from './decider.js';
import { RecipientRegistry } from './recipients.js';
import { ReleaseService } from './service.js';

export interface ReleaseServiceSetup {
  service: ReleaseService;
  log: TransparencyLog;
  policy: PolicyWatcher;
  recipients: RecipientRegistry;
  /** Policy files written because they were missing. */
  createdPolicyFiles: string[];
  close(): Promise<void>;
}

export function dataPaths(data: string) {
  return { log: join(data, 'log'), policy: join(data, 'policy'), recipients: join(data, 'recipients'), publishers: join(data, 'publishers') };
}

export async function openReleaseService(
  data: string,
  keys: string,
  opts: {
    /** A PostgreSQL URL: the log (and nonces, release counts) shared with other replicas. Default: <data>/log. */
    store?: string;
    passphrase?: PassphraseSource;
    skewSeconds?: number;
    pseudonymKey?: string;
    commitIntervalMs?: number;
    now?: () => Date;
    onPolicyError?: (e: unknown) => void;
  } = {},
): Promise<ReleaseServiceSetup> {
  const paths = dataPaths(data);
  const passphrase = opts.passphrase ?? noPassphrase;
  const createdPolicyFiles = await initPolicyDir(paths.policy);
  const policy = await PolicyWatcher.open(paths.policy, opts.onPolicyError);
  const signer = await loadLogSigner(join(keys, KEYSTORE_FILES.log), passphrase);
  const identity = await loadX25519Identity(join(keys, KEYSTORE_FILES.identity), passphrase);
  const recipients = new RecipientRegistry(paths.recipients);
  const publishers = await trustedPublishers(keys, paths.publishers);
  let pseudonyms: Pseudonymizer | undefined;
  if (opts.pseudonymKey) {
    if (!existsSync(opts.pseudonymKey)) await createPseudonymKey(opts.pseudonymKey);
    pseudonyms = await loadPseudonymizer(opts.pseudonymKey);
  }
  const store = await openLogStore(opts.store ?? paths.log);
  const ledger = store instanceof PgStore ? await PgLedger.open(store.pool, store.schema) : undefined;
  const log = new TransparencyLog(store, signer, opts.commitIntervalMs !== undefined ? { commitIntervalMs: opts.commitIntervalMs } : {});
  // MODELSEAL_THREADS=0 or 1 (no worker threads) keeps the decision on the main thread.
  const decider = new Decider({ thread: (envThreads() ?? 2) > 1 });
  decider.warm(policy.engine);
  const close = async () => {
    await decider.close();
    await log.close();
  };
  try {
    const service = await ReleaseService.open({
      log,
      policy,
      decider,
      recipients,
      identity,
      wrap: identity.recipient.id,
      publishers,
      ...(ledger ? { ledger } : {}),
      ...(pseudonyms ? { pseudonyms } : {}),
      ...(opts.skewSeconds !== undefined ? { skewSeconds: opts.skewSeconds } : {}),
      ...(opts.now ? { now: opts.now } : {}),
    });
    return { service, log, policy, recipients, createdPolicyFiles, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/** The publishers whose exports the service logs: the key store's own, and <data>/publishers/*.pub. */
async function trustedPublishers(keys: string, dir: string): Promise<Uint8Array[]> {
  const files = [join(keys, KEYSTORE_FILES.publisherPub)].filter((f) => existsSync(f));
  if (existsSync(dir)) files.push(...(await readdir(dir)).filter((f) => f.endsWith('.pub') || f.endsWith('.pem')).map((f) => join(dir, f)));
  return Promise.all(files.map((f) => readPublisherPublicKey(f)));
}
