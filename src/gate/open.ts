/**
 * Assembles `modelseal gate` over an opened release service (src/server/setup.ts): the served model
 * (from its package), the API keys of the data directory, the quota file and its store (in memory,
 * or, when the service's log is in PostgreSQL, shared there with the other replicas), the
 * extraction monitor, and the policy's Infer decision on the service's decider. docs/GATE.md.
 */
import { join } from 'node:path';
import type { ChangeTrigger } from '../policy/watcher.js';
import type { ReleaseServiceSetup } from '../server/setup.js';
import { dataPaths } from '../server/paths.js';
import { Gateway } from './gateway.js';
import { ApiKeyStore } from './keys.js';
import { servedModel, type ServedModel } from './model.js';
import { promptFeatures } from './monitor/features.js';
import { PgStore } from '../log/pgstore.js';
import { MemoryQuotaStore } from './quota-memory.js';
import { PgQuotaStore } from './quota-pg.js';
import { QuotaFile } from './quotas.js';
import type { ExtractionMonitor, QuotaStore } from './types.js';
import type { UpstreamTimeouts } from './upstream.js';

/** Options of {@link openGate}. */
export interface GateSetupOptions {
  /** The model server's base URL. */
  upstream: string;
  /** The served model's name (`--model`), and the sealed package it was opened from (`--package`). */
  model: string;
  package?: string;
  /** The parameter count without a package (`--parameters`). */
  parameters?: bigint;
  /** The quota file (default <data>/gate/quotas.json; missing: no limits). */
  quotas?: string;
  timeouts?: Partial<UpstreamTimeouts>;
  /** The extraction monitor fed from the log (live, and from the entries already in it at start). */
  monitor: ExtractionMonitor;
  /** What tells the quota file's watcher to look at it (default: fs.watch and a 1 s stat). */
  quotasTrigger?: ChangeTrigger;
  onError?: (what: string, e: unknown) => void;
  now?: () => Date;
}

/** A gateway ready to serve, and what closes it. */
export interface GateSetup {
  gateway: Gateway;
  model: ServedModel;
  quotaFile: QuotaFile;
  quotas: QuotaStore;
  keys: ApiKeyStore;
  close(): Promise<void>;
}

/** Opens the gateway over the release service `setup` of data directory `data`. */
export async function openGate(data: string, setup: ReleaseServiceSetup, o: GateSetupOptions): Promise<GateSetup> {
  const model = await servedModel(o.model, o.package, o.parameters);
  const paths = dataPaths(data);
  const keys = new ApiKeyStore(paths.apiKeys, setup.recipients);
  const quotaFile = await QuotaFile.open(
    o.quotas ?? join(paths.gate, 'quotas.json'),
    (e) => o.onError?.('the edited quota file does not validate, the previous one stays in force', e),
    o.quotasTrigger ? { trigger: o.quotasTrigger } : {},
  );
  let quotas: QuotaStore;
  try {
    // Replicas sharing a PostgreSQL log share the quota counters in its database.
    const store = setup.log.store;
    quotas =
      store instanceof PgStore
        ? await PgQuotaStore.open(store.pool, quotaFile, store.schema)
        : new MemoryQuotaStore(quotaFile);
  } catch (e) {
    quotaFile.close();
    throw e;
  }
  const gateway = await Gateway.open({
    setup,
    model,
    keys,
    quotas,
    monitor: o.monitor,
    features: promptFeatures,
    decideInfer: (engine, q) => setup.decider.decideInfer(engine, q),
    defaultMaxTokens: () => quotaFile.config.defaultMaxTokens,
    upstream: o.upstream,
    ...(o.timeouts && { timeouts: o.timeouts }),
    ...(o.onError && { onError: o.onError }),
    ...(o.now && { now: o.now }),
  });
  return {
    gateway,
    model,
    quotaFile,
    quotas,
    keys,
    close: async () => {
      await gateway.close();
      quotaFile.close();
      await quotas.close();
    },
  };
}
