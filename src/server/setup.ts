/**
 * Assembles the release service from a data directory and a key store, the embedded default of
 * `modelseal serve`: <data>/log (file store), <data>/policy (created with the defaults when
 * missing), <data>/recipients; the key store's log key (or a `logSigner` named by its log.vkey)
 * signs checkpoints and its x25519 identity is the service's own key (release stanzas are wrapped to it).
 */
import type { LicenseRequiredFor } from './classification.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readdir } from 'node:fs/promises';
import {
  KEYSTORE_FILES,
  loadLogSigner,
  logSignerFromVerifierKey,
  noPassphrase,
  readPublisherPublicKey,
  type PassphraseSource,
} from '../keystore/keystore.js';
import { loadX25519Identity } from '../providers/x25519.js';
import { openLogStore } from '../log/open.js';
import type { LogStore } from '../log/store.js';
import { PgStore } from '../log/pgstore.js';
import { PgLedger } from './pgledger.js';
import { TransparencyLog } from '../log/log.js';
import { createPseudonymKey, loadPseudonymizer, type Pseudonymizer } from '../log/pseudonym.js';
import { initPolicyDir, type PolicyFileTexts } from '../policy/engine.js';
import { PolicyWatcher, type ChangeTrigger, type PolicyStatus, type PolicyWatcherOptions } from '../policy/watcher.js';
import { archivePolicySet } from '../policy/archive.js';
import { dataPaths } from './paths.js';
import { envThreads } from '../crypto/pool.js';
import { Decider } from './decider.js';
import { RecipientRegistry } from './recipients.js';
import { ReleaseService } from './service.js';
import type { Identity } from '../providers/types.js';
import type { Signer } from '../crypto/signer.js';
import type { RateLimits } from './ratelimit.js';
import { defaultCountryDatabase, GeoLocator, SourceLocator, type ForwardedHeader } from '../compliance/geo/index.js';
import type { PartyScreening } from '../compliance/types.js';
import { ActiveLists, keepActiveSnapshotRecords, migrateDeniedParties } from '../compliance/lists/index.js';
import { openDataRecords } from './records.js';
import type { EvidenceRecords } from '../compliance/records.js';
import {
  checkRetention,
  parseRetention,
  retentionStart,
  type RetentionPeriod,
  type RetentionStatus,
} from './retention.js';

export interface ReleaseServiceSetup {
  service: ReleaseService;
  log: TransparencyLog;
  policy: PolicyWatcher;
  recipients: RecipientRegistry;
  /** The databases that locate request sources (docs/GEOFENCING.md); null when none is in use. */
  geo: GeoLocator | null;
  /** The screening lists in force (docs/SCREENING.md); null when the caller passed its own screening. */
  lists: ActiveLists | null;
  /** Policy files written because they were missing. */
  createdPolicyFiles: string[];
  /** With `retain`: whether every record the period's log entries rest on is kept (also in GET /v1/info). */
  retention: RetentionStatus | null;
  /** What the service screens recipients with (the gate screens its callers the same way). */
  screening: PartyScreening;
  /** The keyed hashes the service logs personal data as; null without a pseudonym key. */
  pseudonyms: Pseudonymizer | null;
  /** Whether a US-EAR classification needs a license for a country, as the service decides it. */
  licenseRequired: LicenseRequiredFor | undefined;
  /** Where the service's policy decisions run (a worker thread unless MODELSEAL_THREADS is 0 or 1). */
  decider: Decider;
  close(): Promise<void>;
}

export { dataPaths } from './paths.js';

/** Options of {@link openReleaseService}. */
export interface ReleaseSetupOptions {
  /** A PostgreSQL URL: the log (and nonces, release counts) shared with other replicas. Default: <data>/log. */
  store?: string;
  passphrase?: PassphraseSource;
  skewSeconds?: number;
  pseudonymKey?: string;
  commitIntervalMs?: number;
  now?: () => Date;
  /** Hears every edit of the policy files that does not validate, as soon as it is seen. */
  onPolicyError?: (e: unknown) => void;
  /** Hears every change of the policy status or of the set in force. */
  onPolicyChange?: (s: PolicyStatus) => void;
  /** What tells the policy watcher to look at the files (default: fs.watch and a 1 s stat). */
  policyTrigger?: ChangeTrigger;
  /** Per-source limits on failing requests and the summary interval (docs/SERVER.md, "Limits"). */
  rateLimits?: Partial<RateLimits>;
  summaryIntervalMs?: number;
  /** Failures the answers do not carry (a provider's outage, a summary not logged): for the service log. */
  onError?: (what: string, e: unknown) => void;
  /**
   * Further keys of the service (a KMS or HSM key): release stanzas whose inner stanza the key
   * store's x25519 identity does not open are tried with these, in order.
   */
  serviceKeys?: Identity[];
  /**
   * Signs the log's checkpoints instead of the key store's log.key (an Ed25519 key in an HSM): the
   * log's origin comes from the key store's log.vkey, which must be this signer's verifier key.
   */
  logSigner?: Signer;
  /**
   * The country database (mmdb) that locates request sources: a path, null for none; default: the
   * CC0 database of @ip-location-db/geo-whois-asn-country-mmdb when it is installed.
   */
  geoip?: string | null;
  /** An ASN database (mmdb) that marks hosting and anonymiser networks. */
  geoipAsn?: string;
  /** Days after its build past which the country database is stale (default 30). */
  geoipMaxAgeDays?: number;
  /** CIDR ranges of the proxies whose X-Forwarded-For / Forwarded headers are honoured. */
  trustedProxies?: string[];
  /** Which of those headers the proxies write (default: either). */
  forwardedHeader?: ForwardedHeader;
  /** Screens the recipient at every release; default: the data directory's active lists, kept current. */
  screening?: PartyScreening;
  /** What tells the default screening to look at `<data>/lists/active.json` (default: fs.watch and a 1 s stat). */
  listsTrigger?: ChangeTrigger;
  /** Hears every reload of the lists that failed (the previous lists stay in force) and every one that worked. */
  onListsError?: (e: unknown) => void;
  onListsReload?: (lists: readonly string[]) => void;
  /** Whether a US-EAR classification needs a license for a country; default: the rule packs (docs/POLICY.md). */
  licenseRequired?: LicenseRequiredFor;
  /**
   * The retention period ("5y", "18mo", "400d", src/server/retention.ts): at start, the records the
   * period's log entries rest on are checked; what is missing is reported, never a reason not to start.
   */
  retain?: string;
}

/** The source locator `opts` describe: trusted proxies and the geolocation databases (or none). */
async function openSources(opts: ReleaseSetupOptions): Promise<SourceLocator> {
  const country = opts.geoip === undefined ? defaultCountryDatabase() : opts.geoip;
  const locator =
    country === null
      ? null
      : await GeoLocator.open({
          country,
          ...(opts.geoipAsn !== undefined && { asn: opts.geoipAsn }),
          ...(opts.geoipMaxAgeDays !== undefined && { maxAgeDays: opts.geoipMaxAgeDays }),
          ...(opts.now && { now: opts.now }),
        });
  return new SourceLocator({
    locator,
    trustedProxies: opts.trustedProxies ?? [],
    ...(opts.forwardedHeader && { header: opts.forwardedHeader }),
  });
}

/** Opens the release service over the data folder `data` and the key store `keys` (docs/SERVER.md). */
export async function openReleaseService(
  data: string,
  keys: string,
  opts: ReleaseSetupOptions = {},
): Promise<ReleaseServiceSetup> {
  const paths = dataPaths(data);
  const retain = opts.retain === undefined ? undefined : parseRetention(opts.retain);
  const passphrase = opts.passphrase ?? noPassphrase;
  const sources = await openSources(opts);
  // The old denied-party list becomes a screening list before anything reads the policy or the lists.
  await migrateDeniedParties(data);
  // A data directory of an earlier version: the snapshots in force get their records (docs/SCREENING.md).
  await keepActiveSnapshotRecords(data);
  const createdPolicyFiles = await initPolicyDir(paths.policy);
  const signer = opts.logSigner
    ? await logSignerFromVerifierKey(join(keys, KEYSTORE_FILES.logPub), opts.logSigner)
    : await loadLogSigner(join(keys, KEYSTORE_FILES.log), passphrase);
  const own = await loadX25519Identity(join(keys, KEYSTORE_FILES.identity), passphrase);
  const identity = withServiceKeys(own, opts.serviceKeys ?? []);
  const recipients = new RecipientRegistry(paths.recipients);
  const publishers = await trustedPublishers(keys, paths.publishers);
  let pseudonyms: Pseudonymizer | undefined;
  if (opts.pseudonymKey) {
    if (!existsSync(opts.pseudonymKey)) await createPseudonymKey(opts.pseudonymKey);
    pseudonyms = await loadPseudonymizer(opts.pseudonymKey);
  }
  const lists = opts.screening ? null : await openLists(data, opts);
  const store = await openLogStore(opts.store ?? paths.log).catch((e: unknown) => {
    lists?.close();
    throw e;
  });
  const archive = (engine: { hash: string; files: PolicyFileTexts }) =>
    archivePolicySet(paths.policySets, engine, opts.now?.() ?? new Date());
  const { ledger, policy } = await openLedgerAndPolicy(store, paths.policy, { ...opts, archive }).catch(
    (e: unknown) => {
      lists?.close();
      throw e;
    },
  );
  const log = new TransparencyLog(
    store,
    signer,
    opts.commitIntervalMs !== undefined ? { commitIntervalMs: opts.commitIntervalMs } : {},
  );
  // MODELSEAL_THREADS=0 or 1 (no worker threads) keeps the decision on the main thread.
  const decider = new Decider({ thread: (envThreads() ?? 2) > 1 });
  decider.warm(policy.engine);
  let service: ReleaseService | undefined;
  const close = async () => {
    await service
      ?.close()
      .catch((e: unknown) => opts.onError?.('the last summary of refused requests could not be logged', e));
    policy.close();
    lists?.close();
    await decider.close();
    await log.close();
  };
  const records = await openDataRecords(data, pseudonyms ? { pseudonyms } : {});
  try {
    service = await ReleaseService.open({
      log,
      policy,
      decider,
      recipients,
      identity,
      wrap: own.recipient.id,
      publishers,
      sources,
      ...(ledger ? { ledger } : {}),
      ...(pseudonyms ? { pseudonyms } : {}),
      ...(opts.skewSeconds !== undefined ? { skewSeconds: opts.skewSeconds } : {}),
      ...(opts.now ? { now: opts.now } : {}),
      ...(opts.rateLimits ? { rateLimits: opts.rateLimits } : {}),
      ...(opts.summaryIntervalMs !== undefined ? { summaryIntervalMs: opts.summaryIntervalMs } : {}),
      ...(opts.onError ? { onError: opts.onError } : {}),
      ...(opts.licenseRequired ? { licenseRequired: opts.licenseRequired } : {}),
      screening: opts.screening ?? lists!,
      records,
    });
    const retention = retain ? await retentionOf(log, records, retain, opts.now?.() ?? new Date()) : null;
    service.retention = retention ?? undefined;
    const { licenseRequired } = opts;
    const exposed = { screening: opts.screening ?? lists!, pseudonyms: pseudonyms ?? null, licenseRequired, decider };
    return {
      service,
      log,
      policy,
      recipients,
      geo: sources.locator,
      lists,
      createdPolicyFiles,
      retention,
      close,
      ...exposed,
    };
  } catch (e) {
    await close();
    throw e;
  }
}

/** The retention check of `period` (src/server/retention.ts); a check that fails is reported, never thrown. */
async function retentionOf(
  log: TransparencyLog,
  records: EvidenceRecords,
  period: RetentionPeriod,
  now: Date,
): Promise<RetentionStatus> {
  try {
    return await checkRetention(log.store, records, period, now);
  } catch (e) {
    const since = retentionStart(period, now).toISOString();
    const error = `the log could not be read to check the records: ${e instanceof Error ? e.message : String(e)}`;
    return { period: period.text, since, complete: false, missing: [], error };
  }
}

/** The data directory's active screening lists, reloaded on every import (src/compliance/lists). */
function openLists(data: string, opts: ReleaseSetupOptions): Promise<ActiveLists> {
  const now = opts.now;
  return ActiveLists.open(data, {
    ...(now && { now: () => now().getTime() }),
    ...(opts.listsTrigger && { trigger: opts.listsTrigger }),
    ...(opts.onListsError && { onError: opts.onListsError }),
    ...(opts.onListsReload && { onReload: opts.onListsReload }),
  });
}

/**
 * The shared ledger (PostgreSQL) and the policy watcher, opened last of what can fail on its own, so
 * that a service that does not start leaves nothing watching; the log store is closed on failure.
 */
async function openLedgerAndPolicy(
  store: LogStore,
  policyDir: string,
  opts: Pick<ReleaseSetupOptions, 'now' | 'onPolicyError' | 'onPolicyChange' | 'policyTrigger'> &
    Pick<PolicyWatcherOptions, 'archive'>,
): Promise<{ ledger: PgLedger | undefined; policy: PolicyWatcher }> {
  try {
    const ledger = store instanceof PgStore ? await PgLedger.open(store.pool, store.schema) : undefined;
    const now = opts.now;
    const policy = await PolicyWatcher.open(policyDir, opts.onPolicyError, {
      ...(opts.onPolicyChange && { onChange: opts.onPolicyChange }),
      ...(opts.policyTrigger && { trigger: opts.policyTrigger }),
      ...(now && { now: () => now().getTime() }),
      ...(opts.archive && { archive: opts.archive }),
    });
    return { ledger, policy };
  } catch (e) {
    await store.close();
    throw e;
  }
}

/** The service's identity: its x25519 key, then each further key, for the stanzas the x25519 key does not open. */
function withServiceKeys(own: Identity, more: Identity[]): Identity {
  if (more.length === 0) return own;
  const all = [own, ...more];
  return {
    description: all.map((i) => i.description).join(', '),
    async unwrapDataKey(stanza, context) {
      for (const i of all) {
        const key = await i.unwrapDataKey(stanza, context);
        if (key) return key;
      }
      return null;
    },
  };
}

/** The publishers whose exports the service logs: the key store's own, and <data>/publishers/*.pub. */
async function trustedPublishers(keys: string, dir: string): Promise<Uint8Array[]> {
  const files = [join(keys, KEYSTORE_FILES.publisherPub)].filter((f) => existsSync(f));
  if (existsSync(dir))
    files.push(
      ...(await readdir(dir)).filter((f) => f.endsWith('.pub') || f.endsWith('.pem')).map((f) => join(dir, f)),
    );
  return Promise.all(files.map((f) => readPublisherPublicKey(f)));
}
