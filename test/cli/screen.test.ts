/**
 * `modelseal screen` through the built CLI (issue 19 §2): against --list files read in memory
 * (nothing written) or the active lists of --data; one JSON object with the lists and one result
 * per query; exit 0 when clear, 17 (SCREENING_HIT) with the result still on stdout; batch files and
 * their errors. The names are ones any matcher must find (exact): fuzzy cases are the matcher's tests.
 */
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from '../support/cli.js';
import { tempDir } from '../support/fixtures.js';

const FIX = resolve('test/fixtures/lists');
const dir = tempDir('modelseal-cli-screen-');
const ms = cli(join(dir, 'keys'), dir);

describe('modelseal screen', () => {
  it('--list: a hit exits 17 with the whole result on stdout, and writes nothing', () => {
    const r = ms(['--json', 'screen', '--list', join(FIX, 'consolidated.json'), '--name', 'KREMLIN HOLDINGS LLC']);
    expect(r.code).toBe(17);
    const out = r.json();
    expect(out).toMatchObject({
      ok: false,
      command: 'screen',
      error: { code: 'SCREENING_HIT', exitCode: 17 },
      decision: 'hit',
      lists: [{ source: 'csl', digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/), entries: 16 }],
    });
    expect(out.results).toHaveLength(1);
    expect(out.results[0]).toMatchObject({ id: '1', query: { name: 'KREMLIN HOLDINGS LLC' }, decision: 'hit' });
    expect(out.results[0].matches[0]).toMatchObject({
      entity: { id: '90001', name: 'KREMLIN HOLDINGS LLC', schema: 'LegalEntity', source: 'csl' },
      decision: 'hit',
      score: expect.any(Number),
      explanation: { matched: 'KREMLIN HOLDINGS LLC', nameKind: 'name' },
    });
    expect(readdirSync(dir).filter((f) => f !== 'keys')).toEqual([]);
    const human = ms(['screen', '--list', join(FIX, 'opensanctions.ftm.jsonl'), '--name', 'Wagner Group']);
    expect(human.code).toBe(17);
    expect(human.stderr).toMatch(/1 "Wagner Group": HIT\n {2}\d\.\d{3} hit +Wagner Group \(opensanctions NK-wagner/);
    expect(human.stderr).toMatch(/modelseal: error SCREENING_HIT: /);
  });

  it('a clear name exits 0 with ok:true; qualifiers are accepted and echoed in the query', () => {
    const r = ms([
      '--json',
      'screen',
      '--list',
      join(FIX, 'own-list.csv'),
      '--name',
      'Nobody In Particular',
      '--type',
      'person',
      '--country',
      'de',
      '--country',
      'FR',
      '--dob',
      '1980-02',
      '--id',
      'P123',
    ]);
    expect(r.code).toBe(0);
    expect(r.json()).toMatchObject({
      ok: true,
      decision: 'clear',
      results: [
        {
          id: '1',
          decision: 'clear',
          matches: [],
          query: {
            name: 'Nobody In Particular',
            type: 'person',
            countries: ['DE', 'FR'],
            dob: '1980-02',
            ids: ['P123'],
          },
        },
      ],
    });
  });

  it('--data: the active lists; with none, everything is clear and it says so', () => {
    const data = join(dir, 'data');
    const none = ms(['--json', 'screen', '--data', data, '--name', 'KREMLIN HOLDINGS LLC']);
    expect(none.code).toBe(0);
    expect(none.json()).toMatchObject({ lists: [], decision: 'clear' });
    expect(none.stderr).toMatch(/no screening lists/);
    expect(existsSync(data)).toBe(false);
    expect(ms(['lists', 'import', join(FIX, 'consolidated.csv'), '--data', data]).code).toBe(0);
    expect(ms(['lists', 'import', join(FIX, 'own-list.csv'), '--data', data]).code).toBe(0);
    const r = ms(['--json', 'screen', '--data', data, '--name', 'Acme Rocket Works']);
    expect(r.code).toBe(17);
    expect(r.json().lists.map((l: { source: string }) => l.source)).toEqual(['csl', 'own-list']);
    expect(r.json().results[0].matches[0].entity).toMatchObject({ id: 'acme-1', source: 'own-list' });
  });

  it('--batch: one result per line, in order; the worst decides the exit code', () => {
    const batch = join(dir, 'queries.jsonl');
    writeFileSync(
      batch,
      [
        { id: 'q-clear', name: 'Nobody' },
        { id: 'q-hit', name: 'PUTIN, Vladimir Vladimirovich', type: 'person', countries: ['RU'], dob: '1952' },
        { name: 'OCEAN STAR', type: 'vessel', ids: ['IMO 9123456'] },
      ]
        .map((q) => JSON.stringify(q))
        .join('\n') + '\n\n',
    );
    const r = ms(['--json', 'screen', '--list', join(FIX, 'consolidated.tsv'), '--batch', batch, '--limit', '5']);
    expect(r.code).toBe(17);
    const results = r.json().results as { id: string; decision: string; matches: { entity: { id: string } }[] }[];
    expect(results.map((x) => [x.id, x.decision])).toEqual([
      ['q-clear', 'clear'],
      ['q-hit', 'hit'],
      ['3', 'hit'],
    ]);
    expect(results[2]!.matches[0]!.entity.id).toBe('90002');
  });

  it('usage errors: a bad batch line names it; --name or --batch; --data or --list', () => {
    const batch = join(dir, 'bad.jsonl');
    writeFileSync(batch, '{"name":"ok"}\n{"name": 42}\n');
    const r = ms(['--json', 'screen', '--list', join(FIX, 'own-list.csv'), '--batch', batch]);
    expect(r.code).toBe(2);
    expect(r.json().error).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(r.json().error.message).toMatch(/bad\.jsonl line 2: a query needs a non-empty "name"/);
    writeFileSync(batch, '{"name":"ok"}\n{"name": "x", "dob": "May 1980"}\n{oops\n');
    expect(ms(['screen', '--list', join(FIX, 'own-list.csv'), '--batch', batch]).stderr).toMatch(/line 2: "dob"/);
    const own = join(FIX, 'own-list.csv');
    expect(ms(['screen', '--list', own]).stderr).toMatch(/either --name <name> or --batch/);
    expect(ms(['screen', '--list', own, '--name', 'a', '--batch', batch]).code).toBe(2);
    expect(ms(['screen', '--list', own, '--data', dir, '--name', 'a']).stderr).toMatch(/--data <dir> or --list/);
    expect(ms(['screen', '--list', own, '--name', 'a', '--limit', '0']).code).toBe(2);
    expect(ms(['screen', '--list', own, '--name', 'a', '--type', 'robot']).code).toBe(2);
    expect(ms(['screen', '--list', own, '--name', 'a', '--country', 'Germany']).code).toBe(2);
    const broken = ms(['--json', 'screen', '--list', join(FIX, 'make-csl.mjs'), '--name', 'a']);
    expect(broken.json().error.code).toBe('LIST_INVALID');
  });
});
