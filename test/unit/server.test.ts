/**
 * The release service over real HTTP on loopback: the allowed path end to end (seal for a
 * recipient, open through the service, receipt checked), and the denial matrix — each request
 * denied with its own reason, and every one of them logged.
 */
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer as createTcpServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isModelsealError } from '../../src/errors.js';
import {
  initKeystore,
  loadPublisherKey,
  loadReleaseIdentity,
  noPassphrase,
  readPublisherPublicKey,
} from '../../src/keystore/keystore.js';
import { writeKeyFile } from '../../src/keystore/keyfile.js';
import { loadLocalKey } from '../../src/providers/local.js';
import { auditLog } from '../../src/log/audit.js';
import { verifyProof } from '../../src/log/checkpoint.js';
import { decodeEvent, encodeEvent, storeEvents } from '../../src/log/events.js';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { AwsKmsIdentity, AwsKmsRecipient } from '../../src/providers/awskms.js';
import { startMoto } from '../support/moto.js';
import { parseVerifierKey } from '../../src/log/note.js';
import { open } from '../../src/package/open.js';
import { seal } from '../../src/package/seal.js';
import { initPolicyDir, POLICY_FILES } from '../../src/policy/engine.js';
import { DEFAULT_POLICY_IDS } from '../../src/policy/upgrade.js';
import { POLICIES } from '../../src/policy/defaults.js';
import { recipientFrom, type ProviderSettings } from '../../src/providers/registry.js';
import { ReleaseIdentity, ReleaseRecipient } from '../../src/providers/release.js';
import { FailureLimiter, sourceOf } from '../../src/server/ratelimit.js';
import { startServer, MAX_BODY_BYTES, type ExchangeRecord, type RunningServer } from '../../src/server/http.js';
import type { ReleaseRequest } from '../../src/release/request.js';
import { signedRequest } from '../support/release.js';
import { screenRegistration } from '../../src/server/registration.js';
import { entity, listName, testScreening } from '../support/screening.js';
import { loadOrCreateCa, RecipientRegistry } from '../../src/server/recipients.js';
import { openReleaseService, type ReleaseServiceSetup } from '../../src/server/setup.js';
import { tempDir } from '../support/fixtures.js';
import { within } from '../support/wait.js';
import { KNOWN, realDatabase } from '../support/geo.js';
import { classificationRecord } from '../support/classification.js';
import type { ClassificationRecord } from '../../src/format/classification.js';

/** The default policies scoped to the Infer action: they never decide a release. */
const INFER_ONLY = new Set(
  [...POLICIES.matchAll(/@id\("([^"]+)"\)\s*\w+\s*\(principal, action == Modelseal::Action::"Infer"/g)].map(
    (m) => m[1]!,
  ),
);

const dir = tempDir('modelseal-server-');
const keys = join(dir, 'keys');
const data = join(dir, 'data');
let setup: ReleaseServiceSetup;
let server: RunningServer;
let logKey: ReturnType<typeof parseVerifierKey>;
const pkgs: Record<string, string> = {};
let artifact = '';
const src = join(dir, 'weights.bin');

const DAY = 86400_000;
const exchanges: ExchangeRecord[] = [];
// The service's screening lists: a listed company, and one known by a weak alias only (a review).
const SDN = {
  source: 'sdn',
  entities: [
    entity('sdn-1', 'Shady Trading LLC'),
    entity('sdn-2', 'Northwind Shell Holdings', { weakAliases: ['Review Works Ltd'] }),
  ],
};
const screening = testScreening([SDN]);
const KMS_KEY = 'arn:aws:kms:us-east-1:000000000000:key/11111111-2222-3333-4444-555555555555';

/** A loopback port where nothing listens. */
async function closedPort(): Promise<number> {
  const s = createTcpServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}
const iso = (ms: number) => new Date(Date.now() + ms).toISOString();

function license(id: string, over: Record<string, unknown> = {}) {
  return {
    id,
    holder: 'acme-labs',
    artifacts: [artifact],
    destinations: ['DE', 'FR', 'IR'],
    notBefore: iso(-DAY),
    notAfter: iso(DAY),
    maxReleases: 5,
    ...over,
  };
}

async function sealFor(recipient: string, lic: string, classification?: ClassificationRecord): Promise<string> {
  const out = join(dir, `${recipient}-${lic}${classification ? '-classified' : ''}.mseal`);
  const settings = { keysDir: keys, passphrase: noPassphrase, identityFiles: [], kms: {} } as ProviderSettings;
  await seal({
    input: src,
    output: out,
    recipients: [await recipientFrom(`release:${server.url}#${recipient}`, settings)],
    publisher: await loadPublisherKey(join(keys, 'publisher.key')),
    license: lic,
    force: true,
    ...(classification ? { classification } : {}),
  });
  return out;
}

async function client(name: string, destination = 'DE', identityFile = join(dir, `${name}.identity`)) {
  const { key } = await loadReleaseIdentity(identityFile);
  const receipts: string[] = [];
  return {
    identity: new ReleaseIdentity({ name, key, destination, logKey, onReceipt: (r) => receipts.push(r) }),
    receipts,
  };
}

async function openVia(pkg: string, name = 'acme-labs', destination = 'DE') {
  const { identity, receipts } = await client(name, destination);
  const out = join(dir, `out-${randomBytes(4).toString('hex')}`);
  const trustedPublishers = [await readPublisherPublicKey(join(keys, 'publisher.pub'))];
  const r = await open({ input: pkg, output: out, identities: [identity], trustedPublishers }).catch((e: unknown) =>
    e instanceof Error ? e : new Error(String(e)),
  );
  return { r, receipts, out };
}

/** A hand-made request (for the cases a well-behaved client never sends), signed by `signer`'s key. */
async function rawRequest(pkg: string, name: string, edit: (r: ReleaseRequest) => void = () => {}, signer?: string) {
  const { key } = await loadReleaseIdentity(join(dir, `${signer ?? name}.identity`));
  return (await signedRequest(pkg, name, key, edit)).body;
}

type Answer = {
  decision: string;
  reason?: string;
  id: string;
  requestId: string;
  receipt?: string;
  key?: unknown;
  retryAfter?: number;
};

async function post(
  body: unknown,
  raw?: string | Buffer<ArrayBuffer>,
  url = server.url,
  headers: Record<string, string> = {},
) {
  const res = await fetch(`${url}/v1/release`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: raw ?? JSON.stringify(body),
  });
  return {
    status: res.status,
    header: res.headers.get('x-request-id'),
    retryAfter: res.headers.get('retry-after'),
    body: (await res.json()) as Answer,
  };
}

beforeAll(async () => {
  await initKeystore(keys, { logOrigin: 'releases.test/log' });
  logKey = parseVerifierKey(readFileSync(join(keys, 'log.vkey'), 'utf8'));
  writeFileSync(src, randomBytes(200_000));
  // The model's root digest, for the licenses: seal once to a local key to learn it.
  const probe = await seal({
    input: src,
    output: join(dir, 'probe.mseal'),
    recipients: [await loadLocalKey(join(keys, 'local.kek'))],
    publisher: await loadPublisherKey(join(keys, 'publisher.key')),
  });
  artifact = probe.model.rootDigest;
  mkdirSync(join(data, 'policy'), { recursive: true });
  await initPolicyDir(join(data, 'policy'));
  writeFileSync(
    join(data, 'policy', POLICY_FILES.licenses),
    JSON.stringify({
      licenses: [
        license('L-OK'),
        license('L-EXPIRED', { notBefore: iso(-10 * DAY), notAfter: iso(-DAY) }),
        license('L-FUTURE', { notBefore: iso(DAY), notAfter: iso(10 * DAY) }),
        license('L-ONE', { maxReleases: 1 }),
        license('L-SCREEN', { holder: 'shady-co' }),
        license('L-REVIEW', { holder: 'review-co' }),
        license('L-DUAL', { holder: 'dual-co' }),
        license('L-NAT', { holder: 'fr-co', nationalities: ['DE'] }),
        license('L-NAMESAKE', { holder: 'namesake-co' }),
        license('L-EAR-AUTH', { authorization: 'BIS license D123456' }),
      ],
    }),
  );
  const ca = await loadOrCreateCa(keys);
  const registry = new RecipientRegistry(join(data, 'recipients'));
  for (const [name, org, nationalities, citizenships] of [
    ['acme-labs', 'Acme Labs GmbH', ['DE'], []],
    ['revoked-co', 'Revoked Co', ['DE'], []],
    ['shady-co', 'Shady Trading LLC', ['DE'], []],
    ['review-co', 'Review Works Ltd', ['DE'], []],
    // A German citizen who is also Iranian: releasing to them in Germany is an export to Iran.
    ['dual-co', 'Dual Labs GmbH', ['DE'], ['IR']],
    ['fr-co', 'Francais Labs GmbH', ['FR'], []],
  ] as const) {
    const attrs = { org, country: 'DE', nationalities: [...nationalities], citizenships: [...citizenships] };
    const { identity } = await registry.issue(name, attrs, ca);
    await writeKeyFile(join(dir, `${name}.identity`), identity);
  }
  // The service's further key: AWS KMS at an address where nothing listens (a provider outage).
  process.env.AWS_ACCESS_KEY_ID ??= 'testing';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'testing';
  const kms = new AwsKmsIdentity({
    endpoint: `http://127.0.0.1:${await closedPort()}`,
    region: 'us-east-1',
    maxAttempts: 1,
  });
  // The matrix sends many failing requests from one address: limits high enough not to refuse them here.
  setup = await openReleaseService(data, keys, {
    commitIntervalMs: 0,
    skewSeconds: 120,
    rateLimits: { burst: 10_000 },
    serviceKeys: [kms],
    // The requests come from loopback, a trusted proxy: X-Forwarded-For places them (the real CC0 database).
    geoip: realDatabase(),
    trustedProxies: ['127.0.0.0/8'],
    screening,
    // In place of the rule packs' country groups: a 4E091 item needs a license for DE, US and IR.
    licenseRequired: (c, cc) => c === '4E091' && ['DE', 'US', 'IR'].includes(cc),
  });
  server = await startServer(setup.service, setup.log, { port: 0, onExchange: (r) => exchanges.push(r) });
  // A namesake of the listed company, registered by an officer's override, logged in the service's own log.
  const override = await screenRegistration(
    'namesake-co',
    { org: 'Shady Trading LLC', country: 'DE' },
    {
      screening,
      publisher: 'sha256:test',
      override: { reason: 'a namesake: registry extract checked', decidedBy: 'alice' },
      log: async () => ({
        origin: setup.log.origin,
        record: async (e) => (await setup.log.append(encodeEvent(e))).index,
      }),
    },
  );
  const namesake = await registry.issue(
    'namesake-co',
    { org: 'Shady Trading LLC', country: 'DE' },
    ca,
    undefined,
    override,
  );
  await writeKeyFile(join(dir, 'namesake-co.identity'), namesake.identity);
  for (const [r, l] of [
    ['acme-labs', 'L-OK'],
    ['acme-labs', 'L-EXPIRED'],
    ['acme-labs', 'L-FUTURE'],
    ['acme-labs', 'L-ONE'],
    ['acme-labs', 'L-NONE'],
    ['revoked-co', 'L-OK'],
    ['shady-co', 'L-SCREEN'],
    ['review-co', 'L-REVIEW'],
    ['dual-co', 'L-DUAL'],
    ['fr-co', 'L-NAT'],
    ['namesake-co', 'L-NAMESAKE'],
  ] as const) {
    pkgs[`${r}/${l}`] = await sealFor(r, l);
  }
  // Packages whose signed header classifies the weights 4E091 under US-EAR.
  for (const l of ['L-OK', 'L-EAR-AUTH'])
    pkgs[`acme-labs/${l}/4E091`] = await sealFor('acme-labs', l, classificationRecord());
  await registry.revoke('revoked-co');
}, 60_000);

/** A request as sent, path untouched (fetch would normalise it). */
function raw(
  method: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const { port } = server.server.address() as { port: number };
    import('node:http').then(({ request }) => {
      const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (b: Buffer) => parts.push(b));
        res.on('end', () =>
          resolve({
            status: res.statusCode!,
            headers: res.headers as Record<string, string>,
            body: Buffer.concat(parts),
          }),
        );
      });
      req.on('error', reject);
      req.end();
    }, reject);
  });
}

afterAll(async () => {
  // Unset when beforeAll failed.
  await (server as RunningServer | undefined)?.close();
  await (setup as ReleaseServiceSetup | undefined)?.close();
});

describe('release service', () => {
  it('publishes its info and the log read side', async () => {
    const info = (await (await fetch(`${server.url}/v1/info`)).json()) as Record<string, string>;
    expect(info).toMatchObject({
      origin: 'releases.test/log',
      logKey: readFileSync(join(keys, 'log.vkey'), 'utf8').trim(),
      wrap: expect.stringMatching(/^x25519:/),
    });
    const cp = await (await fetch(`${server.url}/checkpoint`)).text();
    expect(cp.split('\n')[0]).toBe('releases.test/log');
    expect((await fetch(`${server.url}/tile/0/999`)).status).toBe(404);
  });

  it('releases to a licensed recipient: the package opens, the receipt verifies and names the request', async () => {
    const { r, receipts } = await openVia(pkgs['acme-labs/L-OK']!);
    if (r instanceof Error) throw r;
    expect(readFileSync(r.output).equals(readFileSync(src))).toBe(true);
    expect(receipts).toHaveLength(1);
    const proof = verifyProof(receipts[0]!, undefined, logKey);
    expect(decodeEvent(proof.entry)).toMatchObject({
      type: 'release',
      decision: 'allow',
      recipient: 'acme-labs',
      license: 'L-OK',
      policies: ['licensed-release'],
      destination: 'DE',
      // Loopback: no country, allowed, and logged as unknown.
      observed: { address: '127.0.0.1', country: '', network: '' },
      nationalities: ['DE'],
      screening: { decision: 'clear', lists: [listName(SDN)], stale: [], best: null },
    });
    await expect(setup.service.used('L-OK')).resolves.toBe(1);
  });

  it('releases a classified package when the license cites an authorization, or the destination needs none', async () => {
    // 4E091 to DE needs a license: L-EAR-AUTH cites one.
    const cited = await openVia(pkgs['acme-labs/L-EAR-AUTH/4E091']!);
    if (cited.r instanceof Error) throw cited.r;
    expect(readFileSync(cited.r.output).equals(readFileSync(src))).toBe(true);
    const logged = decodeEvent(verifyProof(cited.receipts[0]!, undefined, logKey).entry);
    expect(logged).toMatchObject({
      decision: 'allow',
      license: 'L-EAR-AUTH',
      classification: { usEar: '4E091', licenseRequired: true, licenseRequiredObserved: false },
    });
    // 4E091 to FR needs none here: L-OK, which cites nothing, is enough.
    const fr = await openVia(pkgs['acme-labs/L-OK/4E091']!, 'acme-labs', 'FR');
    if (fr.r instanceof Error) throw fr.r;
    expect(decodeEvent(verifyProof(fr.receipts[0]!, undefined, logKey).entry)).toMatchObject({
      decision: 'allow',
      destination: 'FR',
      classification: { usEar: '4E091', licenseRequired: false },
    });
  });

  it('denies each case with its own reason, and logs every one', async () => {
    const before = setup.log.size;
    const cases: [string, () => ReturnType<typeof post>][] = [
      ['license-expired', async () => post(await rawRequest(pkgs['acme-labs/L-EXPIRED']!, 'acme-labs'))],
      ['license-not-yet-valid', async () => post(await rawRequest(pkgs['acme-labs/L-FUTURE']!, 'acme-labs'))],
      [
        'destination-not-licensed',
        async () => post(await rawRequest(pkgs['acme-labs/L-OK']!, 'acme-labs', (r) => (r.destination = 'US'))),
      ],
      [
        'embargoed-destination',
        async () => post(await rawRequest(pkgs['acme-labs/L-OK']!, 'acme-labs', (r) => (r.destination = 'IR'))),
      ],
      ['screening-hit', async () => post(await rawRequest(pkgs['shady-co/L-SCREEN']!, 'shady-co'))],
      // Through the trusted proxy (loopback), from an address in the US, for the licensed destination DE.
      [
        'observed-destination-mismatch',
        async () =>
          post(await rawRequest(pkgs['acme-labs/L-OK']!, 'acme-labs'), undefined, server.url, {
            'x-forwarded-for': '198.51.100.7, 8.8.8.8',
          }),
      ],
      // From an address in Iran (RFC 7239 Forwarded, IPv4-mapped), for DE.
      [
        'observed-embargoed',
        async () =>
          post(await rawRequest(pkgs['acme-labs/L-OK']!, 'acme-labs'), undefined, server.url, {
            forwarded: 'for="[::ffff:217.218.155.155]:51234";proto=https',
          }),
      ],
      ['screening-review', async () => post(await rawRequest(pkgs['review-co/L-REVIEW']!, 'review-co'))],
      [
        'screening-list-stale',
        async () => {
          screening.lists = [{ ...SDN, stale: true }];
          try {
            return await post(await rawRequest(pkgs['acme-labs/L-OK']!, 'acme-labs'));
          } finally {
            screening.lists = [SDN];
          }
        },
      ],
      [
        'screening-unavailable',
        async () => {
          screening.failing = true;
          try {
            return await post(await rawRequest(pkgs['acme-labs/L-OK']!, 'acme-labs'));
          } finally {
            screening.failing = false;
          }
        },
      ],
      ['deemed-export-embargoed', async () => post(await rawRequest(pkgs['dual-co/L-DUAL']!, 'dual-co'))],
      // The package is 4E091, DE needs a license for it, and L-OK cites no authorization.
      ['license-required', async () => post(await rawRequest(pkgs['acme-labs/L-OK/4E091']!, 'acme-labs'))],
      // The same stanza claiming no US-EAR classification: the claim is bound into the wrap, so it does not unwrap.
      [
        'stanza-not-for-package',
        async () =>
          post(
            await rawRequest(pkgs['acme-labs/L-OK/4E091']!, 'acme-labs', (r) => (r.stanza.classification!.usEar = '')),
          ),
      ],
      // ... and claiming no classification at all.
      [
        'stanza-not-for-package',
        async () =>
          post(await rawRequest(pkgs['acme-labs/L-OK/4E091']!, 'acme-labs', (r) => delete r.stanza.classification)),
      ],
      ['deemed-export-not-licensed', async () => post(await rawRequest(pkgs['fr-co/L-NAT']!, 'fr-co'))],
      ['revoked-identity', async () => post(await rawRequest(pkgs['revoked-co/L-OK']!, 'revoked-co'))],
      [
        'unknown-identity',
        async () => post(await rawRequest(pkgs['acme-labs/L-OK']!, 'nobody', () => {}, 'acme-labs')),
      ],
      ['bad-signature', async () => post(await rawRequest(pkgs['acme-labs/L-OK']!, 'acme-labs', () => {}, 'shady-co'))],
      [
        'stale-timestamp',
        async () => post(await rawRequest(pkgs['acme-labs/L-OK']!, 'acme-labs', (r) => (r.time = iso(-3600_000)))),
      ],
      [
        'replayed-nonce',
        async () => {
          const req = await rawRequest(pkgs['acme-labs/L-FUTURE']!, 'acme-labs');
          await post(req);
          return post(req);
        },
      ],
      [
        'stanza-not-for-package',
        async () =>
          post(
            await rawRequest(pkgs['acme-labs/L-OK']!, 'acme-labs', (r) => {
              // The L-OK stanza, presented with another package's id and digest.
              r.package = 'ab'.repeat(32);
            }),
          ),
      ],
      ['unknown-license', async () => post(await rawRequest(pkgs['acme-labs/L-NONE']!, 'acme-labs'))],
      // Licensed, but the ephemeral key is a low-order point: no key can be wrapped to it.
      [
        'unusable-ephemeral-key',
        async () =>
          post(
            await rawRequest(
              pkgs['acme-labs/L-OK']!,
              'acme-labs',
              (r) => (r.ephemeral = Buffer.alloc(32).toString('base64url')),
            ),
          ),
      ],
      ['malformed-json', async () => post(null, '{"request": ')],
      ['malformed-json', async () => post(null, Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]))],
      ['malformed-request', async () => post({ request: { v: 1 }, signature: 'x' })],
      // Nested 30,000 deep: it parses, and nothing after that may recurse over it.
      [
        'malformed-request',
        async () => post(null, `{"request":${'['.repeat(30_000)}${']'.repeat(30_000)},"signature":"x"}`),
      ],
      // A signed request with a field no request has (a fraction, which the log's canonical JSON refuses).
      [
        'malformed-request',
        async () => {
          const req = await rawRequest(pkgs['acme-labs/L-OK']!, 'acme-labs');
          return post({ ...req, request: { ...req.request, extra: 1.5 } });
        },
      ],
      // Signed, and well formed but for one field more than a request has.
      [
        'malformed-request',
        async () =>
          post(await rawRequest(pkgs['acme-labs/L-OK']!, 'acme-labs', (r) => Object.assign(r, { extra: 'x' }))),
      ],
      [
        'malformed-request',
        async () =>
          post(await rawRequest(pkgs['acme-labs/L-OK']!, 'acme-labs', (r) => (r.stanza.body = '%%not base64%%'))),
      ],
      ['oversized-body', async () => post(null, JSON.stringify({ pad: 'x'.repeat(MAX_BODY_BYTES) }))],
      ['oversized-body', async () => post(null, JSON.stringify({ pad: 'x'.repeat(MAX_BODY_BYTES) }))],
      // The service's KMS key does not answer: an outage, not a stanza "not for this package".
      [
        'provider-unavailable',
        async () =>
          post(
            await rawRequest(pkgs['acme-labs/L-OK']!, 'acme-labs', (r) => {
              r.stanza.args = [r.stanza.args[0]!, 'aws-kms', `aws-kms:${KMS_KEY}`, KMS_KEY];
            }),
          ),
      ],
    ];
    const status: Record<string, number> = {
      'malformed-json': 400,
      'malformed-request': 400,
      'oversized-body': 413,
      'provider-unavailable': 503,
      'screening-unavailable': 503,
    };
    // What the entries of the compliance denials record: the recipient's nationalities, and its screening.
    const lists = [listName(SDN)];
    const clear = { decision: 'clear', lists, stale: [], best: null };
    const recorded: Record<string, object> = {
      'screening-hit': {
        nationalities: ['DE'],
        screening: {
          decision: 'hit',
          lists,
          stale: [],
          best: { entity: 'sdn-1', source: 'sdn', name: 'Shady Trading LLC', score: '1.000' },
        },
        policies: ['screening-hit'],
      },
      'screening-review': {
        screening: {
          decision: 'review',
          lists,
          best: { entity: 'sdn-2', score: expect.stringMatching(/^0\.[78]\d\d$/) },
        },
        policies: ['screening-review'],
      },
      'screening-list-stale': { screening: { ...clear, stale: ['sdn'] }, policies: ['screening-list-stale'] },
      'deemed-export-embargoed': {
        nationalities: ['DE', 'IR'],
        screening: clear,
        destination: 'DE',
        policies: ['deemed-export-embargoed'],
      },
      'deemed-export-not-licensed': {
        nationalities: ['FR'],
        screening: clear,
        policies: ['deemed-export-not-licensed'],
      },
      'revoked-identity': { nationalities: ['DE'], screening: clear },
      'license-required': {
        classification: {
          record: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
          usEar: '4E091',
          rulePacks: ['us-ear-ai-diffusion@2025-01-15', 'eu-ai-act@2024-08-01'],
          licenseRequired: true,
          licenseRequiredObserved: false,
        },
        policies: ['license-required'],
      },
    };
    const seen: string[] = [];
    const ids = new Set<string>();
    for (const [reason, run] of cases) {
      const { status: got, header, body } = await run();
      expect({ reason, status: got, decision: body.decision, got: body.reason }).toEqual({
        reason,
        status: status[reason] ?? 403,
        decision: 'deny',
        got: reason,
      });
      expect(body).not.toHaveProperty('key');
      // Every denial comes with its log receipt, and every answer with an id of its own, logged with it.
      const logged = decodeEvent(verifyProof(body.receipt!, undefined, logKey).entry);
      expect(logged).toMatchObject({ decision: 'deny', reason, id: body.id });
      const observed = { 'observed-destination-mismatch': '8.8.8.8', 'observed-embargoed': '217.218.155.155' }[reason];
      // Every entry says where the request came from: the forwarded client, located; else loopback, unknown.
      expect(logged, reason).toMatchObject({
        ip: observed ?? '127.0.0.1',
        observed: {
          address: observed ?? '127.0.0.1',
          country: observed ? KNOWN[observed as keyof typeof KNOWN] : '',
          database: setup.geo!.country.digest,
        },
      });
      expect(header).toBe(body.id);
      ids.add(body.id);
      seen.push(reason);
      if (reason in recorded) expect({ reason, logged }).toMatchObject({ reason, logged: recorded[reason] });
      // Before the recipient is known, there is nobody to screen.
      if (reason === 'unknown-identity') expect(Object.keys(logged!)).not.toContain('screening');
    }
    // One of the cases (the replay) sent two requests: all are in the log, each with its own id.
    expect(setup.log.size - before).toBe(cases.length + 1);
    expect(ids.size).toBe(cases.length);
    expect(new Set(seen)).toEqual(
      new Set([
        ...Object.keys(status),
        // Every default forbid of releases (the quota's has a test of its own, below; those of inference,
        // scoped to Infer, are test/unit/policy-infer.test.ts's).
        ...DEFAULT_POLICY_IDS.filter(
          (id) => id !== 'licensed-release' && id !== 'license-quota-used' && !INFER_ONLY.has(id),
        ),
        'revoked-identity',
        'unknown-identity',
        'bad-signature',
        'stale-timestamp',
        'replayed-nonce',
        'stanza-not-for-package',
        'unknown-license',
        'unusable-ephemeral-key',
      ]),
    );
  });

  it('answers every other malformed request with a 4xx, its own id and a line on the service log', async () => {
    const targets: [string, string, number][] = [
      ['GET', '//', 404],
      ['GET', '//x/../v1/info', 404],
      ['GET', '/%00', 404],
      ['GET', '/tile/0/x000/000', 404],
      ['PUT', '/v1/release', 405],
      ['DELETE', '/', 405],
    ];
    for (const [method, path, want] of targets) {
      const before = exchanges.length;
      const { status, headers } = await raw(method, path);
      expect({ method, path, status }).toEqual({ method, path, status: want });
      const rec = exchanges.slice(before);
      expect(rec).toEqual([
        expect.objectContaining({ status: want, logged: 'service-log', id: headers['x-request-id'] }),
      ]);
    }
    // What no handler foresaw (here a damaged registry file) is a logged 500, not an unrecorded one.
    writeFileSync(join(data, 'recipients', 'broken-co.json'), '{');
    const r500 = await post(await rawRequest(pkgs['acme-labs/L-OK']!, 'broken-co', () => {}, 'acme-labs'));
    expect({ status: r500.status, reason: r500.body.reason }).toEqual({ status: 500, reason: 'internal-error' });
    expect(decodeEvent(verifyProof(r500.body.receipt!, undefined, logKey).entry)).toMatchObject({
      decision: 'deny',
      reason: 'internal-error',
      id: r500.header,
    });
    expect(exchanges.find((x) => x.id === r500.header)).toMatchObject({
      status: 500,
      logged: 'entry',
      error: expect.stringMatching(/SyntaxError/),
    });
    // A body that stops before its declared length: logged as incomplete, with no answer to give.
    const before = setup.log.size;
    const sock = connect((server.server.address() as { port: number }).port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    sock.end(
      'POST /v1/release HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"request"',
    );
    await within(10_000, 'the incomplete body in the log', () => setup.log.size !== before);
    const entries = await setup.log.store.readEntries(before, setup.log.size);
    expect(entries.map((e) => decodeEvent(e))).toEqual([
      expect.objectContaining({ reason: 'incomplete-body', decision: 'deny' }),
    ]);
  });

  it('counts releases against the license: the quota is reserved before the decision is final', async () => {
    const answers = await Promise.all(
      [0, 1, 2].map(async () => post(await rawRequest(pkgs['acme-labs/L-ONE']!, 'acme-labs'))),
    );
    const allowed = answers.filter((a) => a.body.decision === 'allow');
    expect(allowed).toHaveLength(1);
    expect(answers.filter((a) => a.body.reason === 'license-quota-used')).toHaveLength(2);
  });

  it('an override at registration covers the listed parties it named at release, and no party listed since', async () => {
    const record = (await setup.recipients.get('namesake-co'))!;
    expect(record.screeningOverride).toMatchObject({ entities: ['sdn:sdn-1'], decidedBy: 'alice' });
    const allowed = await post(await rawRequest(pkgs['namesake-co/L-NAMESAKE']!, 'namesake-co'));
    expect(allowed.body).toMatchObject({ decision: 'allow' });
    expect(decodeEvent(verifyProof(allowed.body.receipt!, undefined, logKey).entry)).toMatchObject({
      decision: 'allow',
      screening: { decision: 'hit', best: { entity: 'sdn-1' }, overridden: record.screeningOverride!.log },
    });
    // A second listing of the same name, imported after the override: the override did not decide on it.
    screening.lists = [{ ...SDN, entities: [...SDN.entities, entity('sdn-9', 'Shady Trading LLC')] }];
    try {
      const denied = await post(await rawRequest(pkgs['namesake-co/L-NAMESAKE']!, 'namesake-co'));
      expect(denied.body).toMatchObject({ decision: 'deny', reason: 'screening-hit' });
      const logged = decodeEvent(verifyProof(denied.body.receipt!, undefined, logKey).entry);
      expect(logged).toMatchObject({ screening: { decision: 'hit' } });
      expect(logged).not.toHaveProperty('screening.overridden');
    } finally {
      screening.lists = [SDN];
    }
  });

  it("the client reports the service's screening outage as PROVIDER_UNAVAILABLE (retry), not a denial", async () => {
    screening.failing = true;
    try {
      const { r, out } = await openVia(pkgs['acme-labs/L-OK']!);
      expect(isModelsealError(r, 'PROVIDER_UNAVAILABLE'), r instanceof Error ? r.message : 'opened').toBe(true);
      expect((r as Error).message).toMatch(/screening of the recipient is unavailable .*logged.*retry later/);
      expect(existsSync(out)).toBe(false);
    } finally {
      screening.failing = false;
    }
  });

  it('the client refuses a denial with RELEASE_DENIED and writes nothing', async () => {
    const { r, out } = await openVia(pkgs['acme-labs/L-OK']!, 'acme-labs', 'US');
    expect(isModelsealError(r, 'RELEASE_DENIED')).toBe(true);
    expect(isModelsealError(r) && r.details?.reason).toBe('destination-not-licensed');
    expect(existsSync(out)).toBe(false);
  });

  it('the log of all this verifies', async () => {
    expect(await auditLog(setup.log.store, logKey)).toMatchObject({ ok: true, size: setup.log.size });
  });
});

describe('limits on failing requests', () => {
  it('count a source by address, IPv6 by its /64, and track a bounded number of sources', () => {
    expect(
      ['127.0.0.1', '::ffff:10.1.2.3', '2001:db8:1:2:3:4:5:6', '2001:db8:1:2::9', '2001:db8:1:3::1', '::1'].map(
        sourceOf,
      ),
    ).toEqual(['127.0.0.1', '10.1.2.3', '2001:db8:1:2::/64', '2001:db8:1:2::/64', '2001:db8:1:3::/64', '0:0:0:0::/64']);
    const limiter = new FailureLimiter({ burst: 2, perSecond: 1, maxSources: 3 });
    const t = 1_000_000;
    expect([limiter.take('a', t), limiter.take('a', t), limiter.take('a', t)]).toEqual([
      { ok: true, key: 'a', retryAfter: 0 },
      { ok: true, key: 'a', retryAfter: 0 },
      { ok: false, key: 'a', retryAfter: 1 },
    ]);
    expect(limiter.take('a', t + 1000).ok).toBe(true);
    // Sources beyond the bound share one bucket ("*") until tracked ones are full again.
    limiter.take('b', t);
    limiter.take('c', t);
    expect([limiter.take('d', t), limiter.take('e', t), limiter.take('f', t)].map((r) => `${r.key}:${r.ok}`)).toEqual([
      '*:true',
      '*:true',
      '*:false',
    ]);
    expect(limiter.take('a', t + 10_000)).toMatchObject({ key: 'a', ok: true });
    expect(() => new FailureLimiter({ perSecond: 0 })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('rateLimits.perSecond') }),
    );
  });

  it('refuses a flood from one source with 429 and Retry-After, summarises it in the log, and never slows an allowed request', async () => {
    const data2 = join(dir, 'data-limits');
    cpSync(join(data, 'policy'), join(data2, 'policy'), { recursive: true });
    cpSync(join(data, 'recipients'), join(data2, 'recipients'), { recursive: true });
    let clock = Date.now();
    const s2 = await openReleaseService(data2, keys, {
      commitIntervalMs: 0,
      skewSeconds: 120,
      rateLimits: { burst: 5, perSecond: 1 },
      summaryIntervalMs: 3_600_000,
      now: () => new Date(clock),
    });
    const srv = await startServer(s2.service, s2.log, { port: 0 });
    try {
      const statuses: number[] = [];
      const ids = new Set<string>();
      for (let i = 0; i < 40; i++) {
        const r = await post(null, i % 2 ? '{"request": ' : '[1,2', srv.url);
        statuses.push(r.status);
        ids.add(r.body.id);
        if (r.status === 429)
          expect({ retryAfter: r.retryAfter, reason: r.body.reason, receipt: r.body.receipt }).toEqual({
            retryAfter: '1',
            reason: 'rate-limited',
            receipt: undefined,
          });
      }
      // The burst is logged one by one; the rest is refused, each with its own id.
      expect(statuses.filter((s) => s === 400)).toHaveLength(5);
      expect(statuses.filter((s) => s === 429)).toHaveLength(35);
      expect(ids.size).toBe(40);
      expect(s2.log.size).toBe(5);
      // A licensed recipient at the same address is not held up: allowed requests take no token.
      const allowed = await post(await rawRequest(pkgs['acme-labs/L-OK']!, 'acme-labs'), undefined, srv.url);
      expect(allowed.status).toBe(200);
      expect(allowed.body.decision).toBe('allow');
      // Tokens come back with time.
      clock += 2_000;
      expect((await post(null, '{', srv.url)).status).toBe(400);
      expect((await post(null, '{', srv.url)).status).toBe(400);
      expect((await post(null, '{', srv.url)).status).toBe(429);
      // What was refused becomes one summary entry for the source.
      expect(s2.service.pendingDenials).toBe(36);
      await s2.service.flushDenials();
      expect(s2.service.pendingDenials).toBe(0);
      const events = [];
      for await (const { event } of storeEvents(s2.log.store)) events.push(event);
      const summaries = events.filter((e) => e?.type === 'denials');
      expect(summaries).toEqual([
        expect.objectContaining({ type: 'denials', ip: '127.0.0.1', count: 36, reasons: { 'malformed-json': 36 } }),
      ]);
      expect(await auditLog(s2.log.store, logKey)).toMatchObject({ ok: true });
    } finally {
      await srv.close();
      await s2.close();
    }
  });
});

describe('policy edits while serving', () => {
  it('are validated as soon as they are seen, without a request; the last good set stays in force and /v1/info says so', async () => {
    const file = join(data, 'policy', POLICY_FILES.policies);
    const good = readFileSync(file, 'utf8');
    const before = setup.policy.engine.hash;
    const t0 = Date.now();
    writeFileSync(file, `${good}\n@id("broken")\npermit (principal, action, resource) when { context.nope };\n`);
    await within(5_000, 'the broken policy file to be noticed', () => setup.policy.status.status === 'invalid');
    // Noticed within the watcher's reach (fs.watch, or the 1 s stat), not at the next request.
    expect(Date.now() - t0).toBeLessThan(2_500);
    const status = setup.policy.status;
    expect(status).toMatchObject({ status: 'invalid', hash: before, error: expect.stringMatching(/do not validate/) });
    const info = (await (await fetch(`${server.url}/v1/info`)).json()) as {
      policySet: string;
      policy: { status: string; error: string; since: string };
    };
    expect(info).toMatchObject({
      policySet: before,
      policy: { status: 'invalid', since: status.since, error: status.error },
    });
    // Decisions go on under the last good set.
    expect((await post(await rawRequest(pkgs['acme-labs/L-EXPIRED']!, 'acme-labs'))).body).toMatchObject({
      reason: 'license-expired',
    });
    writeFileSync(file, good);
    await within(10_000, 'the restored policy file to be seen', () => setup.policy.status.status === 'ok');
    expect(setup.policy.status).toMatchObject({ status: 'ok', hash: before });
  });
});

describe('a key provider outage', () => {
  it('is a logged 503 provider-unavailable, not a stanza "not for this package": a real KMS (moto), stopped', async () => {
    const moto = await startMoto();
    let stopped = false;
    const data4 = join(dir, 'data-kms');
    cpSync(join(data, 'policy'), join(data4, 'policy'), { recursive: true });
    cpSync(join(data, 'recipients'), join(data4, 'recipients'), { recursive: true });
    const kms = new KMSClient({ endpoint: moto.endpoint });
    const arn = (await kms.send(new CreateKeyCommand({ Description: 'modelseal release service key' }))).KeyMetadata!
      .Arn!;
    const s4 = await openReleaseService(data4, keys, {
      commitIntervalMs: 0,
      skewSeconds: 120,
      serviceKeys: [new AwsKmsIdentity({ endpoint: moto.endpoint, maxAttempts: 1 })],
    });
    const srv = await startServer(s4.service, s4.log, { port: 0 });
    try {
      const pkg = join(dir, 'kms-release.mseal');
      const inner = await AwsKmsRecipient.resolve(arn, { endpoint: moto.endpoint });
      await seal({
        input: src,
        output: pkg,
        recipients: [new ReleaseRecipient(srv.url, 'acme-labs', inner)],
        publisher: await loadPublisherKey(join(keys, 'publisher.key')),
        license: 'L-OK',
        force: true,
      });
      // With the KMS up, the service's KMS key releases the data key.
      const up = await post(await rawRequest(pkg, 'acme-labs'), undefined, srv.url);
      expect({ status: up.status, decision: up.body.decision }).toEqual({ status: 200, decision: 'allow' });
      await moto.stop();
      stopped = true;
      const down = await post(await rawRequest(pkg, 'acme-labs'), undefined, srv.url);
      expect({ status: down.status, reason: down.body.reason, key: down.body.key }).toEqual({
        status: 503,
        reason: 'provider-unavailable',
        key: undefined,
      });
      expect(decodeEvent(verifyProof(down.body.receipt!, undefined, logKey).entry)).toMatchObject({
        decision: 'deny',
        reason: 'provider-unavailable',
        recipient: 'acme-labs',
        license: 'L-OK',
      });
      // The client says "retry later", not "denied".
      const { identity } = await client('acme-labs');
      const r = await open({
        input: pkg,
        output: join(dir, 'kms-out'),
        identities: [identity],
        trustedPublishers: [await readPublisherPublicKey(join(keys, 'publisher.pub'))],
      }).catch((e: unknown) => e);
      expect(isModelsealError(r, 'PROVIDER_UNAVAILABLE')).toBe(true);
      expect(existsSync(join(dir, 'kms-out'))).toBe(false);
    } finally {
      await srv.close();
      await s4.close();
      if (!stopped) await moto.stop();
    }
  }, 120_000);
});

describe('behind a trusted proxy', () => {
  it('counts the limits per forwarded client, and logs the client (its address a keyed hash under a pseudonym key)', async () => {
    const data3 = join(dir, 'data-proxy');
    cpSync(join(data, 'policy'), join(data3, 'policy'), { recursive: true });
    const s3 = await openReleaseService(data3, keys, {
      commitIntervalMs: 0,
      rateLimits: { burst: 2, perSecond: 0.001 },
      summaryIntervalMs: 3_600_000,
      geoip: realDatabase(),
      trustedProxies: ['127.0.0.1'],
      pseudonymKey: join(dir, 'proxy-pseudonym.key'),
    });
    const srv = await startServer(s3.service, s3.log, { port: 0 });
    try {
      const from = async (client: string) =>
        (await post(null, '{', srv.url, { 'x-forwarded-for': `${client}, 127.0.0.1` })).status;
      // Two failing requests each from two clients behind the one proxy: each has its own bucket.
      expect([await from('8.8.8.8'), await from('8.8.8.8'), await from('193.99.144.80')]).toEqual([400, 400, 400]);
      expect([await from('193.99.144.80'), await from('8.8.8.8'), await from('193.99.144.80')]).toEqual([
        400, 429, 429,
      ]);
      const entries = [];
      for await (const { event } of storeEvents(s3.log.store)) entries.push(event);
      const hmac: unknown = expect.stringMatching(/^hmac:v1:/);
      expect(entries).toHaveLength(4);
      expect(entries[0]).toMatchObject({
        reason: 'malformed-json',
        ip: hmac,
        observed: { address: hmac, country: 'US', database: s3.geo!.country.digest },
      });
      const e0 = entries[0] as { ip: string; observed: { address: string } };
      expect(e0.observed.address).toBe(e0.ip);
      expect(JSON.stringify(entries)).not.toContain('8.8.8.8');
      expect((entries[2] as { observed: { country: string } }).observed.country).toBe('DE');
    } finally {
      await srv.close();
      await s3.close();
    }
  });
});

describe('a release service that cannot start', () => {
  it('leaves no policy watcher running', async () => {
    const root = tempDir('modelseal-setup-fail-');
    const keys = join(root, 'keys');
    await initKeystore(keys, { logOrigin: 'setup.test/log' });
    const started: string[] = [];
    const stopped: string[] = [];
    const policyTrigger = (dir: string) => {
      started.push(dir);
      return () => stopped.push(dir);
    };
    // A folder where the pseudonym key file should be: the setup fails before the log store opens.
    const pseudonymKey = join(root, 'pseudonym-key-dir');
    mkdirSync(pseudonymKey);
    await expect(openReleaseService(join(root, 'data'), keys, { policyTrigger, pseudonymKey })).rejects.toThrow();
    expect(stopped).toEqual(started);
    // A Postgres URL nothing answers: the store cannot open, and nothing was started either.
    await expect(
      openReleaseService(join(root, 'data'), keys, { policyTrigger, store: 'postgres://127.0.0.1:9/none' }),
    ).rejects.toThrow();
    expect(stopped).toEqual(started);
    // A geolocation database that is not one: refused, naming it, before anything starts.
    const notes = join(root, 'notes.mmdb');
    writeFileSync(notes, 'not a database');
    await expect(openReleaseService(join(root, 'data'), keys, { policyTrigger, geoip: notes })).rejects.toMatchObject({
      code: 'GEO_DATABASE_INVALID',
      message: expect.stringContaining(notes),
    });
    await expect(
      openReleaseService(join(root, 'data'), keys, { policyTrigger, trustedProxies: ['10.0.0.0/99'] }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(stopped).toEqual(started);
  });
});
