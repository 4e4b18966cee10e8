/**
 * A gated model for the gateway's tests: a key store, a data directory with registered recipients
 * and their API keys, the release service opened over it, and the gateway on the service's
 * listener in front of a model server (the real llama-server, or the in-process fake).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initKeystore } from '../../src/keystore/keystore.js';
import { writeKeyFile } from '../../src/keystore/keyfile.js';
import { initPolicyDir, POLICY_FILES } from '../../src/policy/engine.js';
import { CA_FILES, loadOrCreateCa, RecipientRegistry } from '../../src/server/recipients.js';
import { openReleaseService, type ReleaseServiceSetup, type ReleaseSetupOptions } from '../../src/server/setup.js';
import { startServer, type ExchangeRecord, type RunningServer } from '../../src/server/http.js';
import { dataPaths } from '../../src/server/paths.js';
import { ApiKeyStore } from '../../src/gate/keys.js';
import { Gateway, type GatewayOptions } from '../../src/gate/gateway.js';
import type { ServedModel } from '../../src/gate/model.js';

const DAY = 86400_000;
const iso = (ms: number) => new Date(Date.now() + ms).toISOString();

export interface GateRecipient {
  name: string;
  org: string;
  country?: string;
  nationalities?: string[];
  citizenships?: string[];
  /** Licensed for the served model (default true). */
  licensed?: boolean;
  /** Models its API key is scoped to (default: every model). */
  models?: string[];
}

export interface GatedModel {
  dir: string;
  keysDir: string;
  data: string;
  setup: ReleaseServiceSetup;
  gateway: Gateway;
  server: RunningServer;
  keyStore: ApiKeyStore;
  registry: RecipientRegistry;
  /** Each recipient's API key, by name. */
  apiKeys: Record<string, string>;
  exchanges: ExchangeRecord[];
  /** Each recipient's identity file (its certificate and private key, for mutual TLS). */
  identities: Record<string, string>;
  close(): Promise<void>;
}

/** The license of `holder` for the served model. */
export function gateLicense(id: string, holder: string, model: string, over: Record<string, unknown> = {}) {
  return {
    id,
    holder,
    artifacts: [model],
    destinations: ['DE', 'FR', 'US', 'GB'],
    notBefore: iso(-DAY),
    notAfter: iso(DAY),
    maxReleases: 1,
    ...over,
  };
}

/**
 * Starts a gated model in `dir`: recipients registered (RSA, with certificates) with one API key each,
 * licenses for those `licensed`, the release service over the data directory and the gateway on its listener.
 */
export async function startGate(
  dir: string,
  o: {
    model: ServedModel;
    recipients: GateRecipient[];
    service?: ReleaseSetupOptions;
    gate: Omit<GatewayOptions, 'setup' | 'keys' | 'model'>;
    /** Serve https, asking for client certificates of the key store's CA (mutual TLS). */
    tls?: { cert: string; key: string };
  },
): Promise<GatedModel> {
  const keysDir = join(dir, 'keys');
  const data = join(dir, 'data');
  await initKeystore(keysDir, { logOrigin: 'gate.test/log' });
  mkdirSync(join(data, 'policy'), { recursive: true });
  await initPolicyDir(join(data, 'policy'));
  const digest = o.model.digest ?? `model:${o.model.name}`;
  const licenses = o.recipients
    .filter((r) => r.licensed !== false)
    .map((r) => gateLicense(`L-${r.name}`, r.name, digest));
  writeFileSync(join(data, 'policy', POLICY_FILES.licenses), JSON.stringify({ licenses }));
  const ca = await loadOrCreateCa(keysDir);
  const registry = new RecipientRegistry(dataPaths(data).recipients);
  const keyStore = new ApiKeyStore(dataPaths(data).apiKeys, registry);
  const apiKeys: Record<string, string> = {};
  const identities: Record<string, string> = {};
  for (const r of o.recipients) {
    const attrs = {
      org: r.org,
      country: r.country ?? 'DE',
      nationalities: r.nationalities ?? ['DE'],
      citizenships: r.citizenships ?? [],
    };
    const { identity } = await registry.issue(r.name, attrs, ca);
    identities[r.name] = join(dir, `${r.name}.identity`);
    await writeKeyFile(identities[r.name]!, identity);
    apiKeys[r.name] = (await keyStore.issue(r.name, { ...(r.models && { models: r.models }) })).key;
  }
  const setup = await openReleaseService(data, keysDir, { commitIntervalMs: 0, geoip: null, ...o.service });
  const gateway = await Gateway.open({ ...o.gate, setup, keys: keyStore, model: o.model });
  const exchanges: ExchangeRecord[] = [];
  const server = await startServer(setup.service, setup.log, {
    port: 0,
    routes: gateway.routes,
    onExchange: (r) => exchanges.push(r),
    ...(o.tls && { tls: o.tls, clientCa: readFileSync(join(keysDir, CA_FILES.cert)) }),
  });
  return {
    dir,
    keysDir,
    data,
    setup,
    gateway,
    server,
    keyStore,
    registry,
    apiKeys,
    identities,
    exchanges,
    close: async () => {
      await server.close();
      gateway.close();
      await setup.close();
    },
  };
}
