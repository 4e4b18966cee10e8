/**
 * `license issue | list | revoke` through the built binary: licenses.json written atomically and
 * checked as the policy engine loads it; a running service's watcher picks a new license up.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../support/fixtures.js';
import { cli, serveCli } from '../support/cli.js';
import { policyInForce } from '../support/wait.js';
import { POLICY_FILES, policySetHash, type PolicyFileTexts } from '../../src/policy/engine.js';

const dir = tempDir('modelseal-license-');
const keys = join(dir, 'keys');
const data = join(dir, 'data');
const ms = cli(keys, dir);
const sample = resolve('samples/checkpoint');
const licensesFile = join(data, 'policy', 'licenses.json');

beforeAll(() => {
  expect(ms(['init']).code).toBe(0);
  expect(ms(['recipient', 'issue', 'acme-labs', '--org', 'Acme Labs', '--country', 'DE', '--data', data]).code).toBe(0);
}, 30_000);

const issue = (id: string, extra: string[] = []) =>
  ms(['--json', 'license', 'issue', id, '--holder', 'acme-labs', '--model', sample, '--data', data, ...extra]);

describe('license', () => {
  let model = '';
  it('issues a license on a checkpoint (its root digest), and policy check loads the file', () => {
    const r = issue('EAR-1', [
      '--destination',
      'de,FR',
      '--nationality',
      'DE',
      '--not-before',
      '2026-01-01',
      '--not-after',
      '2030-01-01',
      '--max-releases',
      '3',
      '--authorization',
      'BIS license D123456',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const j = r.json();
    expect(j).toMatchObject({
      holderRegistered: true,
      license: {
        id: 'EAR-1',
        holder: 'acme-labs',
        destinations: ['DE', 'FR'],
        nationalities: ['DE'],
        notBefore: '2026-01-01T00:00:00.000Z',
        notAfter: '2030-01-01T00:00:00.000Z',
        maxReleases: 3,
        authorization: 'BIS license D123456',
      },
    });
    model = j.license.artifacts[0];
    expect(model).toMatch(/^sha256:[0-9a-f]{64}$/);
    const file = JSON.parse(readFileSync(licensesFile, 'utf8'));
    expect(file.licenses).toEqual([j.license]);
    expect(file.example).toBeDefined(); // the default's example entry is kept
    expect(ms(['policy', 'check', '--data', data]).code).toBe(0);
    expect(readdirSync(join(data, 'policy')).filter((f) => f.includes('.tmp') || f.startsWith('.'))).toEqual([]);
  });

  it('a model given by digest is taken as is; a package of the model names the same digest', () => {
    const pkg = join(dir, 'm.mseal');
    expect(ms(['seal', sample, '--to', 'local', '-o', pkg]).code).toBe(0);
    const r = issue('EAR-2', ['--model', model, '--model', pkg, '--destination', 'DE']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().license.artifacts).toEqual([model]);
  });

  it('--tier names the capability tiers the license covers for inference; a bad name is refused (exit 2)', () => {
    const r = issue('INF-1', [
      '--destination',
      'DE',
      '--tier',
      'general,limited',
      '--tier',
      'general',
      '--model',
      'model:tiny',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().license.tiers).toEqual(['general', 'limited']);
    expect(r.json().license.artifacts).toContain('model:tiny'); // a model a gateway serves without its package
    expect(ms(['license', 'list', '--data', data]).stderr).toContain('inference tiers general,limited');
    const bad = issue('INF-2', ['--destination', 'DE', '--tier', 'Not A Tier']);
    expect(bad.code).toBe(2);
    expect(bad.stdout).toMatch(/tiers/);
    expect(ms(['license', 'revoke', 'INF-1', '--data', data]).code).toBe(0);
  });

  it('refuses an id already issued (exit 10), a bad country or time (exit 2), and leaves the file as it was', () => {
    const before = readFileSync(licensesFile, 'utf8');
    expect(issue('EAR-1', ['--destination', 'DE']).code).toBe(10);
    const country = issue('EAR-3', ['--destination', 'DEU']);
    expect(country.code).toBe(2);
    expect(country.stdout).toContain('destinations');
    expect(issue('EAR-3', ['--destination', 'DE', '--not-after', 'soon']).code).toBe(2);
    expect(
      issue('EAR-3', ['--destination', 'DE', '--not-before', '2030-01-01', '--not-after', '2029-01-01']).code,
    ).toBe(2);
    expect(issue('EAR-3', ['--destination', 'DE', '--max-releases', '-1']).code).toBe(2);
    expect(readFileSync(licensesFile, 'utf8')).toBe(before);
  });

  it('allows a holder not registered yet, with a warning', () => {
    const r = ms([
      'license',
      'issue',
      'EAR-4',
      '--holder',
      'later-co',
      '--model',
      model,
      '--destination',
      'FR',
      '--data',
      data,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('later-co is not a registered recipient yet');
  });

  it('lists and revokes', () => {
    const ids = () =>
      ms(['--json', 'license', 'list', '--data', data])
        .json()
        .licenses.map((l: { id: string }) => l.id);
    expect(ids()).toEqual(['EAR-1', 'EAR-2', 'EAR-4']);
    expect(ms(['license', 'revoke', 'EAR-2', '--data', data]).code).toBe(0);
    expect(ids()).toEqual(['EAR-1', 'EAR-4']);
    const again = ms(['license', 'revoke', 'EAR-2', '--data', data]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('no license EAR-2');
  });

  it('a running service picks a new license up through its policy watcher (seal --license asks it)', async () => {
    const served = await serveCli(keys, dir, data);
    try {
      const sealWith = (id: string) =>
        ms([
          'seal',
          sample,
          '--to',
          `release:${served.url}#acme-labs`,
          '--license',
          id,
          '-o',
          join(dir, `${id}.mseal`),
        ]);
      const before = sealWith('EAR-LATE');
      expect(before.code).toBe(18); // LICENSE_NOT_COVERED: the service knows no such license yet
      expect(issue('EAR-LATE', ['--destination', 'DE']).code).toBe(0);
      // The set now on disk, as its hash is logged: the service has it in force once /v1/info says so.
      const files = Object.fromEntries(
        Object.entries(POLICY_FILES).map(([k, f]) => [k, readFileSync(join(data, 'policy', f), 'utf8')]),
      ) as PolicyFileTexts;
      await policyInForce(served.url, policySetHash(files));
      const after = sealWith('EAR-LATE');
      expect(after.code, after.stderr).toBe(0);
    } finally {
      served.stop();
    }
  }, 30_000);

  it('--help shows an example', () => {
    expect(ms(['license', 'issue', '--help']).stdout).toContain('modelseal license issue EAR-2026-0042 --holder');
  });
});
