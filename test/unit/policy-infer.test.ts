/**
 * The Cedar `Infer` action (docs/GATE.md, "Decisions"): the default policies decide inference calls
 * as documented, a custom policy written for every action still validates and applies to both, the
 * issue-22 defaults (test/fixtures/policy-6306700) upgrade, and the decider's worker answers Infer
 * questions as the engine does. Also the capability tiers (src/gate/tiers.ts).
 */
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { capabilityTier, tierOfClassification } from '../../src/gate/tiers.js';
import { POLICIES, SCHEMA } from '../../src/policy/defaults.js';
import {
  checkLicense,
  initPolicyDir,
  PolicyEngine,
  POLICY_FILES,
  type InferQuestion,
  type License,
} from '../../src/policy/engine.js';
import { Decider } from '../../src/server/decider.js';
import type { ClassificationRecord } from '../../src/format/classification.js';
import { tempDir } from '../support/fixtures.js';

const root = tempDir('modelseal-infer-policy-');
let n = 0;
const MODEL = `sha256:${'cd'.repeat(32)}`;
const license: License = {
  id: 'INF-1',
  holder: 'acme-labs',
  artifacts: [MODEL],
  destinations: ['DE', 'FR'],
  notBefore: '2026-01-01T00:00:00Z',
  notAfter: '2027-01-01T00:00:00Z',
  maxReleases: 0, // releases used up: does not matter for inference
  tiers: ['general'],
};

async function policyDir(edit?: (dir: string) => void, from?: string) {
  const dir = join(root, `p${n++}`);
  if (from) cpSync(from, dir, { recursive: true });
  else await initPolicyDir(dir);
  writeFileSync(join(dir, POLICY_FILES.licenses), JSON.stringify({ licenses: [license] }));
  edit?.(dir);
  return dir;
}

const question = (over: Partial<InferQuestion> = {}): InferQuestion => ({
  recipient: { name: 'acme-labs', org: 'Acme Labs GmbH', country: 'DE', nationality: 'DE', nationalities: ['DE'] },
  model: { digest: MODEL, name: 'tiny', tier: 'general', parameters: 7_000_000_000n },
  license,
  destination: 'DE',
  time: new Date('2026-06-01T00:00:00Z'),
  endpoint: 'chat.completions',
  application: 'customer-support',
  quotaUsed: 0,
  risk: 0,
  ...over,
});

const observed = (country: string) => ({
  country,
  network: 'residential',
  database: 'sha256:00',
  ageDays: 1,
  stale: false,
});

describe('the Infer action under the default policies', () => {
  it('decides each documented case', async () => {
    const e = await PolicyEngine.load(await policyDir());
    const allowed = e.decideInfer(question());
    expect(allowed).toMatchObject({ decision: 'allow', policies: ['licensed-inference'], errors: [] });
    const cases: [Partial<InferQuestion>, string][] = [
      [{ observed: observed('IR') }, 'observed-embargoed'],
      [{ recipient: { ...question().recipient, nationalities: ['DE', 'KP'] } }, 'deemed-export-embargoed'],
      [{ screening: { decision: 'hit', lists: ['sdn@sha256:00'], stale: [] } }, 'screening-hit'],
      [{ license: null }, 'no-license'],
      [{ license: { ...license, holder: 'someone-else' } }, 'no-license'],
      [{ model: { ...question().model, tier: 'frontier' } }, 'tier-not-licensed'],
      [{ risk: 801 }, 'extraction-risk'],
      [{ destination: 'US' }, 'destination-not-licensed'],
      [{ time: new Date('2027-02-01T00:00:00Z') }, 'license-expired'],
      [
        { classification: { usEar: '4E091', rulePacks: [], licenseRequired: true, licenseRequiredObserved: false } },
        'license-required',
      ],
    ];
    for (const [over, policy] of cases) {
      const d = e.decideInfer(question(over));
      expect(d.decision, `${policy}: ${JSON.stringify(d)}`).toBe('deny');
      expect(d.errors, policy).toEqual([]);
      expect(d.policies, policy).toContain(policy);
    }
    // At the threshold, allowed; the quota state is not a policy matter by default.
    expect(e.decideInfer(question({ risk: 800 })).decision).toBe('allow');
    expect(e.decideInfer(question({ quotaUsed: 1500 })).decision).toBe('allow');
    // A license without tiers covers every tier.
    const { tiers: _t, ...anyTier } = license;
    expect(
      e.decideInfer(question({ license: anyTier, model: { ...question().model, tier: 'frontier' } })).decision,
    ).toBe('allow');
  });

  it('still releases as before: license-quota-used applies to releases only', async () => {
    const e = await PolicyEngine.load(await policyDir());
    const d = e.decide({
      recipient: question().recipient,
      artifact: MODEL,
      license,
      used: 0,
      destination: 'DE',
      time: new Date('2026-06-01T00:00:00Z'),
      package: 'p'.repeat(64),
    });
    expect(d).toMatchObject({ decision: 'deny', policies: ['license-quota-used'] });
  });

  it('picks the license a call runs under: in force first, else the latest not in force, else none', async () => {
    const later = { ...license, id: 'INF-2', notBefore: '2027-01-01T00:00:00Z', notAfter: '2028-01-01T00:00:00Z' };
    const e = await PolicyEngine.load(
      await policyDir((d) =>
        writeFileSync(join(d, POLICY_FILES.licenses), JSON.stringify({ licenses: [license, later] })),
      ),
    );
    expect(e.licenseFor('acme-labs', MODEL, new Date('2026-06-01T00:00:00Z'))?.id).toBe('INF-1');
    expect(e.licenseFor('acme-labs', MODEL, new Date('2027-06-01T00:00:00Z'))?.id).toBe('INF-2');
    expect(e.licenseFor('acme-labs', MODEL, new Date('2029-01-01T00:00:00Z'))?.id).toBe('INF-2');
    expect(e.licenseFor('acme-labs', `sha256:${'00'.repeat(32)}`, new Date())).toBeNull();
    expect(e.licenseFor('other', MODEL, new Date('2026-06-01T00:00:00Z'))).toBeNull();
  });

  it('validates a custom policy written for every action, and applies it to inference too', async () => {
    const custom = `${POLICIES}
@id("no-france-after-ten")
forbid (principal, action, resource)
when { context.license.used >= 10 || context.destination == "FR" };
`;
    const e = await PolicyEngine.load(await policyDir((d) => writeFileSync(join(d, POLICY_FILES.policies), custom)));
    expect(e.decideInfer(question()).decision).toBe('allow');
    expect(e.decideInfer(question({ destination: 'FR' })).policies).toEqual(['no-france-after-ten']);
    // A policy about Infer's own attributes validates when scoped to Infer, and is refused unscoped.
    const scoped = `${POLICIES}
@id("no-embeddings") forbid (principal, action == Modelseal::Action::"Infer", resource)
when { context.endpoint == "embeddings" };
`;
    const s = await PolicyEngine.load(await policyDir((d) => writeFileSync(join(d, POLICY_FILES.policies), scoped)));
    expect(s.decideInfer(question({ endpoint: 'embeddings' })).policies).toEqual(['no-embeddings']);
    const unscoped = `${POLICIES}
@id("no-embeddings") forbid (principal, action, resource) when { context.endpoint == "embeddings" };
`;
    await expect(
      PolicyEngine.load(await policyDir((d) => writeFileSync(join(d, POLICY_FILES.policies), unscoped))),
    ).rejects.toMatchObject({ code: 'POLICY_INVALID' });
  });

  it('upgrades the issue-22 default schema and policies, after which Infer is decided', async () => {
    const dir = await policyDir(undefined, 'test/fixtures/policy-6306700');
    const e = await PolicyEngine.load(dir);
    expect(e.upgrade.replaced.map((r) => r.file)).toEqual([
      join(dir, POLICY_FILES.schema),
      join(dir, POLICY_FILES.policies),
    ]);
    expect(readFileSync(join(dir, POLICY_FILES.schema), 'utf8')).toBe(SCHEMA);
    expect(readFileSync(join(dir, POLICY_FILES.policies), 'utf8')).toBe(POLICIES);
    expect(e.decideInfer(question()).decision).toBe('allow');
    expect(e.missingDefaults).toEqual([]);
  });

  it('refuses a schema changed by hand that lacks an action, naming the attributes of that action', async () => {
    const release = SCHEMA.indexOf('  action release appliesTo');
    const infer = SCHEMA.indexOf('  action Infer appliesTo');
    const end = SCHEMA.lastIndexOf('}\n');
    const noInfer = SCHEMA.slice(0, infer) + SCHEMA.slice(end);
    const noRelease = SCHEMA.slice(0, release) + SCHEMA.slice(infer);
    for (const [schema, lacks] of [
      [noInfer, 'Infer context.endpoint'],
      [noRelease, 'context.license'],
    ] as const) {
      const dir = await policyDir((d) => writeFileSync(join(d, POLICY_FILES.schema), schema));
      const err = await PolicyEngine.load(dir).catch((e: unknown) => e);
      expect(err, lacks).toMatchObject({ code: 'POLICY_INVALID' });
      expect((err as { details: { lacks: string[] } }).details.lacks).toContain(lacks);
    }
  });

  it('the decider thread answers Infer questions as the engine does', async () => {
    const e = await PolicyEngine.load(await policyDir());
    const decider = new Decider();
    try {
      for (const q of [question(), question({ risk: 900 }), question({ license: null })])
        expect(await decider.decideInfer(e, q)).toEqual(e.decideInfer(q));
    } finally {
      await decider.close();
    }
    expect(await new Decider({ thread: false }).decideInfer(e, question())).toEqual(e.decideInfer(question()));
  });

  it('decides a question once while its facts stand, and anew when any of them changes', async () => {
    const e = await PolicyEngine.load(await policyDir());
    const decider = new Decider({ thread: false });
    const engine = await PolicyEngine.load(await policyDir());
    const evaluations = vi.spyOn(engine, 'decideInfer');
    const evaluated = () => evaluations.mock.calls.length;
    const t = new Date('2026-12-05T12:00:00.250Z');
    const first = await decider.decideInfer(engine, question({ time: t }));
    first.policies.push('changed by the caller'); // an answer is the caller's own copy
    expect(await decider.decideInfer(engine, question({ time: new Date('2026-12-05T12:00:00.900Z') }))).toEqual(
      e.decideInfer(question({ time: t })),
    );
    expect(evaluated()).toBe(1); // the same request: the same second, quota use, risk, entities
    for (const q of [
      question({ time: new Date('2026-12-05T12:00:01Z') }),
      question({ time: t, risk: 900 }),
      question({ time: t, quotaUsed: 10 }),
      question({ time: t, license: null }),
    ])
      expect(await decider.decideInfer(engine, q)).toEqual(e.decideInfer(q));
    expect(evaluated()).toBe(5);
  });

  it('covers a model served without its package when the license names it "model:<name>"', async () => {
    const byName = { ...license, id: 'INF-NAME', artifacts: ['model:tiny'] };
    const e = await PolicyEngine.load(
      await policyDir((d) => writeFileSync(join(d, POLICY_FILES.licenses), JSON.stringify({ licenses: [byName] }))),
    );
    const model = { digest: 'model:tiny', name: 'tiny', tier: 'general', parameters: 0n };
    expect(e.licenseFor('acme-labs', 'model:tiny', new Date('2026-06-01T00:00:00Z'))?.id).toBe('INF-NAME');
    expect(e.decideInfer(question({ model, license: byName })).decision).toBe('allow');
    expect(e.decideInfer(question({ model: { ...model, digest: 'model:other' }, license: byName })).policies).toContain(
      'no-license',
    );
    for (const bad of ['model:', 'model:has space', 'sha256:ab'])
      expect(() => checkLicense({ ...license, artifacts: [bad] }, 'l'), bad).toThrow(/"artifacts"/);
  });

  it("checks a license's tiers", () => {
    expect(checkLicense(license, 'l').tiers).toEqual(['general']);
    expect(() => checkLicense({ ...license, tiers: [] }, 'l')).toThrow(/"tiers"/);
    expect(() => checkLicense({ ...license, tiers: ['General Purpose'] }, 'l')).toThrow(/"tiers"/);
    expect(() => checkLicense({ ...license, tiers: 'general' }, 'l')).toThrow(/"tiers"/);
  });
});

describe('capability tiers', () => {
  it('derive from US EAR, EU AI Act and parameters, first rule first', () => {
    expect(capabilityTier(null)).toBe('unclassified');
    expect(capabilityTier({ usEar: '4E091', aiAct: 'gpai-systemic-risk', parameters: 10n })).toBe('frontier');
    expect(capabilityTier({ usEar: 'EAR99', aiAct: 'gpai-systemic-risk', parameters: 10n })).toBe('systemic');
    expect(capabilityTier({ usEar: 'EAR99', aiAct: 'gpai', parameters: 1_000_000_000 })).toBe('general');
    expect(capabilityTier({ usEar: '', aiAct: 'gpai', parameters: 999_999_999n })).toBe('limited');
    const record = {
      facts: { parameters: 8_000_000_000 },
      determinations: [
        { regime: 'US-EAR', classification: 'EAR99' },
        { regime: 'EU-AI-Act', classification: 'gpai' },
        { regime: 'EU-AI-Act', classification: 'gpai-systemic-risk' },
      ],
    } as unknown as ClassificationRecord;
    expect(tierOfClassification(record)).toBe('systemic');
    expect(tierOfClassification(null)).toBe('unclassified');
  });
});
