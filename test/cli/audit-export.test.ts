/**
 * `audit export` and `audit verify-export` through the built CLI, over a data directory the real CLI
 * made and a running `modelseal serve` decided on: an allowed and a denied release, the package's
 * export logged through the service, a screening list in force. The pack round-trips, fails naming
 * the file on a changed byte, selects by model and destination, and is made the same from the
 * service's read side. Needs brief R's records (openDataRecords, remoteRecords).
 */
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadReleaseIdentity } from '../../src/keystore/keystore.js';
import { cli, serveCli, type ServedCli } from '../support/cli.js';
import { packEntries } from '../support/evidence.js';
import { tempDir } from '../support/fixtures.js';
import { signedRequest } from '../support/release.js';
import { policyInForce } from '../support/wait.js';

const dir = tempDir('modelseal-cli-evidence-');
const keys = join(dir, 'keys');
const data = join(dir, 'data');
const pkg = join(dir, 'm.mseal');
const ms = cli(keys, dir);
let served: ServedCli | undefined;

afterAll(() => served?.stop());

/** A signed release request for the package as acme-labs, for `destination`: the service's decision. */
async function ask(url: string, destination: string): Promise<string> {
  const { key } = await loadReleaseIdentity(join(dir, 'acme.identity'));
  const { body } = await signedRequest(pkg, 'acme-labs', key, (r) => (r.destination = destination));
  const res = await fetch(`${url}/v1/release`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return ((await res.json()) as { decision: string }).decision;
}

describe('audit export through the CLI', () => {
  it('packs the decisions of a real service with their records, and verify-export checks them offline', async () => {
    expect(ms(['init', '--log-origin', 'evidence-cli.test/log']).code).toBe(0);
    const org = ['--data', data, '--country', 'DE', '--nationality', 'DE'];
    const issued = ms(['recipient', 'issue', 'acme-labs', '--org', 'Acme Labs GmbH', ...org, '-o', 'acme.identity']);
    expect(issued.code, issued.stderr).toBe(0);
    writeFileSync(
      join(dir, 'own.csv'),
      'id,name,type,aliases,countries,dob,source\nx-1,Nobody Trading,company,,IR,,x\n',
    );
    expect(ms(['lists', 'import', 'own.csv', '--data', data, '--source', 'own']).code).toBe(0);
    served = await serveCli(keys, dir, data, ['--geoip', 'none']);
    const { url } = served;
    const to = ['--to', `release:${url}#acme-labs`, '--license', 'EAR-E', '--no-license-check', '--log', url];
    const sealed = ms(['--json', 'seal', resolve('samples/checkpoint'), ...to, '-o', pkg]);
    expect(sealed.code, sealed.stderr).toBe(0);
    const model = sealed.json().model.rootDigest as string;
    const license = {
      id: 'EAR-E',
      holder: 'acme-labs',
      artifacts: [model],
      destinations: ['DE'],
      notBefore: '2020-01-01T00:00:00Z',
      notAfter: '2100-01-01T00:00:00Z',
      maxReleases: 20,
    };
    writeFileSync(join(data, 'policy', 'licenses.json'), JSON.stringify({ licenses: [license] }));
    await policyInForce(url, ms(['--json', 'policy', 'check', '--data', data]).json().hash);
    expect(await ask(url, 'DE')).toBe('allow');
    expect(await ask(url, 'FR')).toBe('deny');

    // From the store beside the running service: the records come from its data directory.
    const made = ms(['--json', 'audit', 'export', '--log', join(data, 'log'), '-o', 'all.tar']);
    expect(made.code, made.stderr).toBe(0);
    expect(made.json()).toMatchObject({ ok: true, gaps: [] });
    expect(made.json().entries).toBeGreaterThanOrEqual(3);
    const checked = ms(['--json', 'audit', 'verify-export', 'all.tar']);
    expect(checked.code, checked.stderr).toBe(0);
    expect(checked.json()).toMatchObject({ ok: true, origin: 'evidence-cli.test/log', gaps: [] });
    const pack = readFileSync(join(dir, 'all.tar'));
    const files = new Map(packEntries(pack).map((e) => [e.name, e]));
    const records = [...files.keys()].filter((f) => f.startsWith('records/'));
    for (const prefix of ['records/policy/', 'records/recipients/', 'records/snapshots/', 'records/classification/'])
      expect(
        records.some((f) => f.startsWith(prefix)),
        prefix,
      ).toBe(true);

    // One changed byte in a record: exit 23, the file named.
    const record = records.find((f) => f.startsWith('records/policy/'))!;
    const { at, size } = files.get(record)!;
    const bad = Buffer.from(pack);
    bad[at + Math.floor(size / 2)]! ^= 0x01;
    writeFileSync(join(dir, 'bad.tar'), bad);
    const refused = ms(['--json', 'audit', 'verify-export', 'bad.tar']);
    expect(refused.code).toBe(23);
    expect(refused.json().error).toMatchObject({ code: 'EVIDENCE_INVALID', details: { file: record } });

    // The model's releases to FR only: the denied one (--store, the spelling of --log for a store).
    const fr = ms([
      '--json',
      'audit',
      'export',
      '--store',
      join(data, 'log'),
      '--model',
      model,
      '--destination',
      'FR',
      '-o',
      'fr.tar',
    ]);
    expect(fr.code, fr.stderr).toBe(0);
    expect(fr.json().entries).toBe(1);
    expect(ms(['audit', 'verify-export', 'fr.tar']).code).toBe(0);

    // From the service's read side: the proofs recomputed from the entries, the records asked for over HTTP.
    const remote = ms(['--json', 'audit', 'export', '--log', url, '-o', 'remote.tar']);
    expect(remote.code, remote.stderr).toBe(0);
    expect(remote.json().entries).toBe(made.json().entries);
    expect(ms(['audit', 'verify-export', 'remote.tar', '--log-key', join(keys, 'log.vkey')]).code).toBe(0);
  });

  it('says what is missing: no -o, a malformed --model, a log with no data directory', () => {
    expect(ms(['audit', 'export', '--log', join(data, 'log')]).code).toBe(2);
    const model = ms(['--json', 'audit', 'export', '--log', join(data, 'log'), '--model', 'x', '-o', 'x.tar']);
    expect(model.json().error.code).toBe('INVALID_ARGUMENT');
    // A copy of the log away from its data directory: where the records are must be said.
    cpSync(join(data, 'log'), join(dir, 'copied'), { recursive: true });
    const alone = ms(['--json', 'audit', 'export', '--log', join(dir, 'copied'), '-o', 'x.tar']);
    expect(alone.json().error).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('--data') });
  });
});
