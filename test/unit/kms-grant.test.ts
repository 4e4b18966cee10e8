/**
 * `kms grant` as a library call against a real KMS wire protocol (moto_server): CreateGrant with
 * Constraints.EncryptionContextEquals, read back with ListGrants, revoked with RevokeGrant when the
 * log does not take the grant. moto stores and lists the constraint but does not enforce it on
 * Decrypt (it checks no grants at all), so these tests check what KMS is asked for and what it
 * records, not that KMS refuses another context.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import {
  AwsKmsRecipient,
  grantPackage,
  initKeystore,
  listKeyGrants,
  loadPublisherKey,
  openExportLog,
  openLogStore,
  openReleaseService,
  queryEvents,
  readHead,
  seal,
  startServer,
  ModelsealError,
  type ExportLog,
  type KmsClient,
  type Publisher,
} from '../../src/index.js';
import { contextFor, releaseContextFields } from '../../src/providers/types.js';
import { startMoto, type Moto } from '../support/moto.js';
import { detBytes, makeKeys, tempDir } from '../support/fixtures.js';

const keys = makeKeys();
const dir = tempDir('modelseal-kms-grant-');
const GRANTEE = 'arn:aws:iam::111122223333:role/model-consumer';
let moto: Moto;
let kms: KMSClient;
let keysDir: string;
let publisher: Publisher;

beforeAll(async () => {
  moto = await startMoto();
  kms = new KMSClient({ endpoint: moto.endpoint });
  keysDir = join(dir, 'keys');
  await initKeystore(keysDir);
  publisher = await loadPublisherKey(join(keysDir, 'publisher.key'));
}, 120_000);

afterAll(async () => {
  await (moto as Moto | undefined)?.stop();
});

const newKey = async () =>
  (await kms.send(new CreateKeyCommand({ Description: 'modelseal grant test' }))).KeyMetadata!.Arn!;

/** A package sealed to these KMS keys (and an x25519 recipient, which a grant must leave alone). */
async function sealToKms(name: string, arns: string[], license = 'EAR-7') {
  const src = join(dir, `${name}.bin`);
  writeFileSync(src, detBytes(20_000, name));
  const pkg = join(dir, `${name}.mseal`);
  const recipients = [
    ...(await Promise.all(arns.map((a) => AwsKmsRecipient.resolve(a, { endpoint: moto.endpoint })))),
    keys.alice.recipient,
  ];
  await seal({ input: src, output: pkg, recipients, publisher, license });
  return pkg;
}

describe('kms grant (moto_server)', () => {
  it("an aws-kms stanza's EncryptionContext names the package, the model, the recipient and the license", async () => {
    const arn = await newKey();
    const pkg = await sealToKms('context', [arn]);
    const h = (await readHead(pkg)).parsed.header;
    const ctx = releaseContextFields(contextFor(h, h.stanzas[0]!));
    expect(ctx).toEqual({
      package: Buffer.from(h.packageId).toString('base64url'),
      artifact: `sha256:${Buffer.from(h.model.rootDigest).toString('hex')}`,
      recipient: `aws-kms:${arn}`,
      license: 'EAR-7',
      policy: 'none',
    });
  });

  it("creates one grant per aws-kms stanza, constrained to exactly that stanza's context, Decrypt only, logged", async () => {
    const [a, b] = [await newKey(), await newKey()];
    const pkg = await sealToKms('two', [a, b]);
    const h = (await readHead(pkg)).parsed.header;
    const where = join(dir, 'log-two');
    const log = await openExportLog(where, { keysDir });
    let grants;
    try {
      grants = await grantPackage(pkg, { granteePrincipal: GRANTEE, log, publisher, endpoint: moto.endpoint });
    } finally {
      await log.close();
    }
    expect(grants.map((g) => [g.index, g.event.key])).toEqual([
      [0, a],
      [1, b],
    ]);
    for (const [i, arn] of [a, b].entries()) {
      const expected = releaseContextFields(contextFor(h, h.stanzas[i]!));
      const listed = await listKeyGrants(arn, { endpoint: moto.endpoint });
      expect(listed).toHaveLength(1);
      expect(listed[0]).toMatchObject({
        GrantId: grants[i]!.event.grant,
        GranteePrincipal: GRANTEE,
        Operations: ['Decrypt'],
        Constraints: { EncryptionContextEquals: expected },
        Name: expect.stringContaining(Buffer.from(h.packageId).toString('hex').slice(0, 32)),
      });
      expect(grants[i]!.event.context).toEqual(expected);
    }
    const store = await openLogStore(where, 'read');
    try {
      const { entries } = await queryEvents(store, { type: 'kms-grant', license: 'EAR-7' });
      expect(entries.map((e) => e.event)).toEqual(grants.map((g) => g.event));
      expect(entries[0]!.event).toMatchObject({
        package: Buffer.from(h.packageId).toString('hex'),
        grantee: GRANTEE,
        recipient: `aws-kms:${a}`,
        publisher: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
      });
    } finally {
      await store.close();
    }
  });

  it('--recipient picks one stanza; a package without an aws-kms stanza for it is refused before any grant', async () => {
    const [a, b] = [await newKey(), await newKey()];
    const pkg = await sealToKms('pick', [a, b]);
    const log = await openExportLog(join(dir, 'log-pick'), { keysDir });
    try {
      const opts = { granteePrincipal: GRANTEE, log, publisher, endpoint: moto.endpoint };
      const g = await grantPackage(pkg, { ...opts, recipient: b });
      expect(g.map((x) => x.event.key)).toEqual([b]);
      expect(await listKeyGrants(a, { endpoint: moto.endpoint })).toEqual([]);
      await expect(grantPackage(pkg, { ...opts, recipient: keys.alice.recipient.id })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: expect.stringContaining('no aws-kms stanza'),
      });
    } finally {
      await log.close();
    }
  });

  it('fails closed: a grant the log does not take is revoked, and the log error is thrown', async () => {
    const arn = await newKey();
    const pkg = await sealToKms('closed', [arn]);
    const real = await openExportLog(join(dir, 'log-closed'), { keysDir });
    await real.close();
    // The log's store is closed: the append fails as a log outage does.
    const failing: ExportLog = real;
    await expect(
      grantPackage(pkg, { granteePrincipal: GRANTEE, log: failing, publisher, endpoint: moto.endpoint }),
    ).rejects.toMatchObject({ code: expect.stringMatching(/^LOG_/) });
    // Nothing left behind: the grant KMS made was revoked.
    expect(await listKeyGrants(arn, { endpoint: moto.endpoint })).toEqual([]);
  });

  it("a release service's log takes the grant as a publisher event and returns a receipt", async () => {
    const setup = await openReleaseService(join(dir, 'service-data'), keysDir, { commitIntervalMs: 0 });
    const server = await startServer(setup.service, setup.log, { port: 0 });
    try {
      const arn = await newKey();
      const pkg = await sealToKms('service', [arn]);
      const log = await openExportLog(server.url, { keysDir });
      const g = await grantPackage(pkg, { granteePrincipal: GRANTEE, log, publisher, endpoint: moto.endpoint });
      expect(g).toHaveLength(1);
      const { entries } = await queryEvents(setup.log.store, { type: 'kms-grant' });
      expect(entries.map((e) => e.event)).toEqual([g[0]!.event]);
    } finally {
      await server.close();
      await setup.close();
    }
  });
});

describe('kms grant with an in-process KMS client', () => {
  /** A KMS that makes grants and refuses to revoke them, recording its calls. */
  function kmsThatCannotRevoke(calls: string[]): KmsClient {
    const unused = () => Promise.reject(new Error('not called in these tests'));
    return {
      describeKey: unused,
      encrypt: unused,
      decrypt: unused,
      getPublicKey: unused,
      sign: unused,
      createGrant: (i) => (calls.push(`CreateGrant ${i.Name}`), Promise.resolve({ GrantId: 'g-1' })),
      listGrants: () => Promise.resolve({ Grants: [] }),
      revokeGrant: () => (
        calls.push('RevokeGrant'),
        Promise.reject(Object.assign(new Error('no'), { name: 'AccessDeniedException' }))
      ),
    };
  }
  const downLog: ExportLog = {
    origin: 'example.org/log',
    local: null,
    record: () => Promise.reject(new Error('not called')),
    append: () => Promise.reject(new ModelsealError('LOG_UNAVAILABLE', 'the log is down')),
    close: () => Promise.resolve(),
  };

  it('a grant the log refused and KMS would not revoke: the error says so and gives the command to revoke it', async () => {
    const pkg = await sealToKms('norevoke', [await newKey()]);
    const calls: string[] = [];
    const err = await grantPackage(pkg, {
      granteePrincipal: GRANTEE,
      log: downLog,
      publisher,
      client: kmsThatCannotRevoke(calls),
    }).catch((e: unknown) => e);
    expect(calls).toEqual([expect.stringMatching(/^CreateGrant modelseal-[0-9a-f]{32}-EAR-7$/), 'RevokeGrant']);
    expect(err).toMatchObject({
      code: 'LOG_UNAVAILABLE',
      message: expect.stringContaining('aws kms revoke-grant --key-id'),
      details: { grant: 'g-1' },
    });
  });

  it('a client without the grant calls cannot make grants (PROVIDER_UNAVAILABLE), before anything is logged', async () => {
    const pkg = await sealToKms('nogrants', [await newKey()]);
    const full = kmsThatCannotRevoke([]);
    const bare: KmsClient = {
      describeKey: (i) => full.describeKey(i),
      encrypt: (i) => full.encrypt(i),
      decrypt: (i) => full.decrypt(i),
      getPublicKey: (i) => full.getPublicKey(i),
      sign: (i) => full.sign(i),
    };
    await expect(
      grantPackage(pkg, { granteePrincipal: GRANTEE, log: downLog, publisher, client: bare }),
    ).rejects.toMatchObject({ code: 'PROVIDER_UNAVAILABLE', message: expect.stringContaining('createGrant') });
  });
});
