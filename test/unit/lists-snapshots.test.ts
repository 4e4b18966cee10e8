/**
 * Snapshots and the lists in force (issue 19 §1, §3): imports write immutable content-addressed
 * snapshots and replace active.json atomically; a failed import changes nothing; the old
 * denied-parties.json migrates; ActiveLists picks up a new import without a restart (an
 * injected trigger and clock: no sleeps), keeps the last good lists when a reload fails, and
 * screens parties with the digests of the snapshots that decided.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ActiveLists,
  importLists,
  listsPaths,
  listsStatus,
  migrateDeniedParties,
  newlyFlagged,
  readActive,
  readSnapshot,
} from '../../src/compliance/lists/index.js';
import { ModelsealError } from '../../src/errors.js';
import { tempDir } from '../support/fixtures.js';
import { within } from '../support/wait.js';

const FIX = 'test/fixtures/lists';
const CSL_JSON = join(FIX, 'consolidated.json');
const CSL_CSV = join(FIX, 'consolidated.csv');
const FTM = join(FIX, 'opensanctions.ftm.jsonl');
const OWN = join(FIX, 'own-list.csv');
const root = tempDir('modelseal-snapshots-');
let n = 0;
const dataDir = () => join(root, `d${n++}`);
const DAY = 86_400_000;

/** Every file under <data>/lists with its bytes: what "exactly as it was" compares. */
function listsTree(data: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const f of readdirSync(dir, { withFileTypes: true }))
      if (f.isDirectory()) walk(join(dir, f.name));
      else out[join(dir, f.name)] = readFileSync(join(dir, f.name), 'base64');
  };
  walk(listsPaths(data).dir);
  return out;
}

describe('list snapshots', () => {
  it('are content-addressed files whose name is the SHA-256 of their bytes, header first, entries by id', async () => {
    const data = dataDir();
    const r = await importLists(data, [CSL_JSON], { now: () => new Date('2030-01-01T00:00:00Z') });
    expect(r).toMatchObject({ source: 'csl', entries: 16, unchanged: false, skipped: 0 });
    // The snapshot, and its record beside it (docs/SCREENING.md, "Snapshot records").
    const files = readdirSync(listsPaths(data).snapshots).sort();
    expect(files).toEqual([`${r.digest.slice(7)}.json`, `${r.digest.slice(7)}.jsonl`]);
    const bytes = readFileSync(join(listsPaths(data).snapshots, files[1]!));
    expect(`sha256:${createHash('sha256').update(bytes).digest('hex')}`).toBe(r.digest);
    const lines = bytes.toString('utf8').trimEnd().split('\n');
    expect(JSON.parse(lines[0]!)).toEqual({
      entries: 16,
      format: 'modelseal-list-snapshot',
      names: r.names,
      source: 'csl',
      v: 1,
    });
    const ids = lines.slice(1).map((l) => (JSON.parse(l) as { id: string }).id);
    expect(ids).toEqual([...ids].sort());
    const active = await readActive(data);
    expect(active.sources.csl).toMatchObject({
      digest: r.digest,
      entries: 16,
      imported: '2030-01-01T00:00:00.000Z',
      maxAgeDays: 7,
      files: [{ name: CSL_JSON, bytes: readFileSync(CSL_JSON).length, format: 'csl-json' }],
    });
    expect(active.sources.csl!.files[0]!.sha256).toBe(
      createHash('sha256').update(readFileSync(CSL_JSON)).digest('hex'),
    );
    expect((await readSnapshot(data, r.digest)).entities).toHaveLength(16);
  });

  it('re-importing the same content (another shape of the same download) is a no-op that says so', async () => {
    const data = dataDir();
    const first = await importLists(data, [CSL_JSON], { now: () => new Date('2030-01-01T00:00:00Z') });
    const again = await importLists(data, [CSL_CSV], { now: () => new Date('2030-01-05T00:00:00Z') });
    expect(again).toMatchObject({ digest: first.digest, unchanged: true });
    // One snapshot and its one record, as the first import wrote it.
    expect(readdirSync(listsPaths(data).snapshots).sort()).toEqual([
      `${first.digest.slice(7)}.json`,
      `${first.digest.slice(7)}.jsonl`,
    ]);
    // The content is as it was; the import confirms it is current, so its age restarts.
    expect((await readActive(data)).sources.csl).toMatchObject({
      imported: '2030-01-01T00:00:00.000Z',
      refreshed: '2030-01-05T00:00:00.000Z',
    });
  });

  it('merges several files into one source; sources sit side by side', async () => {
    const data = dataDir();
    await importLists(data, [FTM], {});
    const own = await importLists(data, [OWN, FTM], { source: 'mixed', maxAgeDays: 30 });
    expect(own.entries).toBe(12);
    const status = await listsStatus(data);
    expect(status.map((s) => [s.source, s.entries, s.maxAgeDays])).toEqual([
      ['mixed', 12, 30],
      ['opensanctions', 8, 7],
    ]);
    await expect(importLists(data, [OWN, FTM])).rejects.toThrow(/no single source.*--source/);
  });

  it('concurrent imports of two sources both stay in active.json (the lists lock)', async () => {
    const data = dataDir();
    await Promise.all([importLists(data, [OWN]), importLists(data, [FTM]), importLists(data, [CSL_CSV])]);
    expect(Object.keys((await readActive(data)).sources)).toEqual(['csl', 'opensanctions', 'own-list']);
    expect(existsSync(join(listsPaths(data).dir, '.lock'))).toBe(false);
  });

  it('a lock left by a process that no longer runs is taken over', async () => {
    const data = dataDir();
    mkdirSync(listsPaths(data).dir, { recursive: true });
    writeFileSync(join(listsPaths(data).dir, '.lock'), `${hostname()} 999999999`);
    expect((await importLists(data, [OWN])).entries).toBe(4);
  });

  it('a failed import after a good one leaves active.json and the snapshots exactly as they were', async () => {
    const data = dataDir();
    await importLists(data, [CSL_JSON]);
    const before = listsTree(data);
    const json = readFileSync(CSL_JSON, 'utf8');
    const truncated = join(root, 'truncated.json');
    writeFileSync(truncated, json.slice(0, json.length - 100));
    await expect(importLists(data, [truncated])).rejects.toThrow(/ends early/);
    const dup = join(root, 'dup.jsonl');
    const line = readFileSync(FTM, 'utf8').split('\n')[0]!;
    writeFileSync(dup, `${line}\n${line}\n`);
    await expect(importLists(data, [FTM, dup], { source: 'csl' })).rejects.toThrow(/duplicate id/);
    expect(listsTree(data)).toEqual(before);
  });

  it('status: age from the last import, stale past the maximum age', async () => {
    const data = dataDir();
    await importLists(data, [OWN], { now: () => new Date('2030-01-01T00:00:00Z'), maxAgeDays: 2 });
    const at = (iso: string) => listsStatus(data, new Date(iso));
    expect((await at('2030-01-03T00:00:00Z'))[0]).toMatchObject({ ageSeconds: 2 * 86_400, stale: false });
    expect((await at('2030-01-03T00:00:01Z'))[0]).toMatchObject({ stale: true });
  });

  it('a damaged active.json or snapshot is LIST_INVALID, never an empty list', async () => {
    const data = dataDir();
    const r = await importLists(data, [OWN]);
    const snap = join(listsPaths(data).snapshots, `${r.digest.slice(7)}.jsonl`);
    writeFileSync(snap, readFileSync(snap, 'utf8').replace('Acme', 'Acne'));
    await expect(readSnapshot(data, r.digest)).rejects.toThrow(/was altered/);
    writeFileSync(listsPaths(data).active, '{"v":1,"sources":');
    const e = await readActive(data).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ModelsealError);
    expect((e as ModelsealError).code).toBe('LIST_INVALID');
  });
});

describe('migrating denied-parties.json', () => {
  it('becomes the source denied-parties (ids dp-1…), the file renamed .migrated; again, a no-op', async () => {
    const data = dataDir();
    mkdirSync(join(data, 'policy'), { recursive: true });
    const file = join(data, 'policy', 'denied-parties.json');
    writeFileSync(file, JSON.stringify({ parties: ['Evil Corp', 'bad-actor'] }));
    const r = await migrateDeniedParties(data);
    expect(r).toMatchObject({ source: 'denied-parties', entries: 2 });
    expect(existsSync(file)).toBe(false);
    expect(existsSync(`${file}.migrated`)).toBe(true);
    const snap = await readSnapshot(data, r!.digest);
    expect(snap.entities.map((e) => [e.id, e.names, e.aliases])).toEqual([
      ['dp-1', ['Evil Corp'], []],
      ['dp-2', ['bad-actor'], ['bad actor']],
    ]);
    expect(await migrateDeniedParties(data)).toBeNull();
    // As older releases did: the recipient's slug or organisation, whatever the case.
    const lists = await ActiveLists.open(data, { trigger: () => () => {} });
    expect(lists.screenParty({ name: 'bad-actor', org: 'Someone', countries: [] }).decision).toBe('hit');
    expect(lists.screenParty({ name: 'x', org: 'EVIL CORP', countries: [] }).decision).toBe('hit');
    lists.close();
  });

  it('an absent or empty file is left alone', async () => {
    const data = dataDir();
    expect(await migrateDeniedParties(data)).toBeNull();
    mkdirSync(join(data, 'policy'), { recursive: true });
    writeFileSync(join(data, 'policy', 'denied-parties.json'), '{"parties": []}\n');
    expect(await migrateDeniedParties(data)).toBeNull();
    expect(existsSync(join(data, 'policy', 'denied-parties.json'))).toBe(true);
    expect(existsSync(listsPaths(data).active)).toBe(false);
  });
});

/** ActiveLists over `data` with the test's clock and trigger. */
async function driven(data: string) {
  const clock = { t: Date.parse('2030-01-01T00:00:00Z') };
  const errors: unknown[] = [];
  const reloads: (readonly string[])[] = [];
  let fire: (() => void) | undefined;
  const lists = await ActiveLists.open(data, {
    now: () => clock.t,
    onError: (e) => errors.push(e),
    onReload: (l) => reloads.push(l),
    trigger: (dir, changed) => {
      expect(dir).toBe(listsPaths(data).dir);
      fire = changed;
      return () => {};
    },
  });
  const look = async () => {
    fire!();
    await lists.check();
  };
  return { lists, clock, errors, reloads, look };
}

describe('ActiveLists, the screening of the release service', () => {
  const kremlin = { name: 'acme-buyer', org: 'KREMLIN HOLDINGS LLC', countries: ['RU'] };

  it('clears everyone with no lists; sees a new import at the next look, without a restart', async () => {
    const data = dataDir();
    const { lists, clock, reloads, look } = await driven(data);
    expect(lists.screenParty(kremlin)).toEqual({ decision: 'clear', lists: [], stale: [], best: null });

    const r = await importLists(data, [CSL_JSON], { now: () => new Date(clock.t) });
    expect(lists.screenParty(kremlin).decision).toBe('clear'); // not looked yet
    await look();
    expect(reloads).toEqual([[`csl@${r.digest}`]]);
    expect(lists.screenParty(kremlin)).toEqual({
      decision: 'hit',
      lists: [`csl@${r.digest}`],
      stale: [],
      best: { entity: '90001', source: 'csl', name: 'KREMLIN HOLDINGS LLC', score: '1.000' },
    });
    const [byName, byOrg] = lists.explainParty(kremlin);
    expect(byName).toMatchObject({ id: 'name', query: { name: 'acme buyer', type: 'any', countries: ['RU'] } });
    expect(byOrg!.matches.map((m) => m.entity.id)).toEqual(['90001']);

    clock.t += 8 * DAY;
    expect(lists.screenParty(kremlin).stale).toEqual(['csl']);
    lists.close();
  });

  it('keeps the previous lists in force when a reload fails, and reports it', async () => {
    const data = dataDir();
    const r = await importLists(data, [OWN]);
    const { lists, errors, look } = await driven(data);
    const party = { name: 'x', org: 'Acme Rocket Works', countries: [] };
    expect(lists.screenParty(party).decision).toBe('hit');
    writeFileSync(listsPaths(data).active, 'garbage');
    await look();
    expect(errors).toHaveLength(1);
    expect((errors[0] as ModelsealError).code).toBe('LIST_INVALID');
    expect(lists.screenParty(party)).toMatchObject({ decision: 'hit', lists: [`own-list@${r.digest}`] });
    lists.close();
  });

  it('caches per party and snapshot digests: a new snapshot gives a new answer', async () => {
    const data = dataDir();
    await importLists(data, [OWN]);
    const { lists, look } = await driven(data);
    const party = { name: 'wagner-buyer', org: 'Wagner Group', countries: [] };
    expect(lists.screenParty(party).decision).toBe('clear');
    expect(lists.explainParty(party)).toBe(lists.explainParty(party)); // the cached results
    await importLists(data, [FTM]);
    await look();
    expect(lists.screenParty(party)).toMatchObject({ decision: 'hit', best: { entity: 'NK-wagner' } });
    expect(lists.screenParty(party).lists).toHaveLength(2);
    lists.close();
  });
});

describe('ActiveLists with its own trigger (fs.watch on <data>/lists and a stat)', () => {
  it('sees an import made while it runs', async () => {
    const data = dataDir();
    const lists = await ActiveLists.open(data, { pollMs: 100 });
    try {
      const r = await importLists(data, [OWN]);
      await within(15_000, 'the import to be in force', () => lists.screening.listIds[0] === `own-list@${r.digest}`);
      expect(lists.screenParty({ name: 'x', org: 'SEA WOLF', countries: [] }).decision).toBe('hit');
    } finally {
      lists.close();
    }
  });
});

describe('re-screening registered parties after an import', () => {
  it('reports the parties the new lists flag and the old ones cleared', async () => {
    const data = dataDir();
    const first = await importLists(data, [OWN]);
    const parties = [
      { id: 'a', name: 'acme', org: 'Acme Rocket Works', countries: [] }, // flagged before and after
      { id: 'b', name: 'buyer', org: 'Kremlin Holdings LLC', countries: [] }, // newly flagged
      { id: 'c', name: 'clean', org: 'Clean Co', countries: [] },
    ];
    const second = await importLists(data, [FTM]);
    expect(first.active).toEqual(second.previous);
    const flagged = await newlyFlagged(data, second.previous, second.active, parties);
    expect(flagged.map((f) => [f.party.id, f.decision, f.best?.entity])).toEqual([['b', 'hit', 'NK-kremlin-holdings']]);
  });
});
