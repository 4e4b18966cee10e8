/**
 * Candidate generation: the list's tokens a query token may stand for (itself, spellings within a
 * deletion of each other, the same consonant skeleton, a hypocorism, query tokens joined or split),
 * then the names holding them, ranked by the weight they share with the query. Only the best ranked
 * names are aligned and scored. docs/SCREENING.md, "Candidates".
 */
import { ALIGN } from './align.js';
import { TokenKind, tokenKind } from './normalize.js';
import { nicknamesOf, skeleton, tokenSimilarity } from './similarity.js';
import type { NameStore } from './store.js';

/** How many names, best ranked, are aligned and scored per query. */
export const CANDIDATES = 64;
/** A token held by more names than this is not followed when the query has rarer tokens. */
const COMMON_POSTINGS = 50_000;

function deletions(token: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < token.length; i++) out.push(token.slice(0, i) + token.slice(i + 1));
  return out;
}

const push = <K>(map: Map<K, number[]>, key: K, v: number) => {
  const list = map.get(key);
  if (list) list.push(v);
  else map.set(key, [v]);
};

/** Token-level lookup structures over a store's vocabulary, built on first use. */
export class VocabularyIndex {
  private deletes = new Map<string, number[]>();
  private skeletons = new Map<string, number[]>();
  private abjadSkeletons: Map<string, number[]> | undefined;

  constructor(private store: NameStore) {
    store.tokenText.forEach((t, id) => {
      if (tokenKind(t) !== TokenKind.Word) return;
      if (t.length >= 4) for (const d of deletions(t)) push(this.deletes, d, id);
      const k = skeleton(t);
      if (k.length >= 2) push(this.skeletons, k, id);
    });
  }

  private abjad(): Map<string, number[]> {
    if (!this.abjadSkeletons) {
      this.abjadSkeletons = new Map();
      this.store.tokenText.forEach((t, id) => {
        const k = tokenKind(t) === TokenKind.Word ? skeleton(t, true) : '';
        if (k.length >= 2) push(this.abjadSkeletons!, k, id);
      });
    }
    return this.abjadSkeletons;
  }

  /** The list tokens a query token may stand for, with their similarity. */
  variants(token: string, abjad: boolean): Map<number, number> {
    const found = new Map<number, number>();
    const consider = (ids: number[] | undefined) => {
      for (const id of ids ?? []) {
        if (found.has(id)) continue;
        const s = tokenSimilarity(token, this.store.tokenText[id]!, abjad);
        if (s >= ALIGN.pairMin) found.set(id, s);
      }
    };
    const exact = this.store.vocab.get(token);
    if (exact !== undefined) found.set(exact, 1);
    if (/^[0-9]/.test(token) || token.length < 2) return found;
    consider(this.deletes.get(token));
    if (token.length >= 3) for (const d of deletions(token)) consider(this.deletes.get(d) ?? idOf(this.store, d));
    consider(this.skeletons.get(skeleton(token)));
    if (abjad) consider(this.abjad().get(skeleton(token, true)));
    for (const other of nicknamesOf(token)) consider(idOf(this.store, other));
    return found;
  }
}

const idOf = (store: NameStore, t: string) => {
  const id = store.vocab.get(t);
  return id === undefined ? undefined : [id];
};

/** Names ranked by the query weight they share, best first, at most CANDIDATES. */
export function rankCandidates(store: NameStore, vocab: VocabularyIndex, tokens: string[], abjad: boolean): number[] {
  const acc = new Map<number, number>();
  const substantive = tokens.some((t) => tokenKind(t) === TokenKind.Word || tokenKind(t) === TokenKind.Number);
  const lookups: { ids: Map<number, number> }[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    const kind = tokenKind(t);
    if (kind === TokenKind.Initial || (substantive && kind !== TokenKind.Word && kind !== TokenKind.Number)) continue;
    lookups.push({ ids: vocab.variants(t, abjad) });
    // "Sergei Lavrov" against "SergeiLavrov", "Plat Ono Vich" against "Platonovich".
    for (let n = 2; n <= 3 && i + n <= tokens.length; n++) {
      const joined = tokens.slice(i, i + n).join('');
      lookups.push({ ids: vocab.variants(joined, abjad) });
    }
    // "SiemensAG" against "Siemens AG".
    for (let cut = 2; cut <= t.length - 2; cut++) {
      const a = store.vocab.get(t.slice(0, cut));
      const b = store.vocab.get(t.slice(cut));
      if (a !== undefined && b !== undefined) lookups.push({ ids: new Map([[a, 0.9]]) }, { ids: new Map([[b, 0.9]]) });
    }
  }
  const rare = lookups.some(({ ids }) => [...ids.keys()].some((id) => store.df(id) <= COMMON_POSTINGS));
  for (const { ids } of lookups)
    for (const [id, sim] of ids) {
      if (rare && store.df(id) > COMMON_POSTINGS) continue;
      const gain = sim * store.weights[id]!;
      for (let k = store.postingStart[id]!; k < store.postingStart[id + 1]!; k++) {
        const name = store.postings[k]!;
        acc.set(name, (acc.get(name) ?? 0) + gain);
      }
    }
  return [...acc.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, CANDIDATES)
    .map(([name]) => name);
}
