/**
 * `modelseal demo` from the built CLI: the six steps of the controlled export on embedded defaults,
 * each checked in the --json summary; --dir keeps every file, and the kept log holds what the steps say.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BIN, cli } from '../support/cli.js';
import { tempDir } from '../support/fixtures.js';

const dir = tempDir('modelseal-demo-');
const work = join(dir, 'kept');
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the summary's shape is what is tested
let j: any;
let code: number | null = null;

beforeAll(() => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` (npm test does)`);
  const r = spawnSync(process.execPath, [BIN, '--json', 'demo', '--dir', work], { cwd: dir, maxBuffer: 16 << 20 });
  code = r.status;
  j = JSON.parse(r.stdout.toString());
}, 120_000);

describe('modelseal demo', () => {
  it('runs in well under a minute and keeps its files in --dir', () => {
    expect(j.command).toBe('demo');
    expect(j.seconds).toBeLessThan(60);
    expect(j.dir).toBe(work);
    for (const f of ['keys/log.vkey', 'data/log', 'acme-labs.mseal', 'acme-labs-opened/model.safetensors'])
      expect(existsSync(join(work, f)), f).toBe(true);
  });

  it('refuses a --dir that is not empty, touching nothing in it', () => {
    const before = readFileSync(join(work, 'keys', 'log.vkey'));
    const r = spawnSync(process.execPath, [BIN, 'demo', '--dir', work], { cwd: dir });
    expect(r.status).toBe(10);
    expect(r.stderr.toString()).toContain('is not empty');
    expect(readFileSync(join(work, 'keys', 'log.vkey')).equals(before)).toBe(true);
  });

  it('1 classify: exact parameters, the format, each determination with its rule pack', () => {
    const c = j.steps.classify;
    expect(c).toMatchObject({ parameters: 876_864, tensors: 21, format: 'safetensors' });
    expect(c.determinations.map((d: { regime: string }) => d.regime).sort()).toEqual([
      'EU-AI-Act',
      'EU-dual-use',
      'US-EAR',
    ]);
    for (const d of c.determinations) expect(c.rulePacks).toContain(d.rulePack);
  });

  it('2 screen: the sample list imported, acme-labs clear, the Cyrillic registrant refused with the match explained', () => {
    const s = j.steps.screen;
    expect(s.list).toMatchObject({ source: 'sample', entries: 30 });
    expect(s.registered[0]).toMatchObject({ name: 'acme-labs', country: 'DE', screening: 'clear' });
    expect(s.refused).toMatchObject({
      org: 'Волков Динамикс',
      decision: 'hit',
      entity: 'SAMPLE-001',
      name: 'VOLKOV DYNAMICS JSC',
    });
    expect(Number(s.refused.score)).toBeGreaterThan(0.85);
    expect(s.refused.tokens).toEqual(expect.arrayContaining(['volkov~volkov', 'dinamiks~dynamics']));
  });

  it('3 license and seal: licenses in force at the running service; the fingerprinted export logged there', () => {
    expect(j.steps.license.inForce).toEqual(['DEMO-EAR-001', 'DEMO-EAR-002']);
    expect(j.steps.license.licenses[0]).toMatchObject({ holder: 'acme-labs', artifacts: [j.steps.license.model] });
    const acme = j.steps.seal.find((s: { recipient: string }) => s.recipient === 'acme-labs');
    expect(acme).toMatchObject({ license: 'DEMO-EAR-001', logged: [0] });
    expect(acme.fingerprint).toMatch(/^fp-[0-9a-f]{16}$/);
    expect(acme.marked).not.toBe(j.steps.license.model); // the copy is marked; the license names the model
  });

  it('4 release: acme-labs allowed with a receipt verified offline; two denials with their reasons', () => {
    const r = j.steps.release;
    expect(r.allowed).toMatchObject({ recipient: 'acme-labs', destination: 'DE', receipt: { verified: true } });
    expect(r.allowed.receipt.checkpointSize).toBeGreaterThan(r.allowed.receipt.index);
    expect(r.denied.map((d: { destination: string; reason: string }) => [d.destination, d.reason])).toEqual([
      ['CN', 'destination-not-licensed'],
      ['DE', 'deemed-export-embargoed'],
    ]);
  });

  it('5 audit: the whole log verifies, and lists the three decisions', () => {
    const a = j.steps.audit;
    expect(a.verified).toBe(true);
    expect(a.decisions.map((d: { recipient: string; decision: string }) => `${d.recipient} ${d.decision}`)).toEqual([
      'acme-labs allow',
      'acme-labs deny',
      'darya-labs deny',
    ]);
  });

  it('6 trace: the leaked F32 copy accuses acme-labs within its bound; the unrelated model accuses nobody', () => {
    const t = j.steps.trace;
    expect(t.leaked.derived).toBe(true);
    expect(t.leaked.accused.map((a: { recipient: string }) => a.recipient)).toEqual(['acme-labs']);
    expect(t.leaked.accused[0].z).toBeGreaterThan(t.leaked.threshold);
    expect(t.leaked.accused[0].log10Bound).toBeLessThan(-9);
    expect(t.unrelated.accused).toEqual([]);
    expect(t.leaked.leak).not.toBe(t.unrelated.leak);
  });

  it('the kept log: the releases decided on the classification the seals bound (4E091, license required to DE)', () => {
    const ms = cli(join(work, 'keys'), dir);
    const list = ms(['--json', 'audit', 'list', '--log', join(work, 'data', 'log'), '--type', 'release']);
    expect(list.code, list.stderr).toBe(0);
    for (const e of list.json().entries)
      expect(e.classification, JSON.stringify(e)).toMatchObject({ usEar: '4E091', licenseRequired: true });
    expect(j.steps.classify.determinations).toContainEqual(
      expect.objectContaining({ regime: 'US-EAR', classification: '4E091', licenseRequired: true }),
    );
  });

  it('the kept log holds both trace verdicts, as audit list shows them', () => {
    const ms = cli(join(work, 'keys'), dir);
    const list = ms(['--json', 'audit', 'list', '--log', join(work, 'data', 'log'), '--type', 'trace']);
    expect(list.code, list.stderr).toBe(0);
    const entries = list.json().entries;
    expect(entries.map((e: { index: number }) => e.index)).toEqual([
      j.steps.trace.leaked.recorded,
      j.steps.trace.unrelated.recorded,
    ]);
    expect(entries[0].accused[0].recipient).toBe('acme-labs');
    expect(entries[1].accused).toEqual([]);
  });

  it('every step succeeded', () => {
    for (const [name, s] of Object.entries(j.steps)) expect((s as { error?: unknown }).error, name).toBeUndefined();
    for (const name of ['classify', 'screen', 'license', 'seal', 'release', 'audit', 'trace'])
      expect(j.steps[name], name).toBeDefined();
  });

  it('5 audit: the evidence pack exported and verified offline, report.html written; the demo exits 0', () => {
    const a = j.steps.audit;
    expect(a.evidence, JSON.stringify(a.evidence)).toMatchObject({ verified: true });
    expect(a.evidence.entries).toBe(5); // two exports, three decisions (the traces come after)
    expect(existsSync(join(work, 'evidence.tar'))).toBe(true);
    expect(readFileSync(a.report, 'utf8')).toMatch(/<html/i);
    expect(code).toBe(0);
    expect(j.ok).toBe(true);
  });
});
