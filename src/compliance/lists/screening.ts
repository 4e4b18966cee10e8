/**
 * Screening against a fixed set of snapshots: one Screener over all of them, and the party
 * screening the release service asks (a recipient's name and organisation), cached per party.
 * A new set of snapshots is a new ListScreening, so the cache is per snapshot digests by construction.
 */
import { buildScreener, ScreenerBuilder } from '../match/index.js';
import type { RecipientScreening, ScreenedParty, Screener, ScreeningQuery, ScreeningResult } from '../types.js';
import { visitSnapshot, type LoadedSnapshot } from './snapshot.js';
import type { ActiveState } from './active-file.js';

/** A snapshot in force, as `screen --json` and the logs name it. */
export interface ListInForce {
  source: string;
  digest: string;
  entries: number;
}

const CACHE_LIMIT = 10_000;
const WORST = { clear: 0, review: 1, hit: 2 } as const;

/** The queries of a party: its name (a slug's "-", "_", "." as spaces) and its organisation, with its countries. */
export function partyQueries(party: ScreenedParty): ScreeningQuery[] {
  const countries = [...new Set(party.countries.map((c) => c.toUpperCase()).filter(Boolean))].sort();
  const name = party.name.replace(/[-_.]+/g, ' ').trim();
  const queries: ScreeningQuery[] = [];
  if (name) queries.push({ id: 'name', name, type: 'any', countries });
  if (party.org.trim()) queries.push({ id: 'org', name: party.org.trim(), type: 'any', countries });
  return queries;
}

/** The logged form of a party's results: the worst decision, and the best match with its score as "0.912". */
export function summarise(results: ScreeningResult[]): Pick<RecipientScreening, 'decision' | 'best'> {
  let decision: RecipientScreening['decision'] = 'clear';
  let best: RecipientScreening['best'] = null;
  let bestScore = -1;
  for (const r of results) {
    if (WORST[r.decision] > WORST[decision]) decision = r.decision;
    for (const m of r.matches)
      if (m.score > bestScore) {
        bestScore = m.score;
        best = { entity: m.entity.id, source: m.entity.source, name: m.entity.name, score: m.score.toFixed(3) };
      }
  }
  return { decision, best };
}

/** Screening over one set of snapshots. */
export class ListScreening {
  readonly screener: Screener;
  /** The snapshots in force, by source. */
  readonly lists: readonly ListInForce[];
  /** "<source>@sha256:<hex>", sorted: what a log entry names. */
  readonly listIds: readonly string[];
  readonly #cache = new Map<
    string,
    { results: ScreeningResult[]; summary: Pick<RecipientScreening, 'decision' | 'best'> }
  >();

  private constructor(screener: Screener, lists: ListInForce[]) {
    this.screener = screener;
    this.lists = [...lists].sort((a, b) => (a.source < b.source ? -1 : 1));
    this.listIds = this.lists.map((s) => `${s.source}@${s.digest}`).sort();
  }

  /** Screening over snapshots read whole (`screen --list`: files read in memory, nothing written). */
  static of(snapshots: LoadedSnapshot[]): ListScreening {
    const screener = buildScreener(snapshots.map((s) => ({ source: s.source, entities: s.entities })));
    return new ListScreening(
      screener,
      snapshots.map((s) => ({ source: s.source, digest: s.digest, entries: s.entities.length })),
    );
  }

  /**
   * Loads the snapshots `state` names, each streamed into the index without being held whole (a
   * million entities fit the service's memory: bench/README.md, "screening"). `reuse` is returned
   * as it is when it screens the same snapshots.
   */
  static async load(data: string, state: ActiveState, reuse?: ListScreening): Promise<ListScreening> {
    const wanted = Object.entries(state.sources).map(([source, s]) => `${source}@${s.digest}`);
    if ([...wanted].sort().join() === reuse?.listIds.join()) return reuse;
    const builder = new ScreenerBuilder();
    const lists: ListInForce[] = [];
    for (const [source, s] of Object.entries(state.sources)) {
      builder.source(source);
      const facts = await visitSnapshot(data, s.digest, (e) => builder.add(e));
      lists.push({ source, digest: s.digest, entries: facts.entries });
    }
    return new ListScreening(builder.build(), lists);
  }

  /** Screens one query. */
  screen(query: ScreeningQuery, limit?: number): ScreeningResult {
    return this.screener.screen(query, limit === undefined ? undefined : { limit });
  }

  #party(party: ScreenedParty) {
    const queries = partyQueries(party);
    const key = JSON.stringify(queries);
    let hit = this.#cache.get(key);
    if (!hit) {
      const results = queries.map((q) => this.screener.screen(q));
      hit = { results, summary: summarise(results) };
      if (this.#cache.size >= CACHE_LIMIT) this.#cache.clear();
      this.#cache.set(key, hit);
    }
    return hit;
  }

  /** The party's decision and best match (cached per party). */
  screenParty(party: ScreenedParty): Pick<RecipientScreening, 'decision' | 'best'> {
    return this.#party(party).summary;
  }

  /** The party's full results, name then organisation. */
  explainParty(party: ScreenedParty): ScreeningResult[] {
    return this.#party(party).results;
  }
}
