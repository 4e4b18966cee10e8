/**
 * Screening lists (issue 19 §1): the CSL in its three published shapes, OpenSanctions /
 * FollowTheMoney JSON lines and the own CSV read into the same normalised entities; every
 * malformed input refused with LIST_INVALID naming the file and the record.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { detectFormat, LIST_LIMITS, readListFiles } from '../../src/compliance/lists/index.js';
import type { ListEntity } from '../../src/compliance/types.js';
import { ModelsealError } from '../../src/errors.js';
import { tempDir } from '../support/fixtures.js';

const FIX = 'test/fixtures/lists';
const CSL = ['consolidated.json', 'consolidated.csv', 'consolidated.tsv'].map((f) => join(FIX, f));
const FTM = join(FIX, 'opensanctions.ftm.jsonl');
const OWN = join(FIX, 'own-list.csv');
const dir = tempDir('modelseal-lists-');
let n = 0;

function file(text: string, name = `f${n++}.txt`): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const byId = (entities: ListEntity[]) => new Map(entities.map((e) => [e.id, e]));

/** The LIST_INVALID error `p` rejects with. */
async function listError(p: Promise<unknown>): Promise<ModelsealError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(ModelsealError);
  expect((e as ModelsealError).code).toBe('LIST_INVALID');
  return e as ModelsealError;
}

describe('the Consolidated Screening List', () => {
  it('detects the JSON, CSV and TSV downloads by content', async () => {
    expect(await Promise.all(CSL.map(detectFormat))).toEqual(['csl-json', 'csl-csv', 'csl-tsv']);
    expect(await detectFormat(FTM)).toBe('ftm');
    expect(await detectFormat(OWN)).toBe('csv');
  });

  it('reads the three shapes of one download into the same entities and the same snapshot digest', async () => {
    const [json, csv, tsv] = await Promise.all(CSL.map((f) => readListFiles([f])));
    expect(json!.entities).toHaveLength(16);
    expect(csv!.entities).toEqual(json!.entities);
    expect(tsv!.entities).toEqual(json!.entities);
    expect(new Set([json!.digest, csv!.digest, tsv!.digest]).size).toBe(1);
    expect(json!.source).toBe('csl');
  });

  it('maps types to schemata, sources to list codes, and keeps identifiers that identify', async () => {
    const e = byId((await readListFiles([CSL[0]!])).entities);
    expect(e.get('36154')).toEqual({
      id: '36154',
      schema: 'Person',
      names: ['PUTIN, Vladimir Vladimirovich'],
      aliases: ['Vladimir Vladimirovich PUTIN', 'ПУТИН, Владимир Владимирович'],
      weakAliases: [],
      countries: ['RU'],
      dob: ['1952-10-07'],
      ids: ['XR0000001'], // "Gender: Male" is no identifier
      list: 'SDN',
      programs: ['RUSSIA-EO14024', 'UKRAINE-EO13660'],
    });
    const kremlin = e.get('90001')!;
    expect(kremlin).toMatchObject({ schema: 'LegalEntity', countries: ['CY', 'RU'] });
    expect(kremlin.ids).toEqual(['1027700000001', '7700000001']); // not the website, not the date of establishment
    expect(e.get('90002')).toMatchObject({ schema: 'Vessel', ids: ['422000001', 'IMO 9123456'] });
    expect(e.get('90003')!.schema).toBe('Airplane');
    expect(e.get('90004')).toMatchObject({ countries: ['LB', 'SY'], dob: ['1970', '1971-05'] });
    const lists = [...e.values()].map((x) => x.list).sort();
    expect(lists).toEqual(
      [
        'SDN',
        'SDN',
        'SDN',
        'SDN',
        'EL',
        'UVL',
        'DPL',
        'MEU',
        'ISN',
        'FSE',
        'PLC',
        'CAP',
        'CMIC',
        'MBS',
        'DTC',
        'SSI',
      ].sort(),
    );
    const el = [...e.values()].find((x) => x.list === 'EL')!;
    expect(el.names).toEqual(['Beijing "Red Star" Technology Co., Ltd.']);
    expect(el.schema).toBe('LegalEntity');
    // Written decomposed in the download, stored precomposed (NFC).
    expect([...e.values()].find((x) => x.list === 'UVL')!.names).toEqual(['Société Générale de Test S.A.']);
  });
});

describe('OpenSanctions / FollowTheMoney JSON lines', () => {
  it('reads parties, skips and counts other schemata', async () => {
    const r = await readListFiles([FTM]);
    expect(r.source).toBe('opensanctions');
    expect(r.entities).toHaveLength(8);
    expect(r.skipped).toBe(3); // Address, Sanction, Ownership
    const e = byId(r.entities);
    expect(e.get('NK-putin')).toMatchObject({
      schema: 'Person',
      names: ['Vladimir Vladimirovich Putin'],
      aliases: ['Vladimir Putin', 'Путин Владимир Владимирович'],
      weakAliases: ['VVP'],
      countries: ['RU'], // "suhh" (the Soviet Union) is no ISO country
      dob: ['1952-10-07'],
      ids: ['XR0000001'],
      list: 'eu_fsf,gb_hmt_sanctions,us_ofac_sdn',
    });
    expect(e.get('NK-kremlin-holdings')).toMatchObject({
      schema: 'Company',
      aliases: ['Kremlin Capital LLC', 'ООО Кремль Холдингс'],
      countries: ['CY', 'RU'],
      dob: ['2001-01-01'],
    });
    expect(e.get('NK-ministry')).toMatchObject({ schema: 'Organization', countries: ['GE'] });
    expect(e.get('NK-ocean-star')).toMatchObject({ schema: 'Vessel', countries: ['IR'] });
    expect(e.get('NK-tanaka')!.names).toEqual(['田中 太郎', 'Tanaka Taro']);
  });
});

describe('the own CSV', () => {
  it('reads quoted fields, ;-separated aliases and countries; the file stem names the source and the list', async () => {
    const r = await readListFiles([OWN]);
    expect(r.source).toBe('own-list');
    const e = byId(r.entities);
    expect(e.get('acme-1')).toMatchObject({
      schema: 'Company',
      aliases: ['ACME RW', 'Acme Rockets'],
      countries: ['US'],
    });
    expect(e.get('bad-actor')).toMatchObject({ schema: 'Person', names: ['Doe, Jane'], countries: ['GB', 'IE'] });
    expect(e.get('fleet-9')).toMatchObject({ schema: 'Vessel', list: 'own-list' });
    expect(e.get('own-4')).toMatchObject({ names: ['Müller "Präzision" GmbH'], list: 'export-office' });
  });
});

describe('malformed lists', () => {
  const HEADER = 'id,name,type,aliases,countries,dob,source\n';

  it('an unknown format, and a format named wrongly', async () => {
    expect((await listError(readListFiles([file('hello world\n')]))).message).toMatch(/not a list modelseal reads/);
    expect((await listError(readListFiles([FTM], { format: 'csl-csv' }))).message).toMatch(/header lacks/);
    expect((await listError(readListFiles([CSL[1]!], { format: 'ftm' }))).message).toMatch(/line 1/);
    expect((await listError(readListFiles([FTM], { format: 'csl-json' }))).message).toMatch(/after the end/);
  });

  it('truncated JSON and truncated CSV', async () => {
    const json = (await import('node:fs')).readFileSync(CSL[0]!, 'utf8');
    const cut = file(json.slice(0, Math.floor(json.length / 2)), 'cut.json');
    expect((await listError(readListFiles([cut]))).message).toMatch(/cut\.json: the JSON ends early/);
    // A page of the API ("total" all the list, "results" ten of it) is not the list.
    const page = JSON.parse(json) as { total: number; results: unknown[] };
    const paged = file(JSON.stringify({ total: 12_000, results: page.results.slice(0, 10) }), 'page.json');
    expect((await listError(readListFiles([paged]))).message).toMatch(
      /"total" says 12000 records and "results" holds 10/,
    );
    const csv = file(HEADER + 'a,"Open quote,company,,,,\n', 'cut.csv');
    expect((await listError(readListFiles([csv], { format: 'csv' }))).message).toMatch(/line 2.*ends inside a quoted/);
    const short = file(HEADER + 'a,Name,company\n', 'short.csv');
    expect((await listError(readListFiles([short]))).message).toMatch(/line 2.*3 fields where the header has 7/);
  });

  it('a record without a name, naming its line or index and id', async () => {
    const own = file(HEADER + 'ok,Fine,company,,,,\nnoname,  ,company,,,,\n', 'noname.csv');
    expect((await listError(readListFiles([own]))).message).toMatch(
      /noname\.csv \(line 3, id "noname"\): a record without a name/,
    );
    const json = file(
      JSON.stringify({
        results: [
          { id: 'a', name: 'A', source: 'SDN' },
          { id: 'b', name: '' },
        ],
      }),
    );
    expect((await listError(readListFiles([json]))).message).toMatch(/record 1, id "b"\): a record without a name/);
    const ftm = (props: object, extra: object = {}) =>
      JSON.stringify({ id: 'p', schema: 'Person', properties: props, ...extra }) + '\n';
    // FtM without "name": the name parts, or the caption, before the record counts as nameless.
    const parts = file(ftm({ firstName: ['Ivan'], lastName: ['Petrov'] }), 'parts.jsonl');
    expect((await readListFiles([parts])).entities[0]!.names).toEqual(['Ivan Petrov']);
    const caption = file(ftm({}, { caption: 'Ivan Petrov' }), 'caption.jsonl');
    expect((await readListFiles([caption])).entities[0]!.names).toEqual(['Ivan Petrov']);
    const nameless = file(ftm({ birthDate: ['1970'] }), 'nameless.jsonl');
    expect((await listError(readListFiles([nameless]))).message).toMatch(/line 1, id "p"\): a record without a name/);
  });

  it('duplicate ids, naming both records, also across the files of one source', async () => {
    const line = (id: string, name: string) => JSON.stringify({ id, schema: 'Person', properties: { name: [name] } });
    const ftm = file([line('x', 'A'), line('y', 'B'), line('x', 'C')].join('\n') + '\n', 'dup.jsonl');
    const e = await listError(readListFiles([ftm]));
    expect(e.message).toMatch(/dup\.jsonl \(line 3, id "x"\): duplicate id, first seen in .*dup\.jsonl \(line 1\)/);
    const other = file(line('y', 'D') + '\n', 'other.jsonl');
    expect((await listError(readListFiles([ftm.replace('dup', 'dup'), other]))).message).toMatch(/duplicate id/);
  });

  it('invalid country codes, saying which', async () => {
    const own = file(HEADER + 'a,Name,company,,DE;XX,,\n', 'country.csv');
    expect((await listError(readListFiles([own]))).message).toMatch(/line 2, id "a"\): "XX" is not an ISO 3166/);
  });

  it('text after a closing quote, and input that is not UTF-8', async () => {
    const own = file(HEADER + 'a,"Name"x,company,,,,\n', 'quote.csv');
    expect((await listError(readListFiles([own]))).message).toMatch(/line 2.*after the closing quote/);
    const latin1 = join(dir, 'latin1.csv');
    writeFileSync(
      latin1,
      Buffer.concat([Buffer.from(HEADER + 'a,M'), Buffer.from([0xfc]), Buffer.from('ller,company,,,,\n')]),
    );
    expect((await listError(readListFiles([latin1]))).message).toMatch(/not UTF-8/);
  });

  describe('limits', () => {
    const limits = LIST_LIMITS as { -readonly [K in keyof typeof LIST_LIMITS]: number };
    const saved = { ...LIST_LIMITS };
    afterEach(() => Object.assign(limits, saved));

    it('name length and names per entity', async () => {
      const long = file(HEADER + `a,${'x'.repeat(LIST_LIMITS.nameChars + 1)},company,,,,\n`, 'long.csv');
      expect((await listError(readListFiles([long]))).message).toMatch(/a name of 1001 characters, over the limit/);
      const aliases = Array.from({ length: LIST_LIMITS.namesPerEntity }, (_, i) => `alias ${i}`);
      const ftm = file(
        JSON.stringify({ id: 'm', schema: 'Person', properties: { name: ['M'], alias: aliases } }) + '\n',
      );
      expect((await listError(readListFiles([ftm], { format: 'ftm' }))).message).toMatch(
        /1001 names and aliases, over the limit/,
      );
    });

    it('file size, entities and record size', async () => {
      limits.fileBytes = 100;
      expect((await listError(readListFiles([OWN]))).message).toMatch(/bytes, over the limit of 100/);
      limits.fileBytes = saved.fileBytes;
      limits.entities = 3;
      expect((await listError(readListFiles([OWN]))).message).toMatch(/more than 3 entities in source own-list/);
      limits.entities = saved.entities;
      limits.recordBytes = 200;
      expect((await listError(readListFiles([FTM]))).message).toMatch(/over the limit of 200 bytes/);
    });
  });
});
