/**
 * `modelseal lists import | status` through the built CLI (issue 19 §1, §3): JSON shapes and exit
 * codes, a failed import that changes nothing, staleness, the migration of denied-parties.json, and
 * the registered recipients an import newly flags.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RecipientRegistry } from '../../src/server/recipients.js';
import { cli } from '../support/cli.js';
import { tempDir } from '../support/fixtures.js';

const FIX = resolve('test/fixtures/lists');
const dir = tempDir('modelseal-cli-lists-');
const ms = cli(join(dir, 'keys'), dir);
let n = 0;
const dataDir = () => join(dir, `data${n++}`);

describe('modelseal lists import', () => {
  it('imports a CSL download, says so in one JSON object, and status reports it', () => {
    const data = dataDir();
    const r = ms(['--json', 'lists', 'import', join(FIX, 'consolidated.json'), '--data', data]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const out = r.json();
    expect(out).toMatchObject({
      ok: true,
      command: 'lists import',
      source: 'csl',
      entries: 16,
      skipped: 0,
      unchanged: false,
      maxAgeDays: 7,
      flagged: [],
      migrated: null,
    });
    expect(out.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(out.files).toEqual([
      expect.objectContaining({ name: join(FIX, 'consolidated.json'), format: 'csl-json', bytes: expect.any(Number) }),
    ]);
    const again = ms(['--json', 'lists', 'import', join(FIX, 'consolidated.tsv'), '--data', data]);
    expect(again.json()).toMatchObject({ digest: out.digest, unchanged: true });
    const human = ms(['lists', 'import', join(FIX, 'consolidated.csv'), '--data', data]);
    expect(human.stderr).toMatch(/csl: unchanged, sha256:[0-9a-f]{64} is already active/);

    const status = ms(['--json', 'lists', 'status', '--data', data]);
    expect(status.code).toBe(0);
    expect(status.json()).toMatchObject({
      ok: true,
      command: 'lists status',
      stale: [],
      sources: [{ source: 'csl', digest: out.digest, entries: 16, maxAgeDays: 7, stale: false }],
    });
  });

  it('a bad file exits 15 naming the record, and the lists stay as they were', () => {
    const data = dataDir();
    expect(ms(['lists', 'import', join(FIX, 'own-list.csv'), '--data', data]).code).toBe(0);
    const lists = join(data, 'lists');
    const state = () => [readFileSync(join(lists, 'active.json'), 'utf8'), readdirSync(join(lists, 'snapshots'))];
    const before = state();
    const bad = join(dir, 'bad.csv');
    writeFileSync(bad, 'id,name,type,aliases,countries,dob,source\nz,Zed,company,,,,\nz,Zed again,company,,,,\n');
    const r = ms(['--json', 'lists', 'import', bad, '--data', data, '--source', 'own-list']);
    expect(r.code).toBe(15);
    expect(r.json()).toMatchObject({ ok: false, error: { code: 'LIST_INVALID', exitCode: 15 } });
    expect(r.json().error.message).toMatch(/bad\.csv \(line 3, id "z"\): duplicate id, first seen in .*\(line 2\)/);
    const human = ms(['lists', 'import', bad, '--data', data, '--format', 'ftm']);
    expect(human.code).toBe(15);
    expect(human.stderr).toMatch(/modelseal: error LIST_INVALID: .*bad\.csv \(line 1\)/);
    expect(state()).toEqual(before);
    expect(ms(['lists', 'import', bad, '--data', data, '--max-age', 'soon']).code).toBe(2);
  });

  it('status exits 0 on a stale list and says so', () => {
    const data = dataDir();
    expect(ms(['lists', 'import', join(FIX, 'own-list.csv'), '--data', data, '--max-age', '3']).code).toBe(0);
    const active = join(data, 'lists', 'active.json');
    const state = JSON.parse(readFileSync(active, 'utf8'));
    state.sources['own-list'].refreshed = new Date(Date.now() - 4 * 86_400_000).toISOString();
    writeFileSync(active, JSON.stringify(state));
    const r = ms(['--json', 'lists', 'status', '--data', data]);
    expect(r.code).toBe(0);
    expect(r.json()).toMatchObject({ stale: ['own-list'], sources: [{ stale: true, maxAgeDays: 3 }] });
    expect(r.stderr).toMatch(/warning: list own-list is stale/);
    const human = ms(['lists', 'status', '--data', data]);
    expect(human.code).toBe(0);
    expect(human.stderr).toMatch(/STALE/);
  });

  it('migrates denied-parties.json on status, once', () => {
    const data = dataDir();
    mkdirSync(join(data, 'policy'), { recursive: true });
    writeFileSync(join(data, 'policy', 'denied-parties.json'), JSON.stringify({ parties: ['Shady Trading LLC'] }));
    const r = ms(['--json', 'lists', 'status', '--data', data]);
    expect(r.json()).toMatchObject({ migrated: true, sources: [{ source: 'denied-parties', entries: 1 }] });
    expect(ms(['--json', 'lists', 'status', '--data', data]).json().migrated).toBe(false);
  });

  it('re-screens every registered recipient and reports the newly flagged', async () => {
    const data = dataDir();
    const registry = new RecipientRegistry(join(data, 'recipients'));
    const key = () => generateKeyPairSync('ed25519').publicKey;
    await registry.register('acme', { org: 'Acme Rocket Works', country: 'US', nationality: 'US' }, key());
    await registry.register('kh-buyer', { org: 'Kremlin Holdings LLC', country: 'CY', nationality: 'RU' }, key());
    await registry.register('clean', { org: 'Clean Co', country: 'DE', nationality: 'DE' }, key());
    await registry.register('gone', { org: 'KREMLIN HOLDINGS LLC', country: 'DE', nationality: 'DE' }, key());
    await registry.revoke('gone');
    const first = ms(['--json', 'lists', 'import', join(FIX, 'own-list.csv'), '--data', data]);
    expect(first.json().flagged).toEqual([
      {
        recipient: 'acme',
        decision: 'hit',
        best: { entity: 'acme-1', source: 'own-list', name: 'Acme Rocket Works', score: '1.000' },
      },
    ]);
    // acme was flagged already: only kh-buyer is new; the revoked recipient is not screened.
    const second = ms(['lists', 'import', join(FIX, 'consolidated.json'), '--data', data]);
    expect(second.code).toBe(0);
    expect(second.stderr).toMatch(/warning: recipient kh-buyer is now screened HIT: KREMLIN HOLDINGS LLC \(csl 90001/);
    expect(second.stderr).not.toMatch(/acme|gone/);
    // A recipient file that cannot be read does not undo the import: it is reported.
    writeFileSync(join(data, 'recipients', 'broken.json'), '{"name":');
    const third = ms(['--json', 'lists', 'import', join(FIX, 'opensanctions.ftm.jsonl'), '--data', data]);
    expect(third.code).toBe(0);
    expect(third.json()).toMatchObject({ ok: true, source: 'opensanctions', flagged: [] });
    expect(third.json().rescreenError).toMatch(/JSON/);
    expect(third.stderr).toMatch(/imported, but the registered recipients could not be re-screened/);
  });
});
