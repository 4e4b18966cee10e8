/**
 * The name matcher: an index over list entities that screens queries. PLACEHOLDER until the matcher
 * lands: exact equality of case-folded, whitespace-collapsed names only. docs/SCREENING.md.
 */
import type { ListEntity, Screener, ScreeningMatch, ScreeningQuery, ScreeningResult } from '../types.js';

/** One snapshot's entities, under the source name results report. */
export interface ScreenerSource {
  source: string;
  entities: Iterable<ListEntity>;
}

export const REVIEW_THRESHOLD = 0.7;
export const HIT_THRESHOLD = 0.9;

const fold = (s: string) => s.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim();

export function buildScreener(sources: ScreenerSource[]): Screener {
  const byName = new Map<string, { e: ListEntity; source: string; name: string }[]>();
  for (const { source, entities } of sources)
    for (const e of entities)
      for (const name of [...e.names, ...e.aliases]) {
        const k = fold(name);
        const list = byName.get(k) ?? [];
        list.push({ e, source, name });
        byName.set(k, list);
      }
  return {
    screen(query: ScreeningQuery, options?: { limit?: number }): ScreeningResult {
      const found = byName.get(fold(query.name)) ?? [];
      const matches: ScreeningMatch[] = found.slice(0, options?.limit ?? 10).map(({ e, source, name }) => ({
        entity: { id: e.id, name: e.names[0] ?? name, schema: e.schema, source },
        score: 1,
        decision: 'hit',
        explanation: { matched: name, nameKind: 'name', tokens: [], features: [{ feature: 'exact', value: 1 }] },
      }));
      return { id: query.id ?? '1', query, decision: matches.length ? 'hit' : 'clear', matches };
    },
  };
}
