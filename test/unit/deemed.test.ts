/**
 * Deemed exports: a recipient's nationalities and citizenships reach the policy, an embargoed one
 * denies whatever the destination, and a license naming nationalities covers only those. Records
 * written before recipients had several nationalities still read.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isModelsealError } from '../../src/errors.js';
import {
  initPolicyDir,
  PolicyEngine,
  POLICY_FILES,
  type License,
  type ReleaseQuestion,
} from '../../src/policy/engine.js';
import { RecipientRegistry, recipientNationalities } from '../../src/server/recipients.js';
import { tempDir } from '../support/fixtures.js';
import { ARTIFACT, testLicense } from '../support/policy.js';

const root = tempDir('modelseal-deemed-');
let n = 0;
const base: License = testLicense({ id: 'L-ANY' });
const named: License = { ...base, id: 'L-NAMED', nationalities: ['DE', 'FR'] };

async function engineWith(licenses: unknown[] = [base, named], edit?: (dir: string) => void) {
  const dir = join(root, `p${n++}`);
  await initPolicyDir(dir);
  writeFileSync(join(dir, POLICY_FILES.licenses), JSON.stringify({ licenses }));
  edit?.(dir);
  return PolicyEngine.load(dir);
}

const question = (nationalities: string[], license: License = base, destination = 'DE'): ReleaseQuestion => ({
  recipient: {
    name: 'acme-labs',
    org: 'Acme Labs GmbH',
    country: 'DE',
    nationality: nationalities[0] ?? '',
    nationalities,
  },
  artifact: ARTIFACT,
  license,
  used: 0,
  destination,
  time: new Date('2026-06-01T00:00:00Z'),
  package: 'p'.repeat(64),
});

const outcome = (e: PolicyEngine, q: ReleaseQuestion) => {
  const d = e.decide(q);
  return `${d.decision} ${d.reason}`;
};

describe('deemed exports (default policies)', () => {
  it('deny when any nationality or citizenship is embargoed, whatever the destination', async () => {
    const e = await engineWith();
    expect(outcome(e, question(['DE']))).toBe('allow licensed');
    expect(outcome(e, question(['DE', 'IR']))).toBe('deny deemed-export-embargoed');
    expect(outcome(e, question(['KP'], base, 'FR'))).toBe('deny deemed-export-embargoed');
    // An operator's embargo list decides: with IR off it, the same recipient is released.
    const lifted = await engineWith(undefined, (d) =>
      writeFileSync(join(d, POLICY_FILES.embargoes), '{"destinations":["KP"]}'),
    );
    expect(outcome(lifted, question(['DE', 'IR']))).toBe('allow licensed');
  });

  it('a license naming nationalities covers only those; one naming none covers any not embargoed', async () => {
    const e = await engineWith();
    expect(outcome(e, question(['FR'], named))).toBe('allow licensed');
    expect(outcome(e, question(['DE', 'FR'], named))).toBe('allow licensed');
    expect(outcome(e, question(['US'], named))).toBe('deny deemed-export-not-licensed');
    expect(outcome(e, question(['DE', 'US'], named))).toBe('deny deemed-export-not-licensed');
    expect(outcome(e, question(['US'], base))).toBe('allow licensed');
    // Both deny and both are named.
    expect(e.decide(question(['IR'], named)).policies).toEqual([
      'deemed-export-embargoed',
      'deemed-export-not-licensed',
    ]);
  });

  it('licenses.json: "nationalities" must be ISO 3166 alpha-2 codes', async () => {
    for (const bad of [['de'], 'DE', [1], ['DEU']]) {
      const err = await engineWith([{ ...base, nationalities: bad }]).catch((e: unknown) => e);
      expect(isModelsealError(err, 'POLICY_INVALID'), String(err)).toBe(true);
      expect((err as Error).message).toMatch(/entry 0: "nationalities", when given, must be a list of ISO 3166/);
    }
  });

  it('custom policies of earlier versions on principal.nationality still validate: it is the first one', async () => {
    const custom = `@id("licensed-release")
permit (principal, action == Modelseal::Action::"release", resource)
when { context.license.holder == principal && context.license.artifacts.contains(resource.digest) };
@id("no-us-nationals")
forbid (principal, action, resource) when { principal.nationality == "US" };
`;
    const e = await engineWith(undefined, (d) => writeFileSync(join(d, POLICY_FILES.policies), custom));
    expect(outcome(e, question(['US', 'DE']))).toBe('deny no-us-nationals');
    expect(outcome(e, question(['DE', 'US']))).toBe('allow licensed');
  });
});

describe('recipients with several nationalities and citizenships', () => {
  const keyOf = () => generateKeyPairSync('ed25519').publicKey;

  it('are registered checked, once each, and seen together by the policy and the log', async () => {
    const reg = new RecipientRegistry(join(root, 'recipients-a'));
    const r = await reg.register(
      'dual',
      { org: 'Dual Labs', country: 'DE', nationalities: ['DE', 'IR', 'DE'], citizenships: ['CA'] },
      keyOf(),
    );
    expect(r).toMatchObject({ nationality: 'DE', nationalities: ['DE', 'IR'], citizenships: ['CA'] });
    expect(recipientNationalities(r)).toEqual(['CA', 'DE', 'IR']);
    const none = await reg.register('stateless', { org: 'Nobody Ltd', country: 'FR' }, keyOf());
    expect(none).toMatchObject({ nationality: '', nationalities: [], citizenships: [] });
    for (const [attrs, option] of [
      [{ nationalities: ['de'] }, '--nationality "de"'],
      [{ citizenships: ['IRN'] }, '--citizenship "IRN"'],
    ] as const) {
      const err = await reg.register('bad', { org: 'X', country: 'DE', ...attrs }, keyOf()).catch((e: unknown) => e);
      expect(isModelsealError(err, 'INVALID_ARGUMENT')).toBe(true);
      expect((err as Error).message).toContain(option);
    }
  });

  it('a record written with one "nationality" (before issue 19) reads as that one nationality', async () => {
    const dir = join(root, 'recipients-old');
    mkdirSync(dir, { recursive: true });
    const reg = new RecipientRegistry(dir);
    const made = await reg.register('old-co', { org: 'Old Co', country: 'DE', nationality: 'IR' }, keyOf());
    // The file as an earlier modelseal wrote it: no nationalities, no citizenships.
    const { nationalities: _n, citizenships: _c, ...old } = made;
    writeFileSync(join(dir, 'old-co.json'), JSON.stringify(old, null, 2));
    const read = await new RecipientRegistry(dir).get('old-co');
    expect(read).toMatchObject({ nationality: 'IR', nationalities: ['IR'], citizenships: [] });
    expect(JSON.parse(readFileSync(join(dir, 'old-co.json'), 'utf8'))).not.toHaveProperty('nationalities');
  });
});
