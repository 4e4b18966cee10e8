/**
 * `audit list --destination --nationality --observed-country --screening --license` over a real log
 * store holding release entries with and without the compliance fields (older entries have none),
 * as JSON, CSV and the table.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeEvent, NoteSigner, openLogStore, TransparencyLog, type LogEvent } from '../../src/index.js';
import { cli } from '../support/cli.js';
import { tempDir } from '../support/fixtures.js';
import { auditLister, release } from '../support/inference.js';

const dir = tempDir('modelseal-cli-audit-filters-');
const logDir = join(dir, 'log');
const vkey = join(dir, 'log.vkey');
const ms = cli(join(dir, 'keys'), dir);

const observed = (country: string) => ({
  address: '203.0.113.9',
  country,
  network: '' as const,
  database: `sha256:${'9'.repeat(64)}`,
  ageDays: 3,
  stale: false,
});
const screening = (decision: 'clear' | 'review' | 'hit', score: string) => ({
  decision,
  lists: [`SDN@sha256:${'d'.repeat(64)}`],
  stale: [],
  best: decision === 'clear' ? null : { entity: 'sdn-1', source: 'SDN', name: 'Kremlin Holdings', score },
});

const entries: LogEvent[] = [
  // 0: logged before the compliance fields existed.
  release('0', {}),
  // 1: a clear release to FR, a German and Iranian national, seen from France.
  release('1', {
    destination: 'FR',
    nationalities: ['DE', 'IR'],
    screening: screening('clear', ''),
    observed: observed('FR'),
  }),
  // 2: a screening hit, denied, seen from an unknown place.
  release('2', {
    decision: 'deny',
    reason: 'screening-hit',
    policies: ['screening-hit'],
    license: 'L-2',
    nationalities: ['RU'],
    screening: screening('hit', '0.97'),
    observed: observed(''),
  }),
];

beforeAll(async () => {
  const signer = NoteSigner.generate('audit-filters.test/log');
  writeFileSync(vkey, signer.verifierKey + '\n');
  const log = new TransparencyLog(await openLogStore(logDir), signer, { commitIntervalMs: 0 });
  for (const e of entries) await log.append(encodeEvent(e));
  await log.close();
});

const { list, indexes } = auditLister(ms, () => logDir, vkey);

describe('audit list: the compliance filters', () => {
  it('filters by destination, nationality, observed country, screening and license; older entries match none', () => {
    expect(indexes()).toEqual([0, 1, 2]);
    expect(indexes('--destination', 'DE')).toEqual([0, 2]);
    expect(indexes('--destination', 'fr', '--destination', 'CN')).toEqual([1]);
    expect(indexes('--nationality', 'IR')).toEqual([1]);
    expect(indexes('--nationality', 'IR,RU')).toEqual([1, 2]);
    expect(indexes('--observed-country', 'FR')).toEqual([1]);
    expect(indexes('--screening', 'clear')).toEqual([1]);
    expect(indexes('--screening', 'review', '--screening', 'hit')).toEqual([2]);
    expect(indexes('--license', 'L-2')).toEqual([2]);
    expect(indexes('--license', 'L-1', '--license', 'L-2', '--decision', 'allow')).toEqual([0, 1]);
  });

  it('shows the new fields as logged in JSON, and as columns in CSV and the table', () => {
    const hit = list('--screening', 'hit').json().entries[0];
    expect(hit).toMatchObject({ nationalities: ['RU'], screening: { decision: 'hit' }, observed: { country: '' } });
    const csv = ms(['audit', 'list', '--log', logDir, '--log-key', vkey, '--csv']);
    expect(csv.code, csv.stderr).toBe(0);
    const [head, ...rows] = csv.stdout.trimEnd().split('\r\n');
    const cols = head!.split(',');
    const at = (row: string, c: string) => row.split(',')[cols.indexOf(c)];
    expect(cols.slice(16, 20)).toEqual(['model', 'nationalities', 'observed', 'screening']);
    expect(rows.map((r) => [at(r, 'nationalities'), at(r, 'observed'), at(r, 'screening')])).toEqual([
      ['', '', ''],
      ['DE IR', 'FR', 'clear'],
      ['RU', '', 'hit'],
    ]);
    const table = ms(['audit', 'list', '--log', logDir, '--log-key', vkey, '--nationality', 'IR']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/nationalities\s+observed\s+screening/);
    expect(table.stdout).toMatch(/DE IR\s+FR\s+clear/);
  });

  it('refuses a screening decision or a country that is none (exit 2)', () => {
    expect(list('--screening', 'maybe').code).toBe(2);
    expect(list('--screening', 'maybe').json().error.message).toMatch(
      /--screening maybe: expected clear, review or hit/,
    );
    expect(list('--nationality', 'Iran').code).toBe(2);
    expect(list('--observed-country', 'F').code).toBe(2);
  });
});
