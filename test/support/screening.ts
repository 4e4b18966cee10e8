/**
 * A small PartyScreening for tests: lists of a few entities, screened by the matcher's API
 * (src/compliance/match), each list named by the SHA-256 of its entities as a snapshot is.
 */
import { createHash } from 'node:crypto';
import { buildScreener } from '../../src/compliance/match/index.js';
import type { ListEntity, PartyScreening, ScreenedParty, ScreeningResult } from '../../src/compliance/types.js';
import type { LoggedScreening } from '../../src/log/events.js';

/** A list entity with the fields a test does not care about left empty. */
export function entity(id: string, name: string, over: Partial<ListEntity> = {}): ListEntity {
  return {
    id,
    schema: 'Company',
    names: [name],
    aliases: [],
    weakAliases: [],
    countries: [],
    dob: [],
    ids: [],
    list: 'SDN',
    programs: [],
    ...over,
  };
}

export interface TestList {
  source: string;
  entities: ListEntity[];
  /** Past its maximum age. */
  stale?: boolean;
}

/** The snapshot name a list is logged under: "<source>@sha256:<hex of its entities>". */
export function listName(l: TestList): string {
  return `${l.source}@sha256:${createHash('sha256').update(JSON.stringify(l.entities)).digest('hex')}`;
}

/**
 * A PartyScreening over `lists` (replace `lists` to change them); counts its screenings, and throws
 * while `failing` (lists that cannot be read).
 */
export function testScreening(
  lists: TestList[],
): PartyScreening & { calls: number; lists: TestList[]; failing: boolean } {
  const explain = (party: ScreenedParty): ScreeningResult[] => {
    const screener = buildScreener(me.lists.map((l) => ({ source: l.source, entities: l.entities })));
    return [party.name, party.org].map((name, i) =>
      screener.screen({ id: String(i + 1), name, countries: party.countries }),
    );
  };
  const me = {
    calls: 0,
    lists,
    failing: false,
    explainParty: explain,
    screenParty(party: ScreenedParty): LoggedScreening {
      me.calls++;
      if (me.failing) throw new Error('the list snapshots cannot be read');
      const results = explain(party);
      const rank = { clear: 0, review: 1, hit: 2 } as const;
      const decision = results.map((r) => r.decision).reduce((a, b) => (rank[b] > rank[a] ? b : a), 'clear');
      const best = results
        .flatMap((r) => r.matches)
        .sort((a, b) => b.score - a.score)
        .at(0);
      return {
        decision,
        lists: me.lists.map(listName).sort(),
        stale: me.lists.filter((l) => l.stale).map((l) => l.source),
        best: best
          ? { entity: best.entity.id, source: best.entity.source, name: best.entity.name, score: best.score.toFixed(3) }
          : null,
      };
    },
  };
  return me;
}
