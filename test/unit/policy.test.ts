import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isModelsealError } from '../../src/errors.js';
import {
  initPolicyDir,
  PolicyEngine,
  POLICY_FILES,
  type License,
  type ReleaseQuestion,
  type ScreeningAnswer,
} from '../../src/policy/engine.js';
import { Decider } from '../../src/server/decider.js';
import { newEphemeral, unwrapFromService } from '../../src/release/response.js';
import { tempDir } from '../support/fixtures.js';

const root = tempDir('modelseal-policy-');
let n = 0;
const ARTIFACT = `sha256:${'ab'.repeat(32)}`;
const license: License = {
  id: 'EAR-2026-0042',
  holder: 'acme-labs',
  artifacts: [ARTIFACT],
  destinations: ['DE', 'FR', 'IR'],
  notBefore: '2026-01-01T00:00:00Z',
  notAfter: '2027-01-01T00:00:00Z',
  maxReleases: 3,
};

async function policyDir(edit?: (dir: string) => void) {
  const dir = join(root, `p${n++}`);
  await initPolicyDir(dir);
  writeFileSync(join(dir, POLICY_FILES.licenses), JSON.stringify({ licenses: [license] }));
  edit?.(dir);
  return dir;
}

const HIT: ScreeningAnswer = { decision: 'hit', lists: [`sdn@sha256:${'0'.repeat(64)}`], stale: [] };

const question = (over: Partial<ReleaseQuestion> = {}): ReleaseQuestion => ({
  recipient: { name: 'acme-labs', org: 'Acme Labs GmbH', country: 'DE', nationality: 'DE', nationalities: ['DE'] },
  artifact: ARTIFACT,
  license,
  used: 0,
  destination: 'DE',
  time: new Date('2026-06-01T00:00:00Z'),
  package: 'p'.repeat(64),
  ...over,
});

async function expectInvalid(dir: string, pattern: RegExp) {
  let err: unknown;
  try {
    await PolicyEngine.load(dir);
  } catch (e) {
    err = e;
  }
  expect(isModelsealError(err, 'POLICY_INVALID'), String(err)).toBe(true);
  expect((err as Error).message).toMatch(pattern);
}

describe('release policy (Cedar)', () => {
  it('loads the defaults: named policies, a hash over every file', async () => {
    const engine = await PolicyEngine.load(await policyDir());
    // Cedar hands the policies back in an order of its own.
    expect([...engine.policyIds].sort()).toEqual(
      [
        'licensed-release',
        'license-not-yet-valid',
        'license-expired',
        'license-quota-used',
        'destination-not-licensed',
        'embargoed-destination',
        'screening-hit',
        'screening-review',
        'screening-list-stale',
        'deemed-export-embargoed',
        'deemed-export-not-licensed',
        'observed-embargoed',
        'observed-destination-mismatch',
        'license-required',
        'licensed-inference',
        'no-license',
        'tier-not-licensed',
        'extraction-risk',
      ].sort(),
    );
    expect(engine.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(engine.license(license.id)).toEqual(license);
    const other = await PolicyEngine.load(
      await policyDir((d) => writeFileSync(join(d, POLICY_FILES.embargoes), '{"destinations":["KP"]}')),
    );
    expect(other.hash).not.toBe(engine.hash);
  });

  it('allows a licensed release and names the permit', async () => {
    const engine = await PolicyEngine.load(await policyDir());
    expect(engine.decide(question())).toEqual({
      decision: 'allow',
      policies: ['licensed-release'],
      reason: 'licensed',
      errors: [],
    });
  });

  it('denies each case with its own reason', async () => {
    const clean = await PolicyEngine.load(await policyDir());
    const cases: [Partial<ReleaseQuestion>, string, PolicyEngine?][] = [
      [{ time: new Date('2025-12-31T23:59:59Z') }, 'license-not-yet-valid', clean],
      [{ time: new Date('2027-01-01T00:00:00Z') }, 'license-expired', clean],
      [{ used: 3 }, 'license-quota-used', clean],
      [{ destination: 'US' }, 'destination-not-licensed', clean],
      [{ destination: 'IR' }, 'embargoed-destination', clean], // licensed, but embargoed
      [{ screening: HIT }, 'screening-hit', clean],
      [
        { recipient: { name: 'someone-else', org: 'X', country: 'DE', nationality: 'DE', nationalities: ['DE'] } },
        'no-permit',
        clean,
      ],
      [{ artifact: `sha256:${'cd'.repeat(32)}` }, 'no-permit', clean],
    ];
    for (const [over, reason, e] of cases) {
      const d = e!.decide(question(over));
      expect({ over, decision: d.decision, reason: d.reason }).toEqual({ over, decision: 'deny', reason });
    }
    // Several forbids: all are named.
    expect(clean.decide(question({ destination: 'KP', used: 9 })).policies.sort()).toEqual([
      'destination-not-licensed',
      'embargoed-destination',
      'license-quota-used',
    ]);
  });

  it('geofences: the observed country is embargoed, or known and not the destination; unknown is allowed', async () => {
    const clean = await PolicyEngine.load(await policyDir());
    const seen = (country: string, network = '') => ({
      observed: { country, network, database: 'sha256:db', ageDays: 40, stale: true },
    });
    const reasons = (over: Partial<ReleaseQuestion>) => clean.decide(question(over)).reason;
    expect(reasons(seen('DE'))).toBe('licensed');
    expect(reasons(seen(''))).toBe('licensed');
    expect(reasons({})).toBe('licensed');
    expect(reasons(seen('', 'anonymizer'))).toBe('licensed');
    expect(reasons(seen('US'))).toBe('observed-destination-mismatch');
    expect(reasons(seen('KP'))).toBe('observed-embargoed');
    expect(reasons({ ...seen('IR'), destination: 'IR' })).toBe('embargoed-destination,observed-embargoed');
    // The context carries the database's digest, age and staleness for policies of the operator's.
    const { context } = clean.request(question(seen('US', 'hosting')));
    expect(context).toMatchObject({
      observedCountry: 'US',
      observedEmbargoed: false,
      observedNetwork: 'hosting',
      geoDatabase: 'sha256:db',
      geoAgeDays: 40,
      geoStale: true,
    });
  });

  it('refuses policy files that do not validate, saying why', async () => {
    await expectInvalid(
      await policyDir((d) => writeFileSync(join(d, POLICY_FILES.policies), 'permit (principal, action, resource);')),
      /every policy needs a name, @id/,
    );
    await expectInvalid(
      await policyDir((d) =>
        writeFileSync(
          join(d, POLICY_FILES.policies),
          '@id("a") permit (principal, action, resource) when { context.nosuch == 1 };',
        ),
      ),
      /do not validate against schema.cedarschema: a: /,
    );
    await expectInvalid(
      await policyDir((d) =>
        writeFileSync(
          join(d, POLICY_FILES.policies),
          '@id("a") permit (principal, action, resource);\n@id("a") forbid (principal, action, resource);',
        ),
      ),
      /two policies are named "a"/,
    );
    await expectInvalid(
      await policyDir((d) =>
        writeFileSync(join(d, POLICY_FILES.policies), '@id("a") permit (principal, action, resource'),
      ),
      /does not parse/,
    );
    await expectInvalid(
      await policyDir((d) =>
        writeFileSync(
          join(d, POLICY_FILES.licenses),
          JSON.stringify({ licenses: [{ ...license, destinations: ['Germany'] }] }),
        ),
      ),
      /ISO 3166/,
    );
    await expectInvalid(
      await policyDir((d) =>
        writeFileSync(join(d, POLICY_FILES.licenses), JSON.stringify({ licenses: [license, license] })),
      ),
      /listed twice/,
    );
    await expectInvalid(
      await policyDir((d) => writeFileSync(join(d, POLICY_FILES.embargoes), '["IR"]')),
      /embargoes.json/,
    );
  });

  it('writes the defaults only where files are missing', async () => {
    const dir = await policyDir();
    const before = readFileSync(join(dir, POLICY_FILES.licenses), 'utf8');
    expect(await initPolicyDir(dir)).toEqual([]);
    expect(readFileSync(join(dir, POLICY_FILES.licenses), 'utf8')).toBe(before);
  });
});

describe('the decider: the policy decision and the wrapped key, on a worker thread', () => {
  const dek = new Uint8Array(32).fill(7);
  const cases: Partial<ReleaseQuestion>[] = [
    {},
    { used: 3 },
    { destination: 'IR' },
    { time: new Date('2027-01-01T00:00:00Z') },
    { artifact: `sha256:${'cd'.repeat(32)}` },
    { destination: 'KP', used: 9 },
  ];

  it('answers as the engine does, and wraps the key only on allow', async () => {
    const engine = await PolicyEngine.load(await policyDir());
    const decider = new Decider();
    try {
      for (const over of cases) {
        const eph = newEphemeral();
        const a = await decider.decide(engine, question(over), { dek, ephemeral: eph.public, request: 'req-1' });
        expect({ over, decision: a.decision }).toEqual({ over, decision: engine.decide(question(over)) });
        if (a.decision.decision === 'allow') expect(unwrapFromService(a.key!, eph, 'req-1')).toEqual(dek);
        else expect(a.key).toBeUndefined();
      }
      // The caller's key is neither zeroed nor detached: the worker got a copy.
      expect(dek).toEqual(new Uint8Array(32).fill(7));
      // The same answers on the calling thread.
      const inline = new Decider({ thread: false });
      const eph = newEphemeral();
      const a = await inline.decide(engine, question(), { dek, ephemeral: eph.public, request: 'req-2' });
      expect(a.decision.decision).toBe('allow');
      expect(unwrapFromService(a.key!, eph, 'req-2')).toEqual(dek);
    } finally {
      await decider.close();
    }
  });

  it('gives no key for an unusable ephemeral key (a low-order point), on either thread', async () => {
    const engine = await PolicyEngine.load(await policyDir());
    const decider = new Decider();
    try {
      const zero = Buffer.alloc(32).toString('base64url');
      for (const d of [decider, new Decider({ thread: false })]) {
        const a = await d.decide(engine, question(), { dek, ephemeral: zero, request: 'req-3' });
        expect(a.decision.decision).toBe('allow');
        expect(a.key).toBeUndefined();
      }
    } finally {
      await decider.close();
    }
  });

  it('prepares each edited policy set on the worker, and denies what a closed worker owed', async () => {
    const clean = await PolicyEngine.load(await policyDir());
    const screened = await PolicyEngine.load(
      await policyDir((d) => writeFileSync(join(d, POLICY_FILES.embargoes), '{"destinations":["KP"]}')),
    );
    const decider = new Decider();
    const wrap = { dek, ephemeral: newEphemeral().public, request: 'req-4' };
    expect((await decider.decide(clean, question(), wrap)).decision.reason).toBe('licensed');
    expect((await decider.decide(screened, question({ screening: HIT }), wrap)).decision.reason).toBe('screening-hit');
    const owed = decider.decide(clean, question(), wrap);
    await decider.close();
    expect((await owed).decision).toMatchObject({
      decision: 'deny',
      reason: 'evaluation-error',
      errors: ['the decider was closed'],
    });
    // The next question starts a new worker, which prepares the policies again.
    expect((await decider.decide(screened, question({ screening: HIT }), wrap)).decision.reason).toBe('screening-hit');
    await decider.close();
  });
});
