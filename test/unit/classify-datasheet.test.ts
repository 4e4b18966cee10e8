/**
 * What classify hands on and writes down: the determinations of the rule packs pass through into
 * the record unchanged, with the destination, date and packs asked for; the Markdown datasheet
 * holds every fact, determination, citation and digest, and is written atomically.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import type { Determination, ModelFacts } from '../../src/format/classification.js';
import type { DetermineOptions } from '../../src/compliance/rules/index.js';
import { tempDir } from '../support/fixtures.js';
import { smallRecord } from '../support/classify.js';

const asked: { facts: ModelFacts; options: DetermineOptions }[] = [];
const DETERMINATION: Determination = {
  regime: 'US-EAR',
  rulePack: 'test-pack@2025-01-15',
  classification: '4E091',
  status: 'not-enforced',
  citations: ['90 FR 4544 (2025-01-15)', '15 CFR 774 Supp. 1, ECCN 4E091'],
  reasons: ['closed weights trained with more than 10^26 operations'],
  licenseRequired: true,
  licenseExceptions: ['AIA'],
};

// The rule packs are another module's work: a stand-in that records what it was asked.
vi.mock('../../src/compliance/rules/index.js', async (importOriginal) => ({
  ...(await importOriginal<object>()),
  determine: (facts: ModelFacts, options: DetermineOptions = {}) => {
    asked.push({ facts, options });
    return Promise.resolve({ rulePacks: ['test-pack@2025-01-15'], determinations: [DETERMINATION] });
  },
}));

// A package whose header carries a record: `seal` binds one in another branch of this work.
const SEALED_DIGESTS = {
  packageId: '01'.repeat(16),
  headerDigest: 'sha256:' + 'e'.repeat(64),
  modelRootDigest: 'sha256:' + 'f'.repeat(64),
};
vi.mock('../../src/compliance/classify/package.js', async (importOriginal) => ({
  ...(await importOriginal<object>()),
  readPackageClassification: () =>
    Promise.resolve({ record: smallRecord({ weights: 'closed' }), digests: SEALED_DIGESTS }),
}));

const { classify, renderDatasheet, writeDatasheet } = await import('../../src/index.js');
const dir = tempDir('modelseal-datasheet-');

describe('determinations', () => {
  it('pass through unchanged, and the rules are asked with the facts, destination, date and packs', async () => {
    const at = new Date('2025-03-01T00:00:00Z');
    const c = await classify('samples/checkpoint', {
      trainingFlops: '2e26',
      weights: 'closed',
      destination: 'CN',
      at,
      rules: ['rules/x.json'],
      now: () => new Date('2025-06-01T12:34:56.789Z'),
    });
    expect(c.record).toMatchObject({
      v: 2,
      time: '2025-06-01T12:34:56Z',
      destination: 'CN',
      rulePacks: ['test-pack@2025-01-15'],
      determinations: [DETERMINATION],
    });
    expect(asked.at(-1)!.facts).toBe(c.record.facts);
    expect(asked.at(-1)!.options).toMatchObject({ destination: 'CN', at, rules: ['rules/x.json'] });
  });
});

describe('a sealed package', () => {
  const pkg = join(tempDir('modelseal-sealed-'), 'm.mseal');
  writeFileSync(pkg, '');

  it('gives its record as sealed, and determines it again only when asked, keeping the sealed one', async () => {
    const before = asked.length;
    const c = await classify(pkg);
    expect(c.record).toEqual(smallRecord({ weights: 'closed' }));
    expect(c.source).toEqual({ kind: 'package', path: pkg, digests: SEALED_DIGESTS });
    expect(asked.length).toBe(before);
    const again = await classify(pkg, { destination: 'CN', now: () => new Date('2026-01-02T03:04:05Z') });
    expect(asked.at(-1)!.facts).toEqual(smallRecord({ weights: 'closed' }).facts);
    expect(again.record).toMatchObject({
      time: '2026-01-02T03:04:05Z',
      destination: 'CN',
      determinations: [DETERMINATION],
      facts: smallRecord({ weights: 'closed' }).facts,
    });
    expect(again.source).toMatchObject({ kind: 'package', sealed: smallRecord({ weights: 'closed' }) });
  });

  it('refuses declared inputs: they belong to the sealed record', async () => {
    for (const [options, flag] of [
      [{ tokens: '1e12' }, '--tokens'],
      [{ trainingFlops: '2e26' }, '--training-flops'],
      [{ weights: 'open' as const }, '--open-weights/--closed-weights'],
    ] as const)
      await expect(classify(pkg, options)).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: expect.stringContaining(`${flag}: a package's classification record keeps the inputs`),
      });
  });
});

describe('the datasheet', () => {
  it('holds the facts, every determination with pack, status, citations and reasons, digests and retention', async () => {
    const c = await classify('samples/checkpoint', { tokens: '1e12', weights: 'closed', destination: 'CN' });
    const md = renderDatasheet(c);
    for (const line of [
      '# Technical datasheet: samples/checkpoint',
      `- Determined: ${c.record.time}`,
      '- Destination: CN',
      '- Rule packs: test-pack@2025-01-15',
      '- Format: safetensors',
      '- Parameters: 876,864 (876864), exact',
      '- Tensors: 21',
      '- Weights: closed',
      `- Training compute: ${6n * 876_864n * 10n ** 12n} operations, estimated as 6·N·D with N = 876864 ` +
        'parameters and D = 1000000000000 tokens',
      '| BF16 | 819,200 |',
      '| F16 | 24,576 |',
      '| F32 | 33,088 |',
      '| model_type | llama |',
      '| num_key_value_heads | 2 |',
      '### US-EAR: 4E091',
      '- Rule pack: test-pack@2025-01-15',
      '- Status: not-enforced',
      '- License: required; exceptions that may apply: AIA',
      '  - 90 FR 4544 (2025-01-15)',
      '  - 15 CFR 774 Supp. 1, ECCN 4E091',
      '  - closed weights trained with more than 10^26 operations',
      '- Model root digest: not computed. Classification reads the headers only',
      'Keep this record for five years from the export it supports (15 CFR 762.6).',
    ])
      expect(md).toContain(line);
  });

  it('for a package: its id, signed-header digest and model root digest', () => {
    const md = renderDatasheet({
      record: smallRecord({ trainingCompute: { flops: '5', method: 'declared', tokens: null } }),
      source: {
        kind: 'package',
        path: 'm.mseal',
        digests: {
          packageId: 'ab'.repeat(16),
          headerDigest: 'sha256:' + 'c'.repeat(64),
          modelRootDigest: 'sha256:' + 'd'.repeat(64),
        },
      },
      configMismatch: null,
    });
    expect(md).toContain(`- Package: m.mseal, id ${'ab'.repeat(16)}, signed header sha256:${'c'.repeat(64)}`);
    expect(md).toContain(`- Model root digest (as sealed): sha256:${'d'.repeat(64)}`);
    expect(md).toContain('No config.json: the architecture is not stated.');
    expect(md).toContain('- Training compute: 5 operations, declared');
  });

  it('is written atomically and refuses to replace a file unless asked', async () => {
    const c = await classify('samples/checkpoint');
    const out = join(dir, 'sheet.md');
    await writeDatasheet(out, c);
    expect(readFileSync(out, 'utf8')).toBe(renderDatasheet(c));
    await expect(writeDatasheet(out, c)).rejects.toMatchObject({ code: 'OUTPUT_EXISTS' });
    await writeDatasheet(out, { ...c, record: { ...c.record, time: '2030-01-01T00:00:00Z' } }, true);
    expect(readFileSync(out, 'utf8')).toContain('- Determined: 2030-01-01T00:00:00Z');
    expect(readdirSync(dir)).toEqual(['sheet.md']);
    expect(existsSync(join(dir, 'sheet.md'))).toBe(true);
  });
});
