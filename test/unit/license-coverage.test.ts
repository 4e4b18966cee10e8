/**
 * Licenses that fit how models are shipped (issue 19 §6), against the real in-process release
 * service over loopback HTTP: a license naming a model's root digest covers every fingerprinted
 * copy sealed from it (the stanza names the original, bound into its wrap), a false claim is
 * denied, and the log entry records the model; and the publisher's signed license check
 * (POST /v1/licenses/check) answers which term fails.
 */
import { generateKeyPairSync } from 'node:crypto';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createTcpServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isModelsealError } from '../../src/errors.js';
import { localSigner } from '../../src/crypto/signer.js';
import { readHead } from '../../src/package/head.js';
import {
  initKeystore,
  loadPublisherKey,
  loadReleaseIdentity,
  noPassphrase,
  publisherFromSigner,
  readPublisherPublicKey,
  type Publisher,
} from '../../src/keystore/keystore.js';
import { writeKeyFile } from '../../src/keystore/keyfile.js';
import { loadLocalKey } from '../../src/providers/local.js';
import { storeEvents, type ReleaseEvent } from '../../src/log/events.js';
import { parseVerifierKey } from '../../src/log/note.js';
import { open } from '../../src/package/open.js';
import { seal } from '../../src/package/seal.js';
import {
  initPolicyDir,
  PolicyEngine,
  POLICY_FILES,
  policySetHash,
  type PolicyFileTexts,
} from '../../src/policy/engine.js';
import { recipientFrom, type ProviderSettings } from '../../src/providers/registry.js';
import { ReleaseIdentity, requireLicense } from '../../src/providers/release.js';
import { startServer, type RunningServer } from '../../src/server/http.js';
import { loadOrCreateCa, RecipientRegistry } from '../../src/server/recipients.js';
import { openReleaseService, type ReleaseServiceSetup } from '../../src/server/setup.js';
import { signLicenseCheck } from '../../src/release/license-check.js';
import {
  signRecordsQuery,
  type RecordsAnswer,
  type RecordsSubmission,
  type RecordsWanted,
} from '../../src/release/records.js';
import type { PolicySetRecord, RecipientEvidence, SnapshotRecord } from '../../src/compliance/records.js';
import { remoteRecords } from '../../src/console/records-client.js';
import { readPolicySet } from '../../src/policy/archive.js';
import { MAX_BODY_BYTES } from '../../src/server/http.js';
import { fuzzCases, fuzzSeed } from '../support/fuzz.js';
import { prng } from '../support/prng.js';
import { encodeHeader, parseHeader } from '../../src/format/header.js';
import { releaseContextBytes } from '../../src/providers/types.js';
import { signedRequest } from '../support/release.js';
import { releaseHeader } from '../support/policy.js';
import { makeModel, writeSafetensors } from '../support/checkpoints.js';
import { tempDir } from '../support/fixtures.js';

const dir = tempDir('modelseal-license-');
const keys = join(dir, 'keys');
const data = join(dir, 'data');
const DAY = 86400_000;
const iso = (ms: number) => new Date(Date.now() + ms).toISOString();
let setup: ReleaseServiceSetup;
let server: RunningServer;
let logKey: ReturnType<typeof parseVerifierKey>;
let publisher: Publisher;
/** Root digests of the two models (A and B), unmarked. */
const model = { A: '', B: '' };
const ckpt = { A: join(dir, 'model-a'), B: join(dir, 'model-b') };

function license(id: string, over: Record<string, unknown> = {}) {
  return {
    id,
    holder: 'acme-labs',
    artifacts: [model.A],
    destinations: ['DE', 'FR'],
    notBefore: iso(-DAY),
    notAfter: iso(DAY),
    maxReleases: 5,
    ...over,
  };
}

async function sealFor(input: string, lic: string, fingerprint: boolean, name = lic): Promise<string> {
  const out = join(dir, `${name}.mseal`);
  const settings = { keysDir: keys, passphrase: noPassphrase, identityFiles: [], kms: {} } as ProviderSettings;
  const registry = join(dir, 'fingerprints', 'registry.jsonl');
  await seal({
    input,
    output: out,
    recipients: [await recipientFrom(`release:${server.url}#acme-labs`, settings)],
    publisher,
    license: lic,
    ...(fingerprint
      ? { fingerprint: { recipient: 'acme-labs', key: { id: 'fk', key: Buffer.alloc(32, 5) }, registry } }
      : {}),
    force: true,
  });
  return out;
}

async function openVia(pkg: string, destination = 'DE'): Promise<Error | undefined> {
  const { key } = await loadReleaseIdentity(join(dir, 'acme-labs.identity'));
  const identity = new ReleaseIdentity({ name: 'acme-labs', key, destination, logKey });
  const trustedPublishers = [await readPublisherPublicKey(join(keys, 'publisher.pub'))];
  const out = join(dir, `out-${Math.random().toString(36).slice(2)}`);
  return open({ input: pkg, output: out, identities: [identity], trustedPublishers }).then(
    () => undefined,
    (e: unknown) => e as Error,
  );
}

async function releaseEntries(): Promise<ReleaseEvent[]> {
  const out: ReleaseEvent[] = [];
  for await (const { event } of storeEvents(setup.log.store)) if (event?.type === 'release') out.push(event);
  return out;
}

async function post(path: string, body: unknown) {
  const res = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  await initKeystore(keys, { logOrigin: 'license.test/log' });
  logKey = parseVerifierKey(readFileSync(join(keys, 'log.vkey'), 'utf8'));
  publisher = await loadPublisherKey(join(keys, 'publisher.key'));
  for (const [k, seed] of [
    ['A', 1],
    ['B', 2],
  ] as const) {
    mkdirSync(ckpt[k], { recursive: true });
    writeSafetensors(join(ckpt[k], 'model.safetensors'), makeModel(seed, 2, 64, 96, 'F32'));
    const probe = await seal({
      input: ckpt[k],
      output: join(dir, `probe-${k}.mseal`),
      recipients: [await loadLocalKey(join(keys, 'local.kek'))],
      publisher,
    });
    model[k] = probe.model.rootDigest;
  }
  await initPolicyDir(join(data, 'policy'));
  writeFileSync(
    join(data, 'policy', POLICY_FILES.licenses),
    JSON.stringify({
      licenses: [
        license('L-MODEL'),
        license('L-OTHER', { artifacts: [model.B] }),
        license('L-EXPIRED', { notBefore: iso(-10 * DAY), notAfter: iso(-DAY) }),
        license('L-FUTURE', { notBefore: iso(DAY), notAfter: iso(10 * DAY) }),
        license('L-BETA', { holder: 'beta-corp' }),
      ],
    }),
  );
  const ca = await loadOrCreateCa(keys);
  const registry = new RecipientRegistry(join(data, 'recipients'));
  const { identity } = await registry.issue(
    'acme-labs',
    { org: 'Acme Labs GmbH', country: 'DE', nationality: 'DE' },
    ca,
  );
  await writeKeyFile(join(dir, 'acme-labs.identity'), identity);
  setup = await openReleaseService(data, keys, { commitIntervalMs: 0, rateLimits: { burst: 10_000 } });
  server = await startServer(setup.service, setup.log, { port: 0 });
}, 60_000);

afterAll(async () => {
  await (server as RunningServer | undefined)?.close();
  await (setup as ReleaseServiceSetup | undefined)?.close();
});

describe('the stanza names the original model (docs/FORMAT.md §5)', () => {
  const ctx = {
    packageId: new Uint8Array(32).fill(1),
    artifactDigest: new Uint8Array(32).fill(0xaa),
    recipient: 'acme-labs',
    license: 'EAR-1',
    policy: 'none',
  };

  it('binds it into the release context as a sixth pair after "artifact"; without it, the five pairs as before', () => {
    const text = (m?: Uint8Array) =>
      Buffer.from(releaseContextBytes({ ...ctx, ...(m ? { model: m } : {}) })).toString();
    const pkg = `${'AQEB'.repeat(10)}AQE`; // 32 bytes of 0x01, base64url
    const head = `modelseal/v1 release-context\n{"package":"${pkg}","artifact":"sha256:${'aa'.repeat(32)}",`;
    const tail = '"recipient":"acme-labs","license":"EAR-1","policy":"none"}';
    expect(text()).toBe(head + tail);
    expect(text(new Uint8Array(32).fill(0xbb))).toBe(`${head}"model":"sha256:${'bb'.repeat(32)}",${tail}`);
  });

  it('round-trips "model" in the header, after "policy", and refuses one that is not a sha256 digest', () => {
    const header = releaseHeader({ model: new Uint8Array(32).fill(0xbb) });
    const bytes = encodeHeader(header, new Uint8Array(32));
    const text = Buffer.from(bytes).toString();
    expect(text).toContain(`"policy":"none","model":"sha256:${'bb'.repeat(32)}","args":`);
    expect(parseHeader(bytes).header.stanzas[0]!.model).toEqual(new Uint8Array(32).fill(0xbb));
    const bad = text.replace(`"model":"sha256:${'bb'.repeat(32)}"`, `"model":"md5:${'bb'.repeat(16)}"`);
    expect(() => parseHeader(Buffer.from(bad))).toThrow(/stanzas\[0\]\.model must be "sha256:<hex>"/);
  });
});

describe('a license naming the model covers its fingerprinted copies', () => {
  it('releases a marked copy under a license naming the ORIGINAL digest, and logs both digests', async () => {
    const pkg = await sealFor(ckpt.A, 'L-MODEL', true, 'marked-a');
    const h = (await readHead(pkg)).parsed.header;
    const marked = `sha256:${Buffer.from(h.model.rootDigest).toString('hex')}`;
    expect(marked).not.toBe(model.A);
    expect(Buffer.from(h.stanzas[0]!.model!).toString('hex')).toBe(model.A.slice(7));
    expect(await openVia(pkg)).toBeUndefined();
    const last = (await releaseEntries()).at(-1)!;
    expect(last).toMatchObject({ decision: 'allow', artifact: marked, model: model.A, license: 'L-MODEL' });
  });

  it('denies a marked copy under a license for another model', async () => {
    const e = await openVia(await sealFor(ckpt.A, 'L-OTHER', true, 'marked-a-other'));
    expect(isModelsealError(e, 'RELEASE_DENIED')).toBe(true);
    expect((await releaseEntries()).at(-1)).toMatchObject({ decision: 'deny', reason: 'no-permit', model: model.A });
  });

  it('still releases an unmarked package under a license naming its digest (no model in its stanza)', async () => {
    const pkg = await sealFor(ckpt.A, 'L-MODEL', false, 'plain-a');
    expect((await readHead(pkg)).parsed.header.stanzas[0]!.model).toBeUndefined();
    expect(await openVia(pkg)).toBeUndefined();
    const last = (await releaseEntries()).at(-1)!;
    expect(last.decision).toBe('allow');
    expect(last.model).toBeUndefined();
  });

  it('denies a forged claim: a stanza made to name a licensed model it was not sealed from', async () => {
    const { key } = await loadReleaseIdentity(join(dir, 'acme-labs.identity'));
    // Model B's marked copy, its stanza edited to claim model A (which L-MODEL names).
    const markedB = await sealFor(ckpt.B, 'L-MODEL', true, 'marked-b');
    const edited = await signedRequest(markedB, 'acme-labs', key, (r) => {
      r.stanza.model = model.A;
    });
    const a = await post('/v1/release', edited.body);
    expect(a.body).toMatchObject({ decision: 'deny', reason: 'stanza-not-for-package' });
    // An unmarked package of B (no model in its stanza), the claim added.
    const plainB = await sealFor(ckpt.B, 'L-MODEL', false, 'plain-b');
    const added = await signedRequest(plainB, 'acme-labs', key, (r) => {
      r.stanza.model = model.A;
    });
    const b = await post('/v1/release', added.body);
    expect(b.body).toMatchObject({ decision: 'deny', reason: 'stanza-not-for-package' });
    // And the claim left out of a marked copy's request: its wrap names the model, so it fails too.
    const dropped = await signedRequest(await sealFor(ckpt.A, 'L-MODEL', true, 'marked-a2'), 'acme-labs', key, (r) => {
      delete r.stanza.model;
    });
    expect((await post('/v1/release', dropped.body)).body).toMatchObject({ reason: 'stanza-not-for-package' });
  });

  it('refuses a hand-edited schema without `model`, naming it (docs/POLICY.md, "Upgrading")', async () => {
    const old = join(dir, 'old-policy');
    cpSync(join(data, 'policy'), old, { recursive: true });
    const schema = readFileSync(join(old, POLICY_FILES.schema), 'utf8').replace(
      'entity Artifact = { digest: String, model: String };',
      'entity Artifact = { digest: String };',
    );
    expect(schema).not.toContain('model: String');
    writeFileSync(join(old, POLICY_FILES.schema), schema);
    const refused = await PolicyEngine.load(old).then(
      () => null,
      (e: unknown) => e,
    );
    expect(isModelsealError(refused, 'POLICY_INVALID')).toBe(true);
    expect((refused as Error).message).toMatch(/Artifact\.model|model/);
  });
});

describe('POST /v1/licenses/check', () => {
  const check = (license: string, over: { model?: string; destinations?: string[]; holder?: string } = {}) =>
    requireLicense(server.url, { license, holder: 'acme-labs', destinations: ['DE'], ...over }, publisher.signer);
  const failure = (p: Promise<unknown>) =>
    p.then(
      () => undefined,
      (e: unknown) => (isModelsealError(e) ? { code: e.code, message: e.message, details: e.details } : e),
    );

  it('answers covered, with the terms, for the holder, the model and a licensed destination', async () => {
    const a = await check('L-MODEL', { model: model.A, destinations: ['DE', 'FR'] });
    expect(a).toMatchObject({ license: 'L-MODEL', covered: true, failures: [], terms: { maxReleases: 5 } });
    expect(a.terms!.used).toBeGreaterThanOrEqual(1);
  });

  it.each([
    ['L-NOPE', {}, ['unknown-license']],
    ['L-BETA', {}, ['other-holder']],
    ['L-OTHER', { model: 'A' }, ['model-not-covered']],
    ['L-MODEL', { destinations: ['DE', 'CN'] }, ['destination-not-licensed']],
    ['L-EXPIRED', {}, ['expired']],
    ['L-FUTURE', {}, ['not-yet-valid']],
  ] as const)('refuses %s %j with LICENSE_NOT_COVERED naming %j', async (id, over, reasons) => {
    const o = { ...over, ...('model' in over ? { model: model.A } : {}) } as {
      model?: string;
      destinations?: string[];
    };
    const e = (await failure(check(id, o))) as { code: string; message: string; details: { failures: string[] } };
    expect(e.code).toBe('LICENSE_NOT_COVERED');
    expect(e.details.failures).toEqual(reasons);
    expect(e.message).toContain(id);
  });

  it('answers no publisher it does not trust, and no forged or stale check', async () => {
    const stranger = localSigner(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
    const e = (await failure(
      requireLicense(server.url, { license: 'L-MODEL', holder: 'acme-labs', destinations: [] }, stranger),
    )) as { code: string };
    expect(e.code).toBe('UNTRUSTED_SIGNER');
    const signed = await signLicenseCheck(
      { v: 1, license: 'L-MODEL', holder: 'acme-labs', destinations: [], time: new Date().toISOString() },
      publisher.signer,
    );
    const forged = { ...signed, check: { ...signed.check, holder: 'beta-corp' } };
    expect(await post('/v1/licenses/check', forged)).toMatchObject({
      status: 403,
      body: { error: { code: 'SIGNATURE_INVALID' } },
    });
    const old = await signLicenseCheck({ ...signed.check, time: iso(-DAY) }, publisher.signer);
    expect(await post('/v1/licenses/check', old)).toMatchObject({
      status: 403,
      body: { error: { code: 'STALE_TIMESTAMP' } },
    });
    expect(await post('/v1/licenses/check', { check: signed.check })).toMatchObject({ status: 400 });
  });

  it('logs nothing in the transparency log', async () => {
    const before = setup.log.store.size;
    await check('L-MODEL');
    expect(setup.log.store.size).toBe(before);
  });

  it('says PROVIDER_UNAVAILABLE when the service cannot be reached', async () => {
    const s = createTcpServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as { port: number }).port;
    await new Promise((r) => s.close(r));
    const e = (await failure(
      requireLicense(
        `http://127.0.0.1:${port}`,
        { license: 'L', holder: 'acme-labs', destinations: [] },
        publisher.signer,
      ),
    )) as { code: string };
    expect(e.code).toBe('PROVIDER_UNAVAILABLE');
  });
});

describe('the records a logged decision rests on (POST /v1/records, issue 21)', () => {
  const failure = (p: Promise<unknown>) =>
    p.then(
      () => undefined,
      (e: unknown) => (isModelsealError(e) ? { code: e.code, message: e.message } : e),
    );
  const query = (want: Partial<RecordsWanted>, time = new Date().toISOString()) =>
    signRecordsQuery(
      { v: 1, want: { policySets: [], snapshots: [], recipients: [], ...want }, time },
      publisher.signer,
    );

  it('archives a licenses.json edited under the running service before it is in force: the logged hash rehashes to it', async () => {
    const file = join(data, 'policy', POLICY_FILES.licenses);
    const edited = JSON.parse(readFileSync(file, 'utf8')) as { licenses: unknown[] };
    edited.licenses.push(license('L-EDITED', { destinations: ['JP'] }));
    writeFileSync(file, JSON.stringify(edited));
    await setup.policy.check();
    expect(setup.policy.engine.license('L-EDITED')).toBeDefined();
    expect(await openVia(await sealFor(ckpt.A, 'L-MODEL', false, 'after-edit'))).toBeUndefined();
    const logged = (await releaseEntries()).at(-1)!.policySet;
    expect(logged).toBe(setup.policy.engine.hash);
    const archived = JSON.parse(readFileSync(join(data, 'records', 'policy-sets', `${logged}.json`), 'utf8')) as {
      files: PolicyFileTexts;
      inForce: string;
    };
    expect(policySetHash(archived.files)).toBe(logged);
    expect(archived.files.licenses).toContain('L-EDITED');
    expect(Date.parse(archived.inForce)).toBeGreaterThan(Date.now() - 60_000);
    // Every set a decision was logged under is kept, the one before the edit too.
    for (const e of await releaseEntries())
      expect((await readPolicySet(join(data, 'records', 'policy-sets'), e.policySet))?.hash).toBe(e.policySet);
  });

  it('answers a trusted publisher every item asked, null where none is kept, and logs nothing', async () => {
    const hashes = [...new Set((await releaseEntries()).map((e) => e.policySet))];
    const before = setup.log.store.size;
    const missing = { hash: 'ab'.repeat(32), ref: `csl@sha256:${'cd'.repeat(32)}` };
    const res = await post(
      '/v1/records',
      await query({
        policySets: [...hashes, missing.hash],
        snapshots: [missing.ref],
        recipients: ['acme-labs', 'nobody'],
      }),
    );
    expect(res.status).toBe(200);
    const body = res.body as unknown as RecordsAnswer<PolicySetRecord, SnapshotRecord, RecipientEvidence>;
    for (const h of hashes) expect(policySetHash(body.policySets[h]!.files)).toBe(h);
    expect(body.policySets[missing.hash]).toBeNull();
    expect(body.snapshots).toEqual({ [missing.ref]: null });
    expect(body.recipients.nobody).toBeNull();
    expect(body.recipients['acme-labs']).toMatchObject({ name: 'acme-labs', org: 'Acme Labs GmbH', revoked: null });
    expect(body.recipients['acme-labs']!.certificate).toMatch(/BEGIN CERTIFICATE/);
    expect(setup.log.store.size).toBe(before);
  });

  it('refuses untrusted, forged, stale, oversized and malformed queries with a 4xx, and stays up', async () => {
    const stranger = localSigner(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
    const e = (await failure(remoteRecords(server.url, publisherFromSigner(stranger)).policySet('ab'.repeat(32)))) as {
      code: string;
    };
    expect(e.code).toBe('UNTRUSTED_SIGNER');
    const good = await query({ recipients: ['acme-labs'] });
    const forged = { ...good, query: { ...good.query, want: { ...good.query.want, recipients: ['beta-corp'] } } };
    expect(await post('/v1/records', forged)).toMatchObject({
      status: 403,
      body: { error: { code: 'SIGNATURE_INVALID' } },
    });
    expect(await post('/v1/records', await query({}, iso(-DAY)))).toMatchObject({
      status: 403,
      body: { error: { code: 'STALE_TIMESTAMP' } },
    });
    const many = Array.from({ length: 257 }, (_, i) => i.toString(16).padStart(64, '0'));
    expect(await post('/v1/records', await query({ policySets: many }))).toMatchObject({ status: 400 });
    const split = await query({ policySets: many.slice(0, 200), recipients: Array(57).fill('acme-labs') as string[] });
    expect(await post('/v1/records', split)).toMatchObject({ status: 400 });
    const hostile: unknown[] = [
      null,
      [],
      'records',
      42,
      { query: good.query },
      { ...good, extra: 1 },
      { ...good, query: { ...good.query, v: 2 } },
      { ...good, query: { ...good.query, want: { policySets: ['../../etc/passwd'], snapshots: [], recipients: [] } } },
      { ...good, query: { ...good.query, want: { policySets: [], snapshots: ['csl@md5:00'], recipients: [] } } },
      { ...good, query: { ...good.query, want: { policySets: [], snapshots: [], recipients: ['../keys/log'] } } },
      { ...good, query: { ...good.query, want: { policySets: [], snapshots: [], recipients: [{ name: 1 }] } } },
      { ...good, query: { ...good.query, want: { policySets: {}, snapshots: [], recipients: [] } } },
      { ...good, query: { ...good.query, want: null } },
      { ...good, query: { ...good.query, time: 'yesterday' } },
      { ...good, publisher: 'x'.repeat(2000) },
      { ...good, signature: 7 },
      '{"__proto__": {"query": 1}, "publisher": "a", "signature": "b"}',
      '{"query": ' + '['.repeat(5000) + ']'.repeat(5000) + '}',
    ];
    const rand = prng(fuzzSeed());
    for (let i = 0; i < fuzzCases(40); i++) {
      const text = JSON.stringify(good);
      const at = rand.int(text.length);
      hostile.push(text.slice(0, at) + String.fromCharCode(32 + rand.int(95)) + text.slice(at + 1));
    }
    for (const [i, body] of hostile.entries()) {
      const res = await fetch(`${server.url}/v1/records`, {
        method: 'POST',
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      expect(res.status, `case ${i}: ${JSON.stringify(body).slice(0, 200)}`).toBeGreaterThanOrEqual(200);
      expect(res.status, `case ${i}`).toBeLessThan(500);
      // Only a mutation that changed nothing (the same character) is still the signed query.
      if (res.status === 200) expect(body, `case ${i}`).toBe(JSON.stringify(good));
    }
    const big = await fetch(`${server.url}/v1/records`, { method: 'POST', body: 'x'.repeat(MAX_BODY_BYTES + 1) });
    expect(big.status).toBe(413);
    expect((await fetch(`${server.url}/v1/info`)).status).toBe(200);
  });

  it('remoteRecords asks in batches of at most 256 and asks each item once', async () => {
    const asked: number[] = [];
    const realFetch = globalThis.fetch;
    // The client's requests, counted on their way (the client passes the URL as a string, the body as JSON text).
    globalThis.fetch = (url, init) => {
      if (typeof url === 'string' && url.endsWith('/v1/records') && typeof init?.body === 'string') {
        const w = (JSON.parse(init.body) as RecordsSubmission).query.want;
        asked.push(w.policySets.length + w.snapshots.length + w.recipients.length);
      }
      return realFetch(url, init);
    };
    try {
      const records = remoteRecords(`${server.url}/`, publisher);
      const hashes = Array.from({ length: 300 }, (_, i) => i.toString(16).padStart(64, '0'));
      const logged = setup.policy.engine.hash; // archived when it came into force
      const [sets, acme, again] = await Promise.all([
        Promise.all([...hashes, logged].map((h) => records.policySet(h))),
        records.recipient('acme-labs'),
        records.recipient('acme-labs'),
      ]);
      expect(sets.slice(0, 300).every((s) => s === null)).toBe(true);
      expect(policySetHash(sets[300]!.files)).toBe(logged);
      expect(acme).toMatchObject({ name: 'acme-labs', country: 'DE' });
      expect(again).toBe(acme);
      expect(asked).toEqual([256, 46]);
      expect(await records.policySet(logged)).toBe(sets[300]);
      expect(await records.snapshot('not a ref')).toBeNull();
      expect(asked).toHaveLength(2);
    } finally {
      globalThis.fetch = realFetch;
    }
  });
});
