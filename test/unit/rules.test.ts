/**
 * Rule packs (issue 20, "Rule packs"): the shipped packs validate; determine() picks the pack in
 * force on a date, or exactly the named ones; the determinations the issue asks for hold; a custom
 * pack is just a file; an invalid one is RULES_INVALID naming its field.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  determine,
  licenseRequiredFor,
  isModelsealError,
  loadRulePackFile,
  shippedRulePacks,
  statusAt,
  type ModelFacts,
} from '../../src/index.js';
import { compareDecimal, parseDecimal } from '../../src/compliance/rules/decimal.js';
import { tempDir } from '../support/fixtures.js';

const dir = tempDir('modelseal-rules-');
/** A pack file's JSON as a test edits it. */
type Editable = any; // eslint-disable-line @typescript-eslint/no-explicit-any -- each edit reaches its own field
const NOW = new Date('2026-01-10T00:00:00Z');

/** Facts of a model with `flops` declared (null: none) and the weights status. */
function facts(flops: string | null, weights: ModelFacts['weights'] = 'closed'): ModelFacts {
  return {
    parameters: 7_000_000_000,
    tensors: 291,
    dtypes: { BF16: 7_000_000_000 },
    format: 'safetensors',
    architecture: null,
    configParameters: null,
    trainingCompute: flops === null ? null : { flops, method: 'declared', tokens: null },
    weights,
  };
}

async function regime(f: ModelFacts, name: string, opts: Parameters<typeof determine>[1] = {}) {
  const r = await determine(f, { at: NOW, ...opts });
  const d = r.determinations.find((x) => x.regime === name);
  if (!d) throw new Error(`no ${name} determination in ${JSON.stringify(r)}`);
  return d;
}

/** A copy of a shipped pack file with `edit` applied, written to a temporary file. */
function packFile(name: string, edit: (p: Editable) => void): string {
  const p: Editable = JSON.parse(readFileSync(join('rules', name), 'utf8'));
  edit(p);
  const file = join(dir, `${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(p));
  return file;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('resolved, expected a rejection');
    },
    (e: unknown) => e,
  );
}

describe('shipped rule packs', () => {
  it('validate, one per regime, each with its citations and a status history', () => {
    const packs = shippedRulePacks();
    expect(packs.map((p) => `${p.id}@${p.date}`).sort()).toEqual([
      'eu-ai-act-2024-1689@2024-07-12',
      'eu-dual-use-2025-2003@2025-11-14',
      'us-ear-ai-diffusion@2025-01-15',
    ]);
    for (const p of packs) {
      expect(p.citations.length, p.id).toBeGreaterThan(0);
      expect(p.status, p.id).toBe(p.statusHistory.at(-1)!.status);
    }
  });

  it('the AI Diffusion pack records its enforcement status as it changed', () => {
    const ear = shippedRulePacks().find((p) => p.regime === 'US-EAR')!;
    expect(ear.effective).toBe('2025-01-13');
    expect(ear.citations[0]).toContain('90 FR 4544');
    expect(statusAt(ear, '2025-03-01')).toBe('in-force');
    expect(statusAt(ear, '2025-05-13')).toBe('not-enforced');
    expect(ear.status).toBe('not-enforced');
  });
});

describe('US EAR: ECCN 4E091', () => {
  it('2e26 operations and closed weights are 4E091, not enforced', async () => {
    const d = await regime(facts('2e26'), 'US-EAR');
    expect(d).toMatchObject({
      classification: '4E091',
      status: 'not-enforced',
      rulePack: 'us-ear-ai-diffusion@2025-01-15',
    });
    expect(d.reasons).toContain('trained with 2e26 operations, more than 1e26');
    expect(d.citations.some((c) => c.includes('90 FR 4544'))).toBe(true);
    expect(d.licenseRequired).toBeNull(); // no destination asked about
  });

  it('1e25 closed is EAR99; the threshold is compared exactly (10^26 itself is not more than 10^26)', async () => {
    expect((await regime(facts('1e25'), 'US-EAR')).classification).toBe('EAR99');
    expect((await regime(facts('100000000000000000000000000'), 'US-EAR')).classification).toBe('EAR99');
    expect((await regime(facts('100000000000000000000000001'), 'US-EAR')).classification).toBe('4E091');
  });

  it('open weights are excluded whatever the compute, even when it is not given', async () => {
    for (const flops of ['2e26', null]) {
      const d = await regime(facts(flops, 'open'), 'US-EAR');
      expect(d.classification).toBe('not-subject-to-EAR');
      expect(d.reasons.join('\n')).toContain('734.7(a)');
    }
  });

  it('without compute, closed weights are undetermined: needs-training-compute, no guess', async () => {
    const d = await regime(facts(null), 'US-EAR');
    expect(d).toMatchObject({
      classification: 'undetermined',
      status: 'needs-training-compute',
      licenseRequired: null,
    });
  });

  it('without the weights status, 2e26 is undetermined: needs-weights-status', async () => {
    const d = await regime(facts('2e26', 'unknown'), 'US-EAR');
    expect(d).toMatchObject({ classification: 'undetermined', status: 'needs-weights-status' });
  });

  it('destination CN needs a license; GB may use AIA; US is no export', async () => {
    expect(await regime(facts('2e26'), 'US-EAR', { destination: 'CN' })).toMatchObject({
      licenseRequired: true,
      licenseExceptions: [],
    });
    expect(await regime(facts('2e26'), 'US-EAR', { destination: 'gb' })).toMatchObject({
      licenseRequired: true,
      licenseExceptions: ['AIA'],
    });
    expect((await regime(facts('2e26'), 'US-EAR', { destination: 'US' })).licenseRequired).toBe(false);
    expect((await regime(facts('2e26'), 'US-EAR', { destination: 'BR' })).licenseRequired).toBe(true);
  });

  it('EAR99 needs a license only to embargoed destinations (E:1, E:2: country groups as data)', async () => {
    expect((await regime(facts('1e25'), 'US-EAR', { destination: 'CN' })).licenseRequired).toBe(false);
    expect((await regime(facts('1e25'), 'US-EAR', { destination: 'CU' })).licenseRequired).toBe(true);
    expect((await regime(facts('1e25', 'open'), 'US-EAR', { destination: 'IR' })).licenseRequired).toBe(false);
  });
});

describe('EU regimes', () => {
  it('EU AI Act: 2e25 is gpai-systemic-risk with its obligations, 5e24 is gpai, none is undetermined', async () => {
    const high = await regime(facts('2e25'), 'EU-AI-Act', { destination: 'CN' });
    expect(high).toMatchObject({ classification: 'gpai-systemic-risk', status: 'in-force', licenseRequired: null });
    expect(high.reasons.join('\n')).toMatch(/Article 55/);
    // Art. 51(2): "greater than 10^25", compared exactly
    expect((await regime(facts('1e25'), 'EU-AI-Act')).classification).toBe('gpai');
    expect((await regime(facts('10000000000000000000000001'), 'EU-AI-Act')).classification).toBe('gpai-systemic-risk');
    expect((await regime(facts('5e24'), 'EU-AI-Act')).classification).toBe('gpai');
    expect((await regime(facts(null), 'EU-AI-Act')).status).toBe('needs-training-compute');
  });

  it('EU dual-use: always not-listed, with the catch-all as a reason', async () => {
    for (const f of [facts('2e26'), facts(null, 'unknown'), facts('1e20', 'open')]) {
      const d = await regime(f, 'EU-dual-use', { destination: 'CN' });
      expect(d).toMatchObject({ classification: 'not-listed', status: 'in-force', licenseRequired: false });
      expect(d.citations.join('\n')).toContain('2025/2003');
      expect(d.reasons.join('\n')).toContain('Articles 4 and 5');
    }
  });
});

describe('dates and named packs', () => {
  it('on a date before a pack is effective, that pack is not used', async () => {
    const r = await determine(facts('2e26'), { at: new Date('2024-12-01T00:00:00Z') });
    expect(r.rulePacks).toEqual(['eu-ai-act-2024-1689@2024-07-12']);
    expect(r.determinations.map((d) => d.regime)).toEqual(['EU-AI-Act']);
    const before = await determine(facts('2e26'), { at: new Date('2024-07-31T12:00:00Z') });
    expect(before.rulePacks).toEqual([]);
  });

  it('the status is the one of the date asked about', async () => {
    const d = await regime(facts('2e26'), 'US-EAR', { at: new Date('2025-03-01T00:00:00Z') });
    expect(d).toMatchObject({ classification: '4E091', status: 'in-force' });
    expect((await regime(facts('2e25'), 'EU-AI-Act', { at: new Date('2025-03-01T00:00:00Z') })).status).toBe(
      'not-yet-applicable',
    );
  });

  it('rules: ["<id>@<date>"] re-runs under exactly that pack, whatever the date', async () => {
    const r = await determine(facts('2e26'), {
      at: new Date('2020-01-01T00:00:00Z'),
      rules: ['us-ear-ai-diffusion@2025-01-15'],
    });
    expect(r.rulePacks).toEqual(['us-ear-ai-diffusion@2025-01-15']);
    expect(r.determinations[0]!.classification).toBe('4E091');
    await expect(determine(facts('2e26'), { rules: ['us-ear-ai-diffusion@2024-01-01'] })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });

  it('a newer pack is a new file: it supersedes the old one from its effective date, and old dates keep the old one', async () => {
    const newer = packFile('us-ear-ai-diffusion-2025-01-15.json', (p) => {
      p.id = 'us-ear-ai-diffusion';
      p.date = '2026-06-01';
      p.effective = '2026-06-01';
      p.rules[0].when[0].value = '1e27';
    });
    const packs = [newer, 'us-ear-ai-diffusion@2025-01-15'];
    const r = await determine(facts('2e26'), { rules: packs });
    expect(r.determinations.map((d) => [d.rulePack, d.classification])).toEqual([
      ['us-ear-ai-diffusion@2026-06-01', 'EAR99'],
      ['us-ear-ai-diffusion@2025-01-15', '4E091'],
    ]);
  });
});

describe('custom and invalid packs', () => {
  it('a custom pack file with its own groups and conditions needs no code', async () => {
    const file = packFile('eu-dual-use-2025-2003.json', (p) => {
      p.id = 'acme-internal';
      p.date = '2026-01-01';
      p.effective = '2026-01-01';
      p.groups = { NORDIC: ['DK', 'FI', 'IS', 'NO', 'SE'] };
      p.rules = [
        {
          when: [{ fact: 'parameters', op: '>=', value: '1e9', ifTrue: '{value} parameters, at least {threshold}' }],
          classification: 'acme-large',
          reasons: [],
          license: {
            default: { required: true, exceptions: [], reason: 'outside the Nordics' },
            destinations: [{ groups: ['NORDIC'], required: false, exceptions: [], reason: '{destination} is Nordic' }],
          },
        },
        { when: [], classification: 'acme-small', reasons: [], license: null },
      ];
    });
    const r = await determine(facts(null), { rules: [file], destination: 'NO' });
    expect(r.determinations).toEqual([
      expect.objectContaining({
        rulePack: 'acme-internal@2026-01-01',
        classification: 'acme-large',
        licenseRequired: false,
        reasons: ['7000000000 parameters, at least 1e9', 'NO is Nordic'],
      }),
    ]);
  });

  it.each([
    ['schema', (p: Editable) => (p.schema = 'other/1')],
    ['effective', (p: Editable) => (p.effective = '13 Jan 2025')],
    ['end', (p: Editable) => (p.end = '2024-01-01')],
    ['regime', (p: Editable) => (p.regime = 'UK-export')],
    ['status', (p: Editable) => (p.status = 'in-force')],
    ['statusHistory[1].date', (p: Editable) => (p.statusHistory[1].date = '2025-01-01')],
    ['rules[0].when[0].op', (p: Editable) => (p.rules[0].when[0].op = '==')],
    ['rules[0].when[0].value', (p: Editable) => (p.rules[0].when[0].value = '10^26')],
    ['rules[0].when[1].fact', (p: Editable) => (p.rules[0].when[1].fact = 'weightsStatus')],
    ['rules[0].license.destinations[2].groups', (p: Editable) => (p.rules[0].license.destinations[2].groups = ['A:9'])],
    [
      'rules[0].license.destinations[2].exceptions',
      (p: Editable) => (p.rules[0].license.destinations[2].exceptions = ['XYZ']),
    ],
    ['countryGroups', (p: Editable) => (p.countryGroups = 'ear-country-groups@1999-01-01')],
    ['groups.AIA', (p: Editable) => (p.groups.AIA = ['gb'])],
    ['groups.US', (p: Editable) => (p.groups.US = ['US', 'US'])],
  ])('a pack with a bad %s is RULES_INVALID naming that field', async (field, edit) => {
    const file = packFile('us-ear-ai-diffusion-2025-01-15.json', edit);
    const e = await rejection(loadRulePackFile(file));
    expect(isModelsealError(e, 'RULES_INVALID'), String(e)).toBe(true);
    expect((e as Error).message).toContain(`${file}: ${field} `);
    expect((e as { details: { field: string } }).details.field).toBe(field);
  });

  it('a file that is not JSON is RULES_INVALID; a missing one is IO', async () => {
    const file = join(dir, 'broken.json');
    writeFileSync(file, '{"schema": ');
    expect(isModelsealError(await rejection(determine(facts('1'), { rules: [file] })), 'RULES_INVALID')).toBe(true);
    expect(isModelsealError(await rejection(loadRulePackFile(join(dir, 'none.json'))), 'IO')).toBe(true);
  });
});

describe('exact decimals', () => {
  it('compares on digits, not doubles', () => {
    const d = (s: string) => parseDecimal(s)!;
    expect(compareDecimal(d('1e26'), d('100000000000000000000000000'))).toBe(0);
    expect(compareDecimal(d('1e26'), d('100000000000000000000000001'))).toBe(-1);
    expect(compareDecimal(d('2.5E+25'), d('25000000000000000000000000'))).toBe(0);
    expect(compareDecimal(d('1.00000000000000001e26'), d('1e26'))).toBe(1); // equal as doubles
    expect(parseDecimal('-1')).toBeNull();
    expect(parseDecimal('1e')).toBeNull();
  });
});

describe('licenseRequiredFor: what the release service asks of a bound classification', () => {
  const pack = ['us-ear-ai-diffusion@2025-01-15'];
  it('answers from the named US-EAR pack and its country groups', () => {
    expect(licenseRequiredFor('4E091', 'CN', pack)).toBe(true);
    expect(licenseRequiredFor('4E091', 'DE', pack)).toBe(true); // AIA may apply: the license record must cite it
    expect(licenseRequiredFor('4E091', 'US', pack)).toBe(false);
    expect(licenseRequiredFor('EAR99', 'DE', pack)).toBe(false);
    expect(licenseRequiredFor('not-subject-to-EAR', 'CN', pack)).toBe(false);
  });
  it('needs no license without a classification or with an undetermined one, and fails closed on one the pack does not know', () => {
    expect(licenseRequiredFor('', 'CN', pack)).toBe(false);
    expect(licenseRequiredFor('undetermined', 'CN', pack)).toBe(false);
    expect(licenseRequiredFor('9Z999', 'DE', pack)).toBe(true);
  });
  it('uses the shipped pack in force when the record names none this build has', () => {
    expect(licenseRequiredFor('4E091', 'CN', ['custom@2030-01-01'])).toBe(true);
    expect(licenseRequiredFor('4E091', 'US', [])).toBe(false);
  });
});
