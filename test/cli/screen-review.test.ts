/**
 * `modelseal screen` exit codes for review (16) and for review beside hit (17), in process, with a
 * stand-in matcher: the placeholder matcher only ever says hit, and these cases are about how the
 * command reports a decision, not how the matcher reaches it.
 */
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { writeFileSync } from 'node:fs';
import type { ListEntity, ScreeningQuery } from '../../src/compliance/types.js';
import { tempDir } from '../support/fixtures.js';

vi.mock('../../src/compliance/match/index.js', () => ({
  REVIEW_THRESHOLD: 0.7,
  HIT_THRESHOLD: 0.9,
  /** Review for a query naming any listed name in lower case, hit for the exact name. */
  buildScreener: (sources: { source: string; entities: Iterable<ListEntity> }[]) => {
    const all = sources.flatMap(({ source, entities }) => [...entities].map((e) => ({ source, e })));
    return {
      screen(q: ScreeningQuery) {
        const matches = all.flatMap(({ source, e }) => {
          const exact = e.names.includes(q.name);
          if (!exact && !e.names.some((x) => x.toLowerCase() === q.name)) return [];
          const decision = exact ? ('hit' as const) : ('review' as const);
          const score = exact ? 1 : 0.75;
          const entity = { id: e.id, name: e.names[0]!, schema: e.schema, source };
          const explanation = { matched: e.names[0]!, nameKind: 'name' as const, tokens: [], features: [] };
          return [{ entity, score, decision, explanation }];
        });
        const decision = matches.some((m) => m.decision === 'hit') ? 'hit' : matches.length ? 'review' : 'clear';
        return { id: q.id ?? '1', query: q, decision, matches };
      },
    };
  },
}));

const { run } = await import('../../cli/program.js');
const OWN = join(resolve('test/fixtures/lists'), 'own-list.csv');
const dir = tempDir('modelseal-screen-review-');

/** Runs the CLI in this process with stdout and stderr captured. */
async function ms(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((c) => out.push(String(c)) > 0);
  vi.spyOn(process.stderr, 'write').mockImplementation((c) => err.push(String(c)) > 0);
  const code = await run(['node', 'modelseal', ...args]);
  vi.restoreAllMocks();
  return { code, stdout: out.join(''), stderr: err.join('') };
}

afterEach(() => vi.restoreAllMocks());

describe('screen: review and hit', () => {
  it('review alone exits 16 (SCREENING_REVIEW) with the result on stdout', async () => {
    const r = await ms(['--json', 'screen', '--list', OWN, '--name', 'acme rocket works']);
    expect(r.code).toBe(16);
    expect(JSON.parse(r.stdout)).toMatchObject({
      ok: false,
      error: { code: 'SCREENING_REVIEW', exitCode: 16 },
      decision: 'review',
      results: [{ decision: 'review', matches: [{ score: 0.75, decision: 'review', entity: { id: 'acme-1' } }] }],
    });
    const human = await ms(['screen', '--list', OWN, '--name', 'acme rocket works']);
    expect(human.code).toBe(16);
    expect(human.stderr).toMatch(/0\.750 review Acme Rocket Works[\s\S]*modelseal: error SCREENING_REVIEW: /);
  });

  it('review beside a hit in a batch exits 17; all clear exits 0', async () => {
    const batch = join(dir, 'q.jsonl');
    writeFileSync(batch, '{"name":"acme rocket works"}\n{"name":"SEA WOLF"}\n{"name":"nobody"}\n');
    const r = await ms(['--json', 'screen', '--list', OWN, '--batch', batch]);
    expect(r.code).toBe(17);
    expect(JSON.parse(r.stdout).results.map((x: { decision: string }) => x.decision)).toEqual([
      'review',
      'hit',
      'clear',
    ]);
    expect((await ms(['screen', '--list', OWN, '--name', 'nobody'])).code).toBe(0);
  });
});
