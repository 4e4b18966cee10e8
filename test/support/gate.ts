/**
 * A gated model for the gateway's tests: a key store, a data directory with registered recipients
 * and their API keys, the release service opened over it, and the gateway on the service's
 * listener in front of a model server (the real llama-server, or the in-process fake).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
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
import { storeEvents, type InferAdmitEvent, type InferSettleEvent } from '../../src/log/events.js';
import type { LogStore } from '../../src/log/store.js';
import { writeMmdb } from './mmdb.js';
import { entity, testScreening } from './screening.js';
import { within } from './wait.js';

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

/** A key store and data directory ready for a gateway: what {@link prepareGateData} made. */
export interface GateData {
  keysDir: string;
  data: string;
  keyStore: ApiKeyStore;
  registry: RecipientRegistry;
  apiKeys: Record<string, string>;
  identities: Record<string, string>;
}

/**
 * A key store and data directory in `dir`: recipients registered (RSA, with certificates) with one API
 * key each, and licenses for the model `digest` for those `licensed`.
 */
export async function prepareGateData(dir: string, digest: string, recipients: GateRecipient[]): Promise<GateData> {
  const keysDir = join(dir, 'keys');
  const data = join(dir, 'data');
  await initKeystore(keysDir, { logOrigin: 'gate.test/log' });
  mkdirSync(join(data, 'policy'), { recursive: true });
  await initPolicyDir(join(data, 'policy'));
  const licenses = recipients
    .filter((r) => r.licensed !== false)
    .map((r) => gateLicense(`L-${r.name}`, r.name, digest));
  writeFileSync(join(data, 'policy', POLICY_FILES.licenses), JSON.stringify({ licenses }));
  const ca = await loadOrCreateCa(keysDir);
  const registry = new RecipientRegistry(dataPaths(data).recipients);
  const keyStore = new ApiKeyStore(dataPaths(data).apiKeys, registry);
  const apiKeys: Record<string, string> = {};
  const identities: Record<string, string> = {};
  for (const r of recipients) {
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
  return { keysDir, data, keyStore, registry, apiKeys, identities };
}

/**
 * Starts a gated model in `dir` ({@link prepareGateData}): the release service over the data
 * directory and the gateway on its listener.
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
  const prepared = await prepareGateData(dir, o.model.digest ?? `model:${o.model.name}`, o.recipients);
  const { keysDir, data, keyStore } = prepared;
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
    ...prepared,
    setup,
    gateway,
    server,
    exchanges,
    close: async () => {
      await server.close();
      await gateway.close();
      await setup.close();
    },
  };
}

/**
 * The callers of the refusal matrix: licensed, unlicensed, scoped to another model, to be revoked,
 * on a screening list (gateScreening), of an embargoed citizenship, risky, and under a quota.
 */
export const CALLERS: GateRecipient[] = [
  { name: 'acme-labs', org: 'Acme Labs GmbH' },
  { name: 'unlicensed-co', org: 'Unlicensed Co', licensed: false },
  { name: 'other-model-co', org: 'Other Model Co', models: ['another-model'] },
  { name: 'revoked-co', org: 'Revoked Co' },
  { name: 'shady-co', org: 'Shady Trading LLC' },
  { name: 'dual-co', org: 'Dual Labs GmbH', citizenships: ['IR'] },
  { name: 'risky-co', org: 'Risky Co' },
  { name: 'quota-co', org: 'Quota Co' },
];

/** The service's screening lists for CALLERS: shady-co's organisation is listed. */
export const gateScreening = () => testScreening([{ source: 'sdn', entities: [entity('sdn-1', 'Shady Trading LLC')] }]);

/** An address the test country database places in Iran (embargoed). */
export const IRAN = '5.160.1.7';

/** Writes a country database (MMDB) placing 5.160.0.0/16 in Iran, built now; returns its path. */
export function testCountryDatabase(dir: string): string {
  const path = join(dir, 'test-country.mmdb');
  const networks = { '5.160.0.0/16': { country_code: 'IR' } };
  writeFileSync(path, writeMmdb({ networks, databaseType: 'test-country', buildEpoch: Math.floor(Date.now() / 1000) }));
  return path;
}

/** Call `id`'s entries in `store`: its admit entry and, for an allowed call, its settle entry once it is in. */
export async function callEntries(
  store: LogStore,
  id: string,
): Promise<{ admit: InferAdmitEvent; settle: InferSettleEvent | undefined }> {
  const read = async () => {
    const out: (InferAdmitEvent | InferSettleEvent)[] = [];
    for await (const { event } of storeEvents(store))
      if ((event?.type === 'infer-admit' || event?.type === 'infer-settle') && event.id === id) out.push(event);
    return out;
  };
  const first = await read();
  const admit = first.find((e): e is InferAdmitEvent => e.type === 'infer-admit');
  if (!admit) throw new Error(`no admit entry for call ${id}`);
  const all =
    admit.decision === 'allow'
      ? await within(10_000, `the settle entry of ${id}`, async () => ((await read()).length === 2 ? read() : null))
      : first;
  return { admit, settle: all.find((e): e is InferSettleEvent => e.type === 'infer-settle') };
}

/** Starts a streamed chat call and drops the connection at its first event; resolves with the call's id. */
export function dropAfterFirstEvent(url: string, key: string, body: unknown): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const u = new URL(`${url}/v1/chat/completions`);
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    const req = request({ host: u.hostname, port: u.port, method: 'POST', path: u.pathname, headers }, (res) => {
      res.once('data', () => {
        req.destroy();
        resolve(res.headers['x-request-id'] as string);
      });
    });
    req.on('error', () => {});
    req.end(JSON.stringify(body));
    setTimeout(() => reject(new Error('no first event within 20 s')), 20_000).unref();
  });
}

/** A served model without a package for tests: its digest `tag` (2 hex digits) repeated, its parameters declared. */
export function testModel(name: string, tag: string, parameters = 1000n, tier = 'unclassified'): ServedModel {
  return { name, digest: `sha256:${tag.repeat(32)}`, parameters, parametersFrom: 'flag', tier };
}
