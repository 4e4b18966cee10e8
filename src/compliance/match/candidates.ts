/**
 * Candidate generation: the list's tokens a query token may stand for (itself, spellings within a
 * deletion of each other, the same consonant skeleton, a hypocorism, query tokens joined or split),
 * then the names holding them, ranked by the weight they share with the query. Only the best ranked
 * names are aligned and scored. docs/SCREENING.md, "Candidates".
 */
import { ALIGN } from './align.js';
import { TokenKind, tokenKind } from './normalize.js';
import { abjadSkeletons, nicknamesOf, skeleton, tokenSimilarity } from './similarity.js';
import type { NameStore } from './store.js';

/** How many names, best ranked, are aligned and scored per query. */
export const CANDIDATES = 32;
/** A token held by more names than this is not followed when the query has rarer tokens. */
const COMMON_POSTINGS = 50_000;

/** Whether two tokens' lengths leave room for a pairing similarity (cheap, before computing it). */
export function comparableLengths(a: string, b: string): boolean {
  return Math.abs(a.length - b.length) <= Math.max(2, 0.4 * Math.max(a.length, b.length));
}

function deletions(token: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < token.length; i++) out.push(token.slice(0, i) + token.slice(i + 1));
  return out;
}

// A key's token ids: one number for the common single id, an array from the second on.
type Ids = number | number[];
const push = (map: Map<string, Ids>, key: string, v: number) => {
  const ids = map.get(key);
  if (ids === undefined) map.set(key, v);
  else if (typeof ids === 'number') map.set(key, ids === v ? ids : [ids, v]);
  else if (ids[ids.length - 1] !== v) ids.push(v);
};
const idList = (ids: Ids | undefined): readonly number[] =>
  ids === undefined ? [] : typeof ids === 'number' ? [ids] : ids;

/** Token-level lookup structures over a store's vocabulary, built on first use. */
export class VocabularyIndex {
  private deletes = new Map<string, Ids>();
  private skeletons = new Map<string, Ids>();
  private abjadSkeletons: Map<string, Ids> | undefined;

  private acc: Float32Array | undefined;
  private touched: Uint32Array | undefined;

  /** Per-name accumulators, zero between queries (rankCandidates resets what it touched). */
  scratch(): { acc: Float32Array; touched: Uint32Array } {
    this.acc ??= new Float32Array(this.store.nameCount);
    this.touched ??= new Uint32Array(this.store.nameCount);
    return { acc: this.acc, touched: this.touched };
  }

  constructor(private store: NameStore) {
    store.tokenText.forEach((t, id) => {
      if (tokenKind(t) !== TokenKind.Word) return;
      if (t.length >= 4) for (const d of deletions(t)) push(this.deletes, d, id);
      const k = skeleton(t);
      if (k.length >= 2) push(this.skeletons, k, id);
    });
  }

  private abjad(): Map<string, Ids> {
    if (!this.abjadSkeletons) {
      this.abjadSkeletons = new Map();
      this.store.tokenText.forEach((t, id) => {
        if (tokenKind(t) === TokenKind.Word) for (const k of abjadSkeletons(t)) push(this.abjadSkeletons!, k, id);
      });
    }
    return this.abjadSkeletons;
  }

  /** The list tokens a query token may stand for, with their similarity (`joined`: tokens joined, fewer lookups). */
  variants(token: string, abjad: boolean, joined = false): Map<number, number> {
    const found = new Map<number, number>();
    const consider = (ids: Ids | undefined, asAbjad = abjad) => {
      for (const id of idList(ids)) {
        if (found.has(id) || (!asAbjad && !comparableLengths(token, this.store.tokenText[id]!))) continue;
        const s = tokenSimilarity(token, this.store.tokenText[id]!, asAbjad);
        if (s >= ALIGN.pairMin) found.set(id, s);
      }
    };
    const exact = this.store.vocab.get(token);
    if (exact !== undefined) found.set(exact, 1);
    if (/^[0-9]/.test(token) || token.length < 2) return found;
    consider(this.deletes.get(token));
    const once = token.length >= 3 ? deletions(token) : [];
    for (const d of once) consider(this.deletes.get(d) ?? idOf(this.store, d));
    // Long tokens survive two typos ("Rosoboroneksport"/"Rosoboronexport").
    if (token.length >= 8 && !joined) for (const d of new Set(once.flatMap(deletions))) consider(this.deletes.get(d));
    consider(this.skeletons.get(skeleton(token)));
    // Either side may be the abjad spelling: the query, or names the list prints in Arabic or Hebrew.
    if (abjad || this.store.abjadNames) for (const k of abjadSkeletons(token)) consider(this.abjad().get(k), true);
    for (const other of nicknamesOf(token)) consider(idOf(this.store, other));
    return found;
  }
}

const idOf = (store: NameStore, t: string) => store.vocab.get(t);

/** Names ranked by the query weight they share, best first: at most CANDIDATES, none sharing less than `floor`. */
export function rankCandidates(
  store: NameStore,
  vocab: VocabularyIndex,
  tokens: string[],
  abjad: boolean,
  floor: number,
): number[] {
  const lookups = tokenLookups(store, vocab, tokens, abjad);
  const rare = lookups.some((ids) => [...ids.keys()].some((id) => store.df(id) <= COMMON_POSTINGS));
  const { acc, touched } = vocab.scratch();
  let count = 0;
  for (const ids of lookups)
    for (const [id, sim] of ids) {
      if (rare && store.df(id) > COMMON_POSTINGS) continue;
      const gain = sim * store.weights[id]!;
      for (let k = store.postingStart[id]!; k < store.postingStart[id + 1]!; k++) {
        const name = store.postings[k]!;
        if (acc[name] === 0) touched[count++] = name;
        acc[name]! += gain;
      }
    }
  const ranked: number[] = [];
  for (let i = 0; i < count; i++) if (acc[touched[i]!]! >= floor) ranked.push(touched[i]!);
  ranked.sort((a, b) => acc[b]! - acc[a]! || a - b);
  for (let i = 0; i < count; i++) acc[touched[i]!] = 0;
  return ranked.slice(0, CANDIDATES);
}

// The list tokens each query token (alone, joined with the next, or split in two) may stand for.
function tokenLookups(store: NameStore, vocab: VocabularyIndex, tokens: string[], abjad: boolean) {
  const substantive = tokens.some((t) => tokenKind(t) === TokenKind.Word || tokenKind(t) === TokenKind.Number);
  const lookups: Map<number, number>[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    const kind = tokenKind(t);
    if (kind === TokenKind.Initial || (substantive && kind !== TokenKind.Word && kind !== TokenKind.Number)) continue;
    lookups.push(vocab.variants(t, abjad));
    // "Sergei Lavrov" against "SergeiLavrov", "Plat Ono Vich" against "Platonovich".
    for (let n = 2; n <= 3 && i + n <= tokens.length; n++)
      lookups.push(vocab.variants(tokens.slice(i, i + n).join(''), abjad, true));
    // "SiemensAG" against "Siemens AG".
    for (let cut = 2; cut <= t.length - 2; cut++) {
      const a = store.vocab.get(t.slice(0, cut));
      const b = store.vocab.get(t.slice(cut));
      if (a !== undefined && b !== undefined) lookups.push(new Map([[a, 0.9]]), new Map([[b, 0.9]]));
    }
  }
  return lookups;
}
