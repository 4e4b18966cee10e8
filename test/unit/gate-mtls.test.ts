/**
 * Callers identified by their client certificate (mutual TLS): the recipient certificates the key
 * store's CA issued, checked against the registered fingerprints; alone, or with an API key that
 * must be the same recipient's.
 */
import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadReleaseIdentity } from '../../src/keystore/keystore.js';
import { storeEvents, type InferAdmitEvent } from '../../src/log/events.js';
import { tempDir } from '../support/fixtures.js';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.js';
import { startGate, testModel, type GatedModel } from '../support/gate.js';
import { gateParts } from '../support/gate-parts.js';
import { serverCert } from '../support/registry-certs.js';

const MODEL = 'tiny-llama';
const dir = tempDir('modelseal-gate-mtls-');
let fake: FakeUpstream;
let gate: GatedModel;
let serverCa: Buffer;

beforeAll(async () => {
  fake = await startFakeUpstream();
  const tls = serverCert(dir);
  serverCa = readFileSync(tls.caFile);
  gate = await startGate(dir, {
    model: testModel(MODEL, 'cd', 10n),
    recipients: [
      { name: 'acme-labs', org: 'Acme Labs GmbH' },
      { name: 'beta-co', org: 'Beta Co' },
    ],
    gate: { ...gateParts().options, upstream: fake.url },
    tls: { cert: readFileSync(tls.certFile, 'utf8'), key: readFileSync(tls.keyFile, 'utf8') },
  });
}, 60_000);

afterAll(async () => {
  await gate.close();
  await fake.close();
});

/** A chat call over TLS, with `who`'s client certificate and/or API key. */
async function call(cert: string | null, key: string | null): Promise<{ status: number; id: string }> {
  const identity = cert ? await loadReleaseIdentity(gate.identities[cert]!) : null;
  const u = new URL(`${gate.server.url}/v1/chat/completions`);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname,
        method: 'POST',
        ca: serverCa,
        ...(identity && { cert: identity.certificate, key: identity.key.export({ format: 'pem', type: 'pkcs8' }) }),
        headers: { 'content-type': 'application/json', ...(key && { authorization: `Bearer ${gate.apiKeys[key]}` }) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode!, id: res.headers['x-request-id'] as string }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 }));
  });
}

async function admitOf(id: string): Promise<InferAdmitEvent> {
  for await (const { event } of storeEvents(gate.setup.log.store))
    if (event?.type === 'infer-admit' && event.id === id) return event;
  throw new Error(`no admit entry for ${id}`);
}

it('a client certificate alone identifies its recipient, and is logged by its fingerprint', async () => {
  const r = await call('acme-labs', null);
  expect(r.status).toBe(200);
  const registered = await gate.registry.get('acme-labs');
  expect(await admitOf(r.id)).toMatchObject({
    decision: 'allow',
    recipient: 'acme-labs',
    key: null,
    certificate: registered!.fingerprint,
  });
});

it('a certificate and the same recipient key: allowed, both logged', async () => {
  const r = await call('beta-co', 'beta-co');
  expect(r.status).toBe(200);
  expect((await admitOf(r.id)).key).toMatch(/^[0-9a-f]{16}$/);
});

it("a certificate and another recipient's key are refused", async () => {
  const r = await call('acme-labs', 'beta-co');
  expect(r.status).toBe(401);
  expect(await admitOf(r.id)).toMatchObject({ decision: 'deny', reason: 'unknown-certificate' });
});

it('without a certificate or a key: refused; a key alone still works over TLS', async () => {
  expect((await call(null, null)).status).toBe(401);
  expect((await call(null, 'acme-labs')).status).toBe(200);
});

it('a revoked recipient is refused on its next call by certificate', async () => {
  await gate.registry.revoke('beta-co');
  const r = await call('beta-co', null);
  expect(r.status).toBe(403);
  expect(await admitOf(r.id)).toMatchObject({ reason: 'revoked-identity', recipient: 'beta-co' });
});
