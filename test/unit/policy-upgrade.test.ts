/**
 * A policy directory an earlier modelseal wrote (test/fixtures/policy-6f5af8c, byte for byte): its
 * default schema and policies are replaced by the current ones on load, the old kept as .bak; a
 * schema changed by hand is refused naming what it lacks; changed policies are kept and the
 * defaults they lack reported.
 */
import { cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isModelsealError } from '../../src/errors.js';
import { POLICIES, SCHEMA } from '../../src/policy/defaults.js';
import { PolicyEngine, POLICY_FILES, type ReleaseQuestion } from '../../src/policy/engine.js';
import { PolicyWatcher } from '../../src/policy/watcher.js';
import { tempDir } from '../support/fixtures.js';

const OLD = 'test/fixtures/policy-6f5af8c';
const root = tempDir('modelseal-upgrade-');
let n = 0;
const ARTIFACT = `sha256:${'ab'.repeat(32)}`;

/** A copy of the old directory, with one license. */
function oldDir(edit?: (dir: string) => void): string {
  const dir = join(root, `d${n++}`);
  cpSync(OLD, dir, { recursive: true });
  const license = {
    id: 'L',
    holder: 'acme-labs',
    artifacts: [ARTIFACT],
    destinations: ['DE'],
    notBefore: '2026-01-01T00:00:00Z',
    notAfter: '2027-01-01T00:00:00Z',
    maxReleases: 3,
  };
  writeFileSync(join(dir, POLICY_FILES.licenses), JSON.stringify({ licenses: [license] }));
  edit?.(dir);
  return dir;
}

const question = (e: PolicyEngine, nationalities = ['DE']): ReleaseQuestion => ({
  recipient: { name: 'acme-labs', org: 'Acme', country: 'DE', nationality: nationalities[0]!, nationalities },
  artifact: ARTIFACT,
  license: e.license('L')!,
  used: 0,
  destination: 'DE',
  time: new Date('2026-06-01T00:00:00Z'),
  package: 'p'.repeat(64),
});

describe('upgrading a policy directory an earlier modelseal wrote', () => {
  it('replaces the earlier default schema and policies, keeping each old file as a .bak', async () => {
    const dir = oldDir();
    const oldSchema = readFileSync(join(dir, POLICY_FILES.schema), 'utf8');
    const e = await PolicyEngine.load(dir);
    expect(readFileSync(join(dir, POLICY_FILES.schema), 'utf8')).toBe(SCHEMA);
    expect(readFileSync(join(dir, POLICY_FILES.policies), 'utf8')).toBe(POLICIES);
    expect(e.upgrade.replaced.map((r) => r.file)).toEqual([
      join(dir, POLICY_FILES.schema),
      join(dir, POLICY_FILES.policies),
    ]);
    const backups = readdirSync(dir).filter((f) => f.endsWith('.bak'));
    expect(backups).toHaveLength(2);
    expect(readFileSync(e.upgrade.replaced[0]!.backup, 'utf8')).toBe(oldSchema);
    expect(backups.find((f) => f.startsWith('schema.cedarschema.'))).toMatch(
      /^schema\.cedarschema\.\d{4}-\d\d-\d\dT\d{6}Z\.bak$/,
    );
    // The requests the service builds now evaluate, with the new default policies in force.
    expect(e.decide(question(e)).decision).toBe('allow');
    expect(e.decide(question(e, ['DE', 'IR'])).reason).toBe('deemed-export-embargoed');
    expect(e.missingDefaults).toEqual([]);
    // Loaded again: nothing left to upgrade.
    expect((await PolicyEngine.load(dir)).upgrade.replaced).toEqual([]);
  });

  it('a running service sees the upgraded set at once (the watcher loads through the upgrade)', async () => {
    const dir = oldDir();
    const w = await PolicyWatcher.open(dir, () => {}, { trigger: () => () => {} });
    try {
      expect(w.engine.decide(question(w.engine)).decision).toBe('allow');
      expect(readFileSync(join(dir, POLICY_FILES.schema), 'utf8')).toBe(SCHEMA);
    } finally {
      w.close();
    }
  });

  it('keeps changed policies that still validate, and names the default policies they lack', async () => {
    const own = `@id("licensed-release")
permit (principal, action == Modelseal::Action::"release", resource)
when { context.license.holder == principal && context.license.artifacts.contains(resource.digest) };
@id("screening-hit")
forbid (principal, action, resource) when { context.screening != "clear" };
`;
    const dir = oldDir((d) => writeFileSync(join(d, POLICY_FILES.policies), own));
    const e = await PolicyEngine.load(dir);
    expect(readFileSync(join(dir, POLICY_FILES.policies), 'utf8')).toBe(own);
    expect(e.upgrade.replaced.map((r) => r.file)).toEqual([join(dir, POLICY_FILES.schema)]);
    expect(e.missingDefaults).toContain('deemed-export-embargoed');
    expect(e.missingDefaults).toContain('screening-list-stale');
    expect(e.missingDefaults).not.toContain('screening-hit');
  });

  it('refuses a schema changed by hand, naming what it lacks; a reformatted current schema passes', async () => {
    const custom = readFileSync(join(OLD, POLICY_FILES.schema), 'utf8').replace(
      'digest: String',
      'digest: String, x: Long',
    );
    const dir = oldDir((d) => writeFileSync(join(d, POLICY_FILES.schema), custom));
    const err = await PolicyEngine.load(dir).catch((e: unknown) => e);
    expect(isModelsealError(err, 'POLICY_INVALID'), String(err)).toBe(true);
    const msg = (err as Error).message;
    expect(msg).toMatch(/changed by hand/);
    for (const attr of [
      'Recipient.nationalities',
      'context.screeningLists',
      'context.listsStale',
      'License.nationalities',
    ])
      expect(msg).toContain(attr);
    expect(msg).toContain('the requests have no Artifact.x');
    expect(readFileSync(join(dir, POLICY_FILES.schema), 'utf8')).toBe(custom);
    const reformatted = oldDir((d) => writeFileSync(join(d, POLICY_FILES.schema), SCHEMA.replace(/\n\s+/g, '\n')));
    expect((await PolicyEngine.load(reformatted)).upgrade.replaced.map((r) => r.file)).toEqual([
      join(reformatted, POLICY_FILES.policies),
    ]);
  });

  it('no longer reads denied-parties.json: the policy-set hash does not cover it', async () => {
    const dir = oldDir();
    const before = (await PolicyEngine.load(dir)).hash;
    writeFileSync(join(dir, 'denied-parties.json'), '{"parties":["Evil Corp"]}');
    expect((await PolicyEngine.load(dir)).hash).toBe(before);
  });
});
