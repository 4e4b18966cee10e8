/**
 * Two gateway replicas on one PostgreSQL store (`gate --store postgres://…`), each assembled as the
 * CLI does it (openReleaseService + openGate: a sealed package's model, the data directory's keys
 * and quota file, PgQuotaStore chosen because the log is in PostgreSQL), in front of llama-server:
 * calls spread over both share one quota exactly, and land in one log with one order, which audits.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openGate, type GateSetup } from '../../src/gate/open.js';
import { createExtractionMonitor } from '../../src/gate/monitor/index.js';
import { initKeystore, loadPublisherKey } from '../../src/keystore/keystore.js';
import { auditLog } from '../../src/log/audit.js';
import { storeEvents } from '../../src/log/events.js';
import { parseVerifierKey } from '../../src/log/note.js';
import { seal } from '../../src/package/seal.js';
import { loadLocalKey } from '../../src/providers/local.js';
import { startServer, type RunningServer } from '../../src/server/http.js';
import { dataPaths } from '../../src/server/paths.js';
import { openReleaseService, type ReleaseServiceSetup } from '../../src/server/setup.js';
import { tempDir } from '../support/fixtures.js';
import { prepareGateData, type GateData } from '../support/gate.js';
import { startLlamaServer, TINY_LLAMA_NAME, type LlamaPeer } from '../support/llama.js';
import { usePostgres } from '../support/postgres.js';
import { within } from '../support/wait.js';

const db = usePostgres();
const dir = tempDir('modelseal-gate-replicas-');
let llama: LlamaPeer;
let pkg: string;
let prepared: GateData;
const closers: (() => unknown)[] = [];

interface Replica {
  setup: ReleaseServiceSetup;
  gate: GateSetup;
  server: RunningServer;
}

beforeAll(async () => {
  llama = await startLlamaServer();
  closers.push(() => llama.close());
  // The served weights' package, sealed by a publisher of its own (the gateway only reads its header).
  const publisher = join(dir, 'publisher-keys');
  await initKeystore(publisher);
  writeFileSync(join(dir, 'weights.bin'), randomBytes(50_000));
  pkg = join(dir, 'tiny.mseal');
  const sealed = await seal({
    input: join(dir, 'weights.bin'),
    output: pkg,
    recipients: [await loadLocalKey(join(publisher, 'local.kek'))],
    publisher: await loadPublisherKey(join(publisher, 'publisher.key')),
  });
  prepared = await prepareGateData(dir, sealed.model.rootDigest, [{ name: 'acme-labs', org: 'Acme Labs GmbH' }]);
  mkdirSync(dataPaths(prepared.data).gate, { recursive: true });
  const quotas = { recipients: { 'acme-labs': { requestsPerMinute: 3 } } };
  writeFileSync(join(dataPaths(prepared.data).gate, 'quotas.json'), JSON.stringify(quotas));
}, 240_000);

afterAll(async () => {
  for (const close of closers.reverse()) await close();
});

/** One replica as `modelseal gate --store <store> --package <pkg>` assembles it. */
async function replica(store: string): Promise<Replica> {
  const setup = await openReleaseService(prepared.data, prepared.keysDir, { store, geoip: null, commitIntervalMs: 2 });
  closers.push(() => setup.close());
  const gate = await openGate(prepared.data, setup, {
    upstream: llama.url,
    model: TINY_LLAMA_NAME,
    package: pkg,
    monitor: createExtractionMonitor(),
  });
  closers.push(() => gate.close());
  const server = await startServer(setup.service, setup.log, { port: 0, routes: gate.gateway.routes });
  closers.push(() => server.close());
  return { setup, gate, server };
}

/** Waits, when the current minute is nearly over, for the next: the quota is per minute. */
async function awayFromMinuteEnd(): Promise<void> {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < 15_000) await new Promise((r) => setTimeout(r, left + 100));
}

it('two replicas share one quota exactly and one log', async () => {
  const url = new URL(db.url);
  url.searchParams.set('schema', db.schema());
  const [a, b] = [await replica(url.toString()), await replica(url.toString())];
  expect(a.gate.quotas.constructor.name).toBe('PgQuotaStore');
  expect(a.gate.model).toMatchObject({ digest: expect.stringMatching(/^sha256:/), parametersFrom: 'none' });
  await awayFromMinuteEnd();
  const body = JSON.stringify({ model: TINY_LLAMA_NAME, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 3 });
  const calls = Array.from({ length: 8 }, (_, i) =>
    fetch(`${(i % 2 ? b : a).server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${prepared.apiKeys['acme-labs']}`, 'content-type': 'application/json' },
      body,
    }).then(async (r) => ({ status: r.status, retryAfter: r.headers.get('retry-after'), text: await r.text() })),
  );
  const answers = await Promise.all(calls);
  expect(answers.filter((r) => r.status === 200)).toHaveLength(3);
  const refused = answers.filter((r) => r.status === 429);
  expect(refused).toHaveLength(5);
  for (const r of refused) expect(Number(r.retryAfter)).toBeGreaterThan(0);
  // One log: both replicas' entries, admits and settles (written after the answers), in one tree.
  const events = await within(10_000, 'the settle entries of both replicas', async () => {
    await a.setup.log.store.refresh?.();
    const seen: string[] = [];
    for await (const { event } of storeEvents(a.setup.log.store))
      if (event?.type === 'infer-admit') seen.push(`admit ${event.decision} ${event.reason}`);
      else if (event?.type === 'infer-settle') seen.push(`settle ${event.outcome}`);
    return seen.filter((e) => e.startsWith('settle')).length === 3 && seen;
  });
  expect(events.filter((e) => e === 'admit allow licensed')).toHaveLength(3);
  expect(events.filter((e) => e === 'admit deny quota-exceeded')).toHaveLength(5);
  expect(events.filter((e) => e === 'settle completed')).toHaveLength(3);
  const logKey = parseVerifierKey(readFileSync(join(prepared.keysDir, 'log.vkey'), 'utf8'));
  expect(await auditLog(b.setup.log.store, logKey)).toMatchObject({ ok: true });
}, 120_000);
