/**
 * `recipient issue|register` with several nationalities and citizenships (`--nationality DE,IR` or
 * repeated, `--citizenship`), shown by `recipient list`; the screening options' usage errors; and
 * `policy check` upgrading a policy directory an earlier version wrote.
 */
import { cpSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../support/cli.js';
import { tempDir } from '../support/fixtures.js';

const dir = tempDir('modelseal-cli-nationalities-');
const keys = join(dir, 'keys');
const data = join(dir, 'data');
const ms = cli(keys, dir);

beforeAll(() => {
  const r = ms(['init', '--log-origin', 'nationalities.test/log']);
  if (r.code !== 0) throw new Error(r.stderr);
});

describe('recipients with several nationalities', () => {
  it('issue takes --nationality as a list or repeated, and --citizenship; list shows them together', () => {
    const issued = ms([
      'recipient',
      'issue',
      'dual-co',
      '--data',
      data,
      '--org',
      'Dual Labs GmbH',
      '--country',
      'DE',
      '--nationality',
      'DE,IR',
      '--nationality',
      'FR',
      '--citizenship',
      'CA',
      '-o',
      join(dir, 'dual.identity'),
      '--json',
    ]);
    expect(issued.code, issued.stderr).toBe(0);
    expect(issued.json().recipient).toMatchObject({
      nationality: 'DE',
      nationalities: ['DE', 'IR', 'FR'],
      citizenships: ['CA'],
    });
    const pem = join(dir, 'k.pem');
    writeFileSync(pem, generateKeyPairSync('ed25519').publicKey.export({ format: 'pem', type: 'spki' }));
    const reg = ms(['recipient', 'register', 'none-co', '--data', data, '--org', 'None', '--country', 'FR']);
    expect(reg.code, reg.stderr).toBe(2); // --public-key is required: a usage error
    const none = ms([
      'recipient',
      'register',
      'none-co',
      '--data',
      data,
      '--org',
      'None',
      '--country',
      'FR',
      '--public-key',
      pem,
    ]);
    expect(none.code, none.stderr).toBe(0);
    const list = ms(['recipient', 'list', '--data', data]);
    expect(list.stderr).toMatch(/dual-co\s+Dual Labs GmbH \(DE; nationalities CA,DE,FR,IR\)/);
    expect(list.stderr).toMatch(/none-co\s+None \(FR; nationalities none\)/);
    const json = ms(['recipient', 'list', '--data', data, '--json']).json();
    expect(json.recipients[0]).toMatchObject({ name: 'dual-co', citizenships: ['CA'] });
  });

  it('a code that is not ISO 3166 alpha-2, or --decided-by without an override, is a usage error naming the option', () => {
    const base = ['recipient', 'issue', 'bad-co', '--data', data, '--org', 'Bad', '--country', 'DE'];
    for (const [extra, pattern] of [
      [['--nationality', 'DE,ir'], /--nationality "ir": expected an ISO 3166 alpha-2 code/],
      [['--citizenship', 'IRN'], /--citizenship "IRN": expected an ISO 3166 alpha-2 code/],
      [['--decided-by', 'alice'], /--decided-by names who decided an --override-screening/],
    ] as const) {
      const r = ms([...base, ...extra]);
      expect({ extra, code: r.code }).toEqual({ extra, code: 2 });
      expect(r.stderr).toMatch(pattern);
    }
    expect(readdirSync(join(data, 'recipients')).sort()).toEqual(['dual-co.json', 'none-co.json']);
  });
});

describe('screening at registration, from the CLI', () => {
  // The data directory's lists reach the CLI through openPartyScreening (a placeholder with no lists
  // until the list snapshots are wired): every party is clear here. The refusals and the logged
  // override are tested through the library (test/unit/screening-flow.test.ts).
  it('an override of a clear party has nothing to override: registered as is, and nothing is logged', () => {
    const r = ms([
      'recipient',
      'issue',
      'clear-co',
      '--data',
      data,
      '--org',
      'Clear Co',
      '--country',
      'DE',
      '-o',
      join(dir, 'clear.identity'),
      '--override-screening',
      'not needed',
      '--decided-by',
      'alice',
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().recipient).not.toHaveProperty('screeningOverride');
    expect(existsSync(join(data, 'log'))).toBe(false);
  });
});

describe('policy check on a policy directory an earlier version wrote', () => {
  it('upgrades the default schema and policies, says so, and keeps the old files', () => {
    const policy = join(dir, 'old-policy');
    cpSync('test/fixtures/policy-6f5af8c', policy, { recursive: true });
    const r = ms(['policy', 'check', '--policy-dir', policy, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = r.json();
    expect(out.upgraded.map((u: { file: string }) => u.file)).toEqual([
      join(policy, 'schema.cedarschema'),
      join(policy, 'policies.cedar'),
    ]);
    expect(out.missingDefaults).toEqual([]);
    expect(out.policies).toContain('deemed-export-embargoed');
    const human = ms(['policy', 'check', '--policy-dir', policy]);
    expect(human.code).toBe(0);
    expect(human.stderr).not.toContain('upgraded');
    expect(readdirSync(policy).filter((f) => f.endsWith('.bak'))).toHaveLength(2);
  });
});
