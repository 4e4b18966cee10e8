/**
 * Aligning two names token by token and scoring the alignment: the best pairs first (a token, two
 * joined tokens, or initials against the words they abbreviate), each used once; the score is the
 * weighted share of the names the pairs cover, with unpaired tokens on both sides counted as a
 * conflict. docs/SCREENING.md, "Scoring".
 */
import { TokenKind, tokenKind } from './normalize.js';
import { tokenSimilarity } from './similarity.js';

/** A name's tokens with their weights (docs/SCREENING.md, "Tokens and weights"). */
export interface WeightedName {
  tokens: string[];
  weights: number[];
  abjad: boolean;
}

/** Query tokens against entity tokens (indexes), their similarity, and the weight they carry. */
export interface AlignedPair {
  q: number[];
  e: number[];
  similarity: number;
  /** Half the pair's mass: the entity tokens' weight. */
  weight: number;
  how: 'token' | 'joined' | 'initials';
}

export interface NameAlignment {
  score: number;
  pairs: AlignedPair[];
  features: { feature: string; value: number; detail?: string }[];
}

/** The tuning of the alignment score; fixed, documented in docs/SCREENING.md. */
export const ALIGN = Object.freeze({
  /** Below this similarity two tokens do not pair (they remain unpaired, and may conflict). */
  pairMin: 0.8,
  /** How steeply a pair's credit falls with its spelling distance: credit = 1 - fuzz × (1 - similarity). */
  fuzz: 1,
  /** Joined tokens ("Siemens AG"/"SiemensAG") pair from this similarity. */
  joinMin: 0.8,
  /** An initial against the word it may abbreviate. */
  initialSimilarity: 0.8,
  /** Unpaired tokens on both sides: different names where the other paired (a conflict). */
  conflict: 4,
  /** Unpaired tokens on one side only: extra middle names, a patronymic, a title. */
  extra: 0.5,
  /** The highest score a pair of names with differing numbers can have: review, never hit. */
  numberCap: 0.85,
  /** A name paired only on initials, forms and particles is scaled by this. */
  noSubstance: 0.5,
});

const isInitial = (t: string) => t.length === 1 && /[a-z]/.test(t);
const isNumber = (t: string) => /^[0-9]/.test(t);

function singlePair(q: string, e: string, abjad: boolean): number {
  if (isNumber(q) || isNumber(e)) return q === e ? 1 : 0;
  if (isInitial(q) || isInitial(e))
    return q === e
      ? 1
      : q.length === 1
        ? e.startsWith(q)
          ? ALIGN.initialSimilarity
          : 0
        : q.startsWith(e)
          ? ALIGN.initialSimilarity
          : 0;
  return tokenSimilarity(q, e, abjad);
}

// Every pairing worth considering: token against token, joined tokens against one, initials against words.
function candidatePairs(q: WeightedName, e: WeightedName): AlignedPair[] {
  const out: AlignedPair[] = [];
  const abjad = q.abjad || e.abjad;
  const add = (qi: number[], ej: number[], similarity: number, how: AlignedPair['how']) => {
    const weight = ej.reduce((s, j) => s + e.weights[j]!, 0);
    out.push({ q: qi, e: ej, similarity, weight, how });
  };
  for (let i = 0; i < q.tokens.length; i++)
    for (let j = 0; j < e.tokens.length; j++) {
      const s = singlePair(q.tokens[i]!, e.tokens[j]!, abjad);
      if (s >= ALIGN.pairMin) add([i], [j], s, 'token');
    }
  for (const [a, b, flip] of [
    [q, e, false],
    [e, q, true],
  ] as const)
    for (let i = 0; i < a.tokens.length; i++)
      for (let n = 2; n <= 4 && i + n <= a.tokens.length; n++) {
        const span = Array.from({ length: n }, (_, k) => i + k);
        const parts = span.map((k) => a.tokens[k]!);
        const joined = parts.join('');
        const initials = parts.map((t) => t[0]).join('');
        for (let j = 0; j < b.tokens.length; j++) {
          const t = b.tokens[j]!;
          // Cheap check first: a joined span pairs only with a token of about its length.
          const unlike = !abjad && Math.abs(joined.length - t.length) > 0.3 * t.length;
          if (isNumber(t) || (unlike && initials !== t)) continue;
          let s = n <= 3 ? tokenSimilarity(joined, t, abjad, false) : 0;
          let how: AlignedPair['how'] = 'joined';
          if (s < ALIGN.joinMin && t === initials) [s, how] = [ALIGN.initialSimilarity, 'initials'];
          if (s < ALIGN.joinMin && how !== 'initials') continue;
          if (flip) add([j], span, s, how);
          else add(span, [j], s, how);
        }
      }
  return out;
}

function greedy(candidates: AlignedPair[], nq: number, ne: number): AlignedPair[] {
  candidates.sort((x, y) => y.similarity - x.similarity || y.weight - x.weight);
  const usedQ = new Uint8Array(nq);
  const usedE = new Uint8Array(ne);
  const chosen: AlignedPair[] = [];
  for (const c of candidates) {
    if (c.q.some((i) => usedQ[i]) || c.e.some((j) => usedE[j])) continue;
    for (const i of c.q) usedQ[i] = 1;
    for (const j of c.e) usedE[j] = 1;
    chosen.push(c);
  }
  return chosen;
}

const isSubstantive = (t: string) => tokenKind(t) === TokenKind.Word;

/** Aligns a query name with an entity name and scores the alignment, 0–1. */
export function alignNames(q: WeightedName, e: WeightedName): NameAlignment {
  const pairs = greedy(candidatePairs(q, e), q.tokens.length, e.tokens.length);
  const pairedQ = new Set(pairs.flatMap((p) => p.q));
  const pairedE = new Set(pairs.flatMap((p) => p.e));
  let mass = 0;
  let covered = 0;
  let substance = 0;
  for (const p of pairs) {
    mass += 2 * p.weight;
    covered += 2 * p.weight * Math.max(0, 1 - ALIGN.fuzz * (1 - p.similarity));
    if (p.how !== 'initials' && p.e.some((j) => isSubstantive(e.tokens[j]!) && !isInitial(e.tokens[j]!))) substance++;
  }
  const leftover = (n: WeightedName, paired: Set<number>) =>
    n.tokens.reduce((s, t, i) => (paired.has(i) || isNumber(t) ? s : s + n.weights[i]!), 0);
  const lq = leftover(q, pairedQ);
  const le = leftover(e, pairedE);
  const conflict = lq > 0 && le > 0;
  const denominator = mass + (conflict ? ALIGN.conflict : ALIGN.extra) * (lq + le);
  let score = denominator > 0 ? covered / denominator : 0;
  // The features add up to the score: the paired part's similarity, then what lowered it.
  const paired = mass > 0 ? covered / mass : 0;
  const features: NameAlignment['features'] = [{ feature: 'name', value: round(paired) }];
  if (lq + le > 0)
    features.push({
      feature: conflict ? 'conflicting tokens' : 'extra tokens',
      value: round(score - paired),
      detail: `unpaired weight ${round(lq)} query, ${round(le)} entity`,
    });
  if (substance === 0 && score > 0) {
    features.push({ feature: 'no substantive token', value: round(-score * (1 - ALIGN.noSubstance)) });
    score *= ALIGN.noSubstance;
  }
  const unpairedNumber =
    q.tokens.some((t, i) => isNumber(t) && !pairedQ.has(i)) || e.tokens.some((t, j) => isNumber(t) && !pairedE.has(j));
  if (unpairedNumber && score > ALIGN.numberCap) {
    features.push({ feature: 'numbers differ', value: round(ALIGN.numberCap - score) });
    score = ALIGN.numberCap;
  }
  return { score, pairs, features };
}

/** Rounds to 3 decimals, as scores and feature values are reported. */
export function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
