/**
 * The release service over real HTTP on loopback: the allowed path end to end (seal for a
 * recipient, open through the service, receipt checked), and the denial matrix — each request
 * denied with its own reason, and every one of them logged.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isModelsealError } from '../../src/errors.js';
import { initKeystore, loadLocalKey, loadPublisherKey, loadReleaseIdentity, noPassphrase, readPublisherPublicKey } from '../../src/keystore/keystore.js';
import { writeKeyFile } from '../../src/keystore/keyfile.js';
import { auditLog } from '../../src/log/audit.js';
import { verifyProof } from '../../src/log/checkpoint.js';
import { decodeEvent } from '../../src/log/events.js';
import { parseVerifierKey } from '../../src/log/note.js';
import { open } from '../../src/package/open.js';
import { seal } from '../../src/package/seal.js';
import { initPolicyDir, POLICY_FILES } from '../../src/policy/engine.js';
import { recipientFrom, type ProviderSettings } from '../../src/providers/registry.js';
import { ReleaseIdentity } from '../../src/providers/release.js';
import { startServer, MAX_BODY_BYTES, type RunningServer } from '../../src/server/http.js';
import type { ReleaseRequest } from '../../src/server/protocol.js';
import { signedRequest } from '../support/release.js';
import { loadOrCreateCa, RecipientRegistry } from '../../src/server/recipients.js';
import { openReleaseService, type ReleaseServiceSetup } from '../../src/server/setup.js';
import { tempDir } from '../support/fixtures.js';

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
const iso = (ms: number) => new Date(Date.now() + ms).toISOString();

function license(id: string, over: Record<string, unknown> = {}) {
  return { id, holder: 'acme-labs', artifacts: [artifact], destinations: ['DE', 'FR', 'IR'], notBefore: iso(-DAY), notAfter: iso(DAY), maxReleases: 5, ...over };
}

async function sealFor(recipient: string, lic: string): Promise<string> {
  const out = join(dir, `${recipient}-${lic}.mseal`);
  const settings = { keysDir: keys, passphrase: noPassphrase, identityFiles: [], kms: {} } as ProviderSettings;
  await seal({
    input: src,
    output: out,
    recipients: [await recipientFrom(`release:${server.url}#${recipient}`, settings)],
    publisher: await loadPublisherKey(join(keys, 'publisher.key')),
    license: lic,
    force: true,
  });
  return out;
}

async function client(name: string, destination = 'DE', identityFile = join(dir, `${name}.identity`)) {
  const { key } = await loadReleaseIdentity(identityFile);
  const receipts: string[] = [];
  return { identity: new ReleaseIdentity({ name, key, destination, logKey, onReceipt: (r) => receipts.push(r) }), receipts };
}

async function openVia(pkg: string, name = 'acme-labs', destination = 'DE') {
  const { identity, receipts } = await client(name, destination);
  const out = join(dir, `out-${randomBytes(4).toString('hex')}`);
  const trustedPublishers = [await readPublisherPublicKey(join(keys, 'publisher.pub'))];
  const r = await open({ input: pkg, output: out, identities: [identity], trustedPublishers }).catch((e: unknown) => e);
  return { r, receipts, out };
}

/** A hand-made request (for the cases a well-behaved client never sends), signed by `signer`'s key. */
async function rawRequest(pkg: string, name: string, edit: (r: ReleaseRequest) => void = () => {}, signer?: string) {
  const { key } = await loadReleaseIdentity(join(dir, `${signer ?? name}.identity`));
  return (await signedRequest(pkg, name, key, edit)).body;
}

async function post(body: unknown, raw?: string) {
  const res = await fetch(`${server.url}/v1/release`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw ?? JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as { decision: string; reason?: string; requestId: string; receipt?: string; key?: unknown } };
}

beforeAll(async () => {
  await initKeystore(keys, { logOrigin: 'releases.test/log' });
  logKey = parseVerifierKey(readFileSync(join(keys, 'log.vkey'), 'utf8'));
  writeFileSync(src, randomBytes(200_000));
  // The model's root digest, for the licenses: seal once to a local key to learn it.
  const probe = await seal({ input: src, output: join(dir, 'probe.mseal'), recipients: [await loadLocalKey(join(keys, 'local.kek'))], publisher: await loadPublisherKey(join(keys, 'publisher.key')) });
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
      ],
    }),
  );
  writeFileSync(join(data, 'policy', POLICY_FILES.deniedParties), JSON.stringify({ parties: ['Shady Trading LLC'] }));
  const ca = await loadOrCreateCa(keys);
  const registry = new RecipientRegistry(join(data, 'recipients'));
  for (const [name, org] of [
    ['acme-labs', 'Acme Labs GmbH'],
    ['revoked-co', 'Revoked Co'],
    ['shady-co', 'Shady Trading LLC'],
  ] as const) {
    const { identity } = await registry.issue(name, { org, country: 'DE', nationality: 'DE' }, ca);
    await writeKeyFile(join(dir, `${name}.identity`), identity);
  }
  setup = await openReleaseService(data, keys, { commitIntervalMs: 0, skewSeconds: 120 });
  server = await startServer(setup.service, setup.log, { port: 0 });
  for (const [r, l] of [
    ['acme-labs', 'L-OK'],
    ['acme-labs', 'L-EXPIRED'],
    ['acme-labs', 'L-FUTURE'],
    ['acme-labs', 'L-ONE'],
    ['acme-labs', 'L-NONE'],
    ['revoked-co', 'L-OK'],
    ['shady-co', 'L-SCREEN'],
  ] as const) {
    pkgs[`${r}/${l}`] = await sealFor(r, l);
  }
  await registry.revoke('revoked-co');
}, 60_000);

afterAll(async () => {
  await server?.close();
  await setup?.close();
});

describe('release service', () => {
  it('publishes its info and the log read side', async () => {
    const info = (await (await fetch(`${server.url}/v1/info`)).json()) as Record<string, string>;
    expect(info).toMatchObject({ origin: 'releases.test/log', logKey: readFileSync(join(keys, 'log.vkey'), 'utf8').trim(), wrap: expect.stringMatching(/^x25519:/) });
    const cp = await (await fetch(`${server.url}/checkpoint`)).text();
    expect(cp.split('\n')[0]).toBe('releases.test/log');
    expect((await fetch(`${server.url}/tile/0/999`)).status).toBe(404);
  });

  it('releases to a licensed recipient: the package opens, the receipt verifies and names the request', async () => {
    const { r, receipts } = await openVia(pkgs['acme-labs/L-OK']!);
    expect(r instanceof Error ? r.message : 'ok').toBe('ok');
    expect(readFileSync(r.output).equals(readFileSync(src))).toBe(true);
    expect(receipts).toHaveLength(1);
    const proof = verifyProof(receipts[0]!, undefined, logKey);
    expect(decodeEvent(proof.entry)).toMatchObject({ type: 'release', decision: 'allow', recipient: 'acme-labs', license: 'L-OK', policies: ['licensed-release'], destination: 'DE' });
    await expect(setup.service.used('L-OK')).resolves.toBe(1);
  });

  it('denies each case with its own reason, and logs every one', async () => {
    const before = setup.log.size;
    const cases: Array<[string, () => Promise<{ status: number; body: { decision: string; reason?: string; receipt?: string } }>]> = [
      ['license-expired', async () => post(await rawRequest(pkgs['acme-labs/L-EXPIRED']!, 'acme-labs'))],
      ['license-not-yet-valid', async () => post(await rawRequest(pkgs['acme-labs/L-FUTURE']!, 'acme-labs'))],
      ['destination-not-licensed', async () => post(await rawRequest(pkgs['acme-labs/L-OK']!, 'acme-labs', (r) => (r.destination = 'US')))],
      ['embargoed-destination', async () => post(await rawRequest(pkgs['acme-labs/L-OK']!, 'acme-labs', (r) => (r.destination = 'IR')))],
      ['screening-hit', async () => post(await rawRequest(pkgs['shady-co/L-SCREEN']!, 'shady-co'))],
      ['revoked-identity', async () => post(await rawRequest(pkgs['revoked-co/L-OK']!, 'revoked-co'))],
      ['unknown-identity', async () => post(await rawRequest(pkgs['acme-labs/L-OK']!, 'nobody', () => {}, 'acme-labs'))],
      ['bad-signature', async () => post(await rawRequest(pkgs['acme-labs/L-OK']!, 'acme-labs', () => {}, 'shady-co'))],
      ['stale-timestamp', async () => post(await rawRequest(pkgs['acme-labs/L-OK']!, 'acme-labs', (r) => (r.time = iso(-3600_000))))],
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
      ['unusable-ephemeral-key', async () => post(await rawRequest(pkgs['acme-labs/L-OK']!, 'acme-labs', (r) => (r.ephemeral = Buffer.alloc(32).toString('base64url'))))],
      ['malformed-json', async () => post(null, '{"request": ')],
      ['malformed-request', async () => post({ request: { v: 1 }, signature: 'x' })],
      ['oversized-body', async () => post(null, JSON.stringify({ pad: 'x'.repeat(MAX_BODY_BYTES) }))],
    ];
    const seen: string[] = [];
    for (const [reason, run] of cases) {
      const { status, body } = await run();
      expect({ reason, status: status >= 400, decision: body.decision, got: body.reason }).toEqual({ reason, status: true, decision: 'deny', got: reason });
      expect(body).not.toHaveProperty('key');
      // Every denial comes with its log receipt.
      expect(decodeEvent(verifyProof(body.receipt!, undefined, logKey).entry)).toMatchObject({ decision: 'deny', reason });
      seen.push(reason);
    }
    // 16 cases, one of which (the replay) sent two requests: all 17 are in the log.
    expect(setup.log.size - before).toBe(cases.length + 1);
    expect(seen).toHaveLength(16);
  });

  it('counts releases against the license: the quota is reserved before the decision is final', async () => {
    const answers = await Promise.all([0, 1, 2].map(async () => post(await rawRequest(pkgs['acme-labs/L-ONE']!, 'acme-labs'))));
    const allowed = answers.filter((a) => a.body.decision === 'allow');
    expect(allowed).toHaveLength(1);
    expect(answers.filter((a) => a.body.reason === 'license-quota-used')).toHaveLength(2);
  });

  it('the client refuses a denial with RELEASE_DENIED and writes nothing', async () => {
    const { r, out } = await openVia(pkgs['acme-labs/L-OK']!, 'acme-labs', 'US');
    expect(isModelsealError(r, 'RELEASE_DENIED')).toBe(true);
    expect((r as { details: { reason: string } }).details.reason).toBe('destination-not-licensed');
    expect(existsSync(out)).toBe(false);
  });

  it('the log of all this verifies', async () => {
    expect(await auditLog(setup.log.store, logKey)).toMatchObject({ ok: true, size: setup.log.size });
  });
});
