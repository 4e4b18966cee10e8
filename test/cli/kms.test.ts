/**
 * `kms grant` and `audit import-cloudtrail` through the built CLI, against moto_server: seal to a
 * KMS key with --log, grant a principal that package only, and bring the Decrypts CloudTrail
 * records back into the log (a CloudTrail file shaped like test/fixtures/cloudtrail/kms-decrypts.json,
 * with the real package's EncryptionContext).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CreateKeyCommand, KMSClient, ListGrantsCommand } from '@aws-sdk/client-kms';
import { cli, type CliRun } from '../support/cli.js';
import { detBytes, tempDir } from '../support/fixtures.js';
import { startMoto, type Moto } from '../support/moto.js';

const dir = tempDir('modelseal-cli-kms-');
const GRANTEE = 'arn:aws:iam::444455556666:role/model-consumer';
let moto: Moto;
let kms: KMSClient;
let run: (args: string[]) => CliRun;
let arn: string;
const log = join(dir, 'exports');
const pkg = join(dir, 'w.mseal');

beforeAll(async () => {
  moto = await startMoto();
  kms = new KMSClient({ endpoint: moto.endpoint });
  arn = (await kms.send(new CreateKeyCommand({ Description: 'modelseal cli grant test' }))).KeyMetadata!.Arn!;
  const base = cli(join(dir, 'keys'), dir);
  run = (args) => base(['--kms-endpoint', moto.endpoint, ...args]);
  expect(run(['init']).code).toBe(0);
  writeFileSync(join(dir, 'w.bin'), detBytes(30_000, 'cli-kms'));
  const sealed = run(['seal', 'w.bin', '--to', `aws-kms:${arn}`, '--license', 'EAR-7', '--log', log, '-o', pkg]);
  expect(sealed.code, sealed.stderr).toBe(0);
}, 120_000);

afterAll(async () => {
  await (moto as Moto | undefined)?.stop();
});

/** A CloudTrail file: the fixture's records, with the Decrypts of "our" key pointed at this package. */
function trailFor(context: Record<string, string>): string {
  const fixture = JSON.parse(readFileSync(resolve('test/fixtures/cloudtrail/kms-decrypts.json'), 'utf8')) as {
    Records: { eventName: string; resources: { ARN: string }[]; requestParameters: Record<string, unknown> }[];
  };
  const ours = fixture.Records[0]!.resources[0]!.ARN;
  for (const r of fixture.Records) {
    if (r.eventName !== 'Decrypt' || r.resources[0]?.ARN !== ours) continue;
    r.resources[0].ARN = arn;
    r.requestParameters.keyId = arn;
    const given = r.requestParameters.encryptionContext as Record<string, string>;
    // The fixture's unmatched Decrypt names another package: keep it another one.
    if (given.package?.startsWith('HR0d')) r.requestParameters.encryptionContext = context;
  }
  const file = join(dir, 'trail.json');
  writeFileSync(file, JSON.stringify(fixture));
  return file;
}

describe('modelseal kms grant / audit import-cloudtrail (moto_server)', () => {
  let context: Record<string, string>;

  it('kms grant: one grant on the stanza key, constrained to its EncryptionContext, Decrypt only, logged', async () => {
    const r = run(['--json', 'kms', 'grant', pkg, '--grantee-principal', GRANTEE, '--log', log]);
    expect(r.code, r.stderr).toBe(0);
    const out = r.json();
    expect(out).toMatchObject({ ok: true, command: 'kms grant' });
    expect(out.grants).toHaveLength(1);
    const g = out.grants[0];
    expect(g).toMatchObject({
      index: 1,
      key: arn,
      grantee: GRANTEE,
      operations: ['Decrypt'],
      recipient: `aws-kms:${arn}`,
      license: 'EAR-7',
    });
    context = g.encryptionContext;
    expect(Object.keys(context).sort()).toEqual(['artifact', 'license', 'package', 'policy', 'recipient']);
    const listed = (await kms.send(new ListGrantsCommand({ KeyId: arn }))).Grants!;
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({
      GrantId: g.grantId,
      GranteePrincipal: GRANTEE,
      Operations: ['Decrypt'],
      Constraints: { EncryptionContextEquals: context },
    });
    const table = run(['audit', 'list', '--log', log, '--type', 'kms-grant']).stdout;
    expect(table).toContain(`kms grant ${g.grantId} on ${arn} to ${GRANTEE} (Decrypt)`);
    const grants = run(['--json', 'audit', 'list', '--log', log, '--type', 'kms-grant']).json();
    expect(grants.entries.map((e: { grant: string }) => e.grant)).toEqual([g.grantId]);
  });

  it('kms grant refuses a package without aws-kms stanza and an operation other than Decrypt, exit 2, no grant', async () => {
    writeFileSync(join(dir, 'x.bin'), detBytes(1000, 'x'));
    expect(run(['seal', 'x.bin', '--to', 'local', '-o', join(dir, 'x.mseal')]).code).toBe(0);
    const none = run(['--json', 'kms', 'grant', join(dir, 'x.mseal'), '--grantee-principal', GRANTEE, '--log', log]);
    expect(none.code).toBe(2);
    expect(none.json()).toMatchObject({ ok: false, error: { code: 'INVALID_ARGUMENT' } });
    const ops = ['--json', 'kms', 'grant', pkg, '--grantee-principal', GRANTEE, '--log', log];
    const bad = run([...ops, '--operations', 'Decrypt,Encrypt']);
    expect(bad.code).toBe(2);
    expect(bad.json().error.message).toContain('--operations Encrypt');
    expect((await kms.send(new ListGrantsCommand({ KeyId: arn }))).Grants).toHaveLength(1);
  });

  it('kms grant fails closed: a release service that does not answer gets no grant left behind (exit 9, as seal --log)', async () => {
    const before = (await kms.send(new ListGrantsCommand({ KeyId: arn }))).Grants!.map((x) => x.GrantId);
    const r = run(['--json', 'kms', 'grant', pkg, '--grantee-principal', GRANTEE, '--log', 'http://127.0.0.1:9']);
    expect(r.code, r.stderr).toBe(9);
    expect(r.json()).toMatchObject({ ok: false, error: { code: 'PROVIDER_UNAVAILABLE' } });
    const after = (await kms.send(new ListGrantsCommand({ KeyId: arn }))).Grants!.map((x) => x.GrantId);
    expect(after).toEqual(before);
  });

  it('audit import-cloudtrail: matched Decrypts become release entries, once; the unmatched are reported', () => {
    const file = trailFor(context);
    const first = run(['--json', 'audit', 'import-cloudtrail', file, '--log', log]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.json()).toMatchObject({
      ok: true,
      command: 'audit import-cloudtrail',
      imported: 3,
      duplicates: 0,
      failedDecrypts: 1,
      otherKeys: 1,
      unmatched: [{ eventID: '5e6f7a8b-2222-4ccc-9ddd-abcdef012345', key: arn }],
    });
    const again = run(['--json', 'audit', 'import-cloudtrail', file, '--log', log]).json();
    expect(again).toMatchObject({ imported: 0, duplicates: 3, failedDecrypts: 0 });
    const human = run(['audit', 'import-cloudtrail', file, '--log', log]);
    expect(human.stderr).toContain('unmatched: CloudTrail event 5e6f7a8b-2222-4ccc-9ddd-abcdef012345');
    const releases = run(['--json', 'audit', 'list', '--log', log, '--type', 'release']).json();
    expect(
      releases.entries.map((e: { decision: string; reason: string; request: string }) => [
        e.decision,
        e.reason,
        e.request.slice(0, 19),
      ]),
    ).toEqual([
      ['allow', 'kms-decrypt', 'cloudtrail:3f2a9c1e'],
      ['deny', 'kms:AccessDenied', 'cloudtrail:a1b2c3d4'],
      ['allow', 'kms-decrypt', 'cloudtrail:f9e8d7c6'],
    ]);
    const csv = run(['audit', 'list', '--log', log, '--csv', '--decision', 'deny']).stdout;
    expect(csv).toContain('aws-kms: kms:AccessDenied');
    expect(run(['audit', 'verify', '--log', log]).code).toBe(0);
  });

  it('audit import-cloudtrail refuses a release service URL and a file that is not CloudTrail (exit 2)', () => {
    const url = run(['--json', 'audit', 'import-cloudtrail', trailFor(context), '--log', 'http://127.0.0.1:9']);
    expect(url.code).toBe(2);
    writeFileSync(join(dir, 'not.json'), '{"events": []}');
    const bad = run(['--json', 'audit', 'import-cloudtrail', join(dir, 'not.json'), '--log', log]);
    expect(bad.code).toBe(2);
    expect(bad.json().error.message).toContain('Records');
  });
});
