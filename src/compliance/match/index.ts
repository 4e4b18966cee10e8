/**
 * The name matcher: an index over list entities that screens queries fuzzily and explains every
 * match. docs/SCREENING.md, "Matching".
 */
import type { ListEntity, Screener, ScreeningMatch, ScreeningQuery, ScreeningResult } from '../types.js';
import { alignNames, round, type NameAlignment, type WeightedName } from './align.js';
import { rankCandidates, VocabularyIndex } from './candidates.js';
import { normalizeName } from './normalize.js';
import { applyFeatures, qualifierFeatures } from './qualifiers.js';
import { NAME_KINDS, NameStore, SCHEMAS } from './store.js';

/** One snapshot's entities, under the source name results report. */
export interface ScreenerSource {
  source: string;
  entities: Iterable<ListEntity>;
}

/** A match scoring at least this is reported, for a person to review. */
export const REVIEW_THRESHOLD = 0.7;
/** A match scoring at least this is a hit: the party is listed. */
export const HIT_THRESHOLD = 0.9;
/** The highest score a match on a weak alias alone can have: review, never hit. */
const WEAK_ALIAS_CAP = 0.89;
/** The share of the query's token weight a name must hold (by its rough rank) to be aligned and scored. */
const CANDIDATE_FLOOR = 0.3;

interface Scored {
  entity: number;
  name: number;
  score: number;
  alignment: NameAlignment;
  features: ScreeningMatch['explanation']['features'];
}

function explain(store: NameStore, query: WeightedName, s: Scored): ScreeningMatch['explanation'] {
  const entity: WeightedName = {
    tokens: store.nameTokens(s.name),
    weights: store.nameWeights(s.name),
    abjad: false,
  };
  const tokens: ScreeningMatch['explanation']['tokens'] = s.alignment.pairs.map((p) => ({
    query: p.q.map((i) => query.tokens[i]).join(' '),
    entity: p.e.map((j) => entity.tokens[j]).join(' '),
    similarity: round(p.similarity),
    weight: round(p.weight),
  }));
  const pairedQ = new Set(s.alignment.pairs.flatMap((p) => p.q));
  const pairedE = new Set(s.alignment.pairs.flatMap((p) => p.e));
  query.tokens.forEach((t, i) => {
    if (!pairedQ.has(i)) tokens.push({ query: t, entity: '', similarity: 0, weight: round(query.weights[i]!) });
  });
  entity.tokens.forEach((t, j) => {
    if (!pairedE.has(j)) tokens.push({ query: '', entity: t, similarity: 0, weight: round(entity.weights[j]!) });
  });
  return {
    matched: store.nameText(s.name),
    nameKind: NAME_KINDS[store.nameMeta[s.name]! & 3]!,
    tokens,
    features: [...s.alignment.features, ...s.features],
  };
}

function scoreName(store: NameStore, query: ScreeningQuery, q: WeightedName, name: number): Scored {
  const meta = store.nameMeta[name]!;
  const entity = store.nameEntity[name]!;
  const alignment = alignNames(q, {
    tokens: store.nameTokens(name),
    weights: store.nameWeights(name),
    abjad: (meta & 4) !== 0,
  });
  const schema = SCHEMAS[store.entityInfo[entity]! & 0xff]!;
  const features = qualifierFeatures(query, schema, store.entityQualifiers(entity));
  let score = applyFeatures(alignment.score, features);
  if (NAME_KINDS[meta & 3] === 'weakAlias' && score > WEAK_ALIAS_CAP) {
    features.push({ feature: 'weak alias', value: round(WEAK_ALIAS_CAP - score) });
    score = WEAK_ALIAS_CAP;
  }
  return { entity, name, score, alignment, features };
}

/**
 * Builds the matcher's index one entity at a time — a snapshot streamed from disk need not be held
 * whole — then {@link ScreenerBuilder.build} seals it into a screener.
 */
export class ScreenerBuilder {
  readonly #store = new NameStore();
  #source = -1;

  /** Starts a source: the entities added after it belong to it. */
  source(name: string): void {
    this.#source = this.#store.sources.push(name) - 1;
  }

  /** Adds one entity to the current source. */
  add(e: ListEntity): void {
    if (this.#source < 0) throw new Error('ScreenerBuilder: add() before source()');
    this.#store.add(e, this.#source);
  }

  /** Seals the index; the builder is spent. */
  build(): Screener {
    this.#store.seal();
    return screenerOver(this.#store);
  }
}

/** Builds the matcher's index over the sources' entities (iterated once) and returns the screener. */
export function buildScreener(sources: ScreenerSource[]): Screener {
  const builder = new ScreenerBuilder();
  for (const { source, entities } of sources) {
    builder.source(source);
    for (const e of entities) builder.add(e);
  }
  return builder.build();
}

/** The screener over a sealed index. */
function screenerOver(store: NameStore): Screener {
  let vocab: VocabularyIndex | undefined;
  return {
    screen(query: ScreeningQuery, options?: { limit?: number }): ScreeningResult {
      vocab ??= new VocabularyIndex(store);
      const norm = normalizeName(query.name, query.type === 'person');
      const q: WeightedName = { ...norm, weights: norm.tokens.map((t) => store.queryWeight(t)) };
      const best = new Map<number, Scored>();
      // A name sharing under a third of the query's weight (of its tokens the list knows) is not aligned at all.
      const floor = CANDIDATE_FLOOR * q.weights.reduce((a, w, i) => (store.vocab.has(q.tokens[i]!) ? a + w : a), 0);
      for (const name of rankCandidates(store, vocab, norm.tokens, norm.abjad, floor)) {
        const s = scoreName(store, query, q, name);
        const prior = best.get(s.entity);
        if (!prior || s.score > prior.score) best.set(s.entity, s);
      }
      const matches: ScreeningMatch[] = [...best.values()]
        .filter((s) => s.score >= REVIEW_THRESHOLD)
        .sort((a, b) => b.score - a.score || store.entityId[a.entity]!.localeCompare(store.entityId[b.entity]!))
        .slice(0, options?.limit ?? 10)
        .map((s) => ({
          entity: {
            id: store.entityId[s.entity]!,
            name: store.entityName(s.entity),
            schema: SCHEMAS[store.entityInfo[s.entity]! & 0xff]!,
            source: store.sources[store.entityInfo[s.entity]! >>> 8]!,
          },
          score: s.score,
          decision: s.score >= HIT_THRESHOLD ? 'hit' : 'review',
          explanation: explain(store, q, s),
        }));
      const decision = matches.some((m) => m.decision === 'hit') ? 'hit' : matches.length ? 'review' : 'clear';
      return { id: query.id ?? '1', query, decision, matches };
    },
  };
}
