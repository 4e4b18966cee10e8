/**
 * Token similarity: edit distance (with transpositions), a consonant skeleton that survives
 * transliteration variants (Qaddafi/Gaddafi, Xi/Shi, Husayn/Hussein), and hypocorisms (Bibi/Benjamin).
 * docs/SCREENING.md, "Scoring".
 */
import nicknames from './data/nicknames.json' with { type: 'json' };

const NICKNAMES = new Map<string, Set<string>>();
for (const [full, short] of Object.entries(nicknames.nicknames))
  for (const s of short) {
    (NICKNAMES.get(s) ?? NICKNAMES.set(s, new Set()).get(s)!).add(full);
    (NICKNAMES.get(full) ?? NICKNAMES.set(full, new Set()).get(full)!).add(s);
  }

/** The similarity a skeleton or nickname match counts as: a likely variant, not the same spelling. */
export const VARIANT_SIMILARITY = 0.85;
/** A one-consonant syllable written two ways ("Xi"/"Shi"). */
export const SHORT_VARIANT_SIMILARITY = 0.8;
/** A contraction ("Intl") against the word it contracts. */
export const CONTRACTION_SIMILARITY = 0.8;

// Three rows of the distance table, reused: similarity runs millions of times per batch.
let rows = [new Int32Array(64), new Int32Array(64), new Int32Array(64)];

/** Optimal-string-alignment distance: Levenshtein plus adjacent transpositions ("Anglea"/"Angela"). */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  const m = a.length;
  const n = b.length;
  if (rows[0]!.length <= n) rows = [0, 1, 2].map(() => new Int32Array(2 * n + 2));
  let [prev2, prev, cur] = rows as [Int32Array, Int32Array, Int32Array];
  for (let j = 0; j <= n; j++) prev[j] = j;
  for (let i = 1; i <= m; i++) {
    cur[0] = i;
    const ai = a.charCodeAt(i - 1);
    for (let j = 1; j <= n; j++) {
      const bj = b.charCodeAt(j - 1);
      let d = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (ai === bj ? 0 : 1));
      if (i > 1 && j > 1 && ai === b.charCodeAt(j - 2) && a.charCodeAt(i - 2) === bj)
        d = Math.min(d, prev2[j - 2]! + 1);
      cur[j] = d;
    }
    [prev2, prev, cur] = [prev, cur, prev2];
  }
  return prev[n]!;
}

/** Jaro-Winkler similarity (prefix scale 0.1, up to 4 letters). */
export function jaroWinkler(a: string, b: string): number {
  if (a === b) return 1;
  const window = Math.max(0, Math.floor(Math.max(a.length, b.length) / 2) - 1);
  const usedB = new Uint8Array(b.length);
  const matchedA: number[] = [];
  for (let i = 0; i < a.length; i++)
    for (let j = Math.max(0, i - window); j < Math.min(b.length, i + window + 1); j++)
      if (!usedB[j] && a[i] === b[j]) {
        usedB[j] = 1;
        matchedA.push(i);
        break;
      }
  const m = matchedA.length;
  if (m === 0) return 0;
  let transpositions = 0;
  let k = 0;
  for (let j = 0; j < b.length; j++) if (usedB[j]) transpositions += a[matchedA[k++]!] === b[j] ? 0 : 1;
  const jaro = (m / a.length + m / b.length + (m - transpositions / 2) / m) / 3;
  let prefix = 0;
  while (prefix < 4 && a[prefix] !== undefined && a[prefix] === b[prefix]) prefix++;
  return jaro + prefix * 0.1 * (1 - jaro);
}

/** How much of the spelling similarity is Jaro-Winkler (kind to a shared start) rather than edit distance. */
const JARO_WINKLER_SHARE = 0.5;

/** Edit-distance similarity (1 minus the distance over the longer length), raised halfway to a higher Jaro-Winkler. */
export function spellingSimilarity(a: string, b: string): number {
  const longer = Math.max(a.length, b.length);
  const lev = longer === 0 ? 1 : 1 - editDistance(a, b) / longer;
  return lev * (1 - JARO_WINKLER_SHARE) + JARO_WINKLER_SHARE * Math.max(lev, jaroWinkler(a, b));
}

// Memoised skeletons and similarities: the same tokens meet again and again across candidates and queries.
const MEMO_LIMIT = 500_000;
const SKELETONS = new Map<string, string>();
const SIMILARITIES = [0, 1, 2, 3].map(() => new Map<string, Map<string, number>>());
let memoised = 0;

/**
 * The consonant skeleton of a token: letters that transliterations write differently fall into one
 * class, doubled letters and vowels (with y, h) drop.
 */
export function skeleton(token: string): string {
  let k = SKELETONS.get(token);
  if (k === undefined) {
    if (SKELETONS.size > MEMO_LIMIT) SKELETONS.clear();
    k = skeletonOf(token);
    SKELETONS.set(token, k);
  }
  return k;
}

function skeletonOf(token: string): string {
  // A short syllable's initial r and l are one sound in Korean and Japanese romanisations (Ri/Li, Ra/La).
  const t = token.length <= 3 ? token.replace(/^r/, 'l') : token;
  return consonants(t.replace(/(.)\1+/g, '$1').replace(/^gi(?=[aeou])/, 'y'));
}

function consonants(s: string): string {
  return s
    .replace(/^x/, 's')
    .replace(/x/g, 'ks')
    .replace(/sch/g, 's')
    .replace(/tch|dzh|dj|zh|ch/g, 'j')
    .replace(/sh|hs|tz|ts|z|c(?=[eiy])/g, 's')
    .replace(/kh|gh|ck|q|c|g/g, 'k')
    .replace(/ph|v|w/g, 'f')
    .replace(/th|d/g, 't')
    .replace(/b/g, 'p')
    .replace(/[aeiouyh]/g, '');
}

/**
 * The skeletons of a token as an abjad (Arabic, Hebrew) may have written it: those scripts leave
 * most vowels out and use w/v/y for long vowels, so runs collapse again, w and a medial v may be a
 * vowel or a consonant, j may be a y, "dh" may be read d or z, and an article "l"/"al" may be glued on.
 */
export function abjadSkeletons(token: string): string[] {
  const base = token.replace(/(.)\1+/g, '$1');
  const spellings = new Set([base]);
  const alter = (f: (t: string) => string) => [...spellings].forEach((t) => spellings.add(f(t)));
  alter((t) => t.replace(/^[vw]/, 'b').replace(/(?<!^)[vw]/g, ''));
  alter((t) => t.replace(/v/g, 'b'));
  alter((t) => t.replace(/j/g, 'y'));
  alter((t) => t.replace(/dh/g, 'z'));
  alter((t) => (/^a?l[^aeiou]{3}/.test(t) ? t.replace(/^a?l/, '') : t));
  const out = new Set<string>();
  for (const t of spellings) {
    const k = consonants(t).replace(/(.)\1+/g, '$1');
    if (k.length >= 2) out.add(k);
  }
  return [...out];
}

/** Whether the shorter token contracts the longer ("intl"/"international"): same first letter, letters in order. */
export function isContraction(short: string, long: string): boolean {
  if (short.length < 3 || short.length > 5 || long.length < 2 * short.length || long.startsWith(short)) return false;
  if (!long.startsWith(short.slice(0, 1))) return false;
  let k = 0;
  for (const ch of long) if (ch === short[k]) k++;
  return k === short.length;
}

function abjadAgree(a: string, b: string): boolean {
  const ka = abjadSkeletons(a);
  if (ka.length === 0) return a.length <= 3 && b.length <= 3 && skeleton(a) === skeleton(b) && skeleton(a) !== '';
  return abjadSkeletons(b).some((k) => ka.includes(k));
}

/** Whether two tokens are a name and its hypocorism in the curated table (data/nicknames.json). */
export function isNickname(a: string, b: string): boolean {
  return NICKNAMES.get(a)?.has(b) ?? false;
}

/** The hypocorisms or full forms of a given name in the curated table. */
export function nicknamesOf(token: string): string[] {
  return [...(NICKNAMES.get(token) ?? [])];
}

/** How alike two word tokens are, 0–1. Numbers are alike only when equal. */
export function tokenSimilarity(a: string, b: string, abjad: boolean, whole = true): number {
  if (a === b) return 1;
  // Nested maps, one per flag combination: no key string to build on the hot path.
  const memo = SIMILARITIES[(abjad ? 2 : 0) + (whole ? 1 : 0)]!;
  let row = memo.get(a);
  if (row === undefined) {
    row = new Map();
    memo.set(a, row);
  }
  let s = row.get(b);
  if (s === undefined) {
    if (++memoised > MEMO_LIMIT) {
      for (const m of SIMILARITIES) m.clear();
      memoised = 0;
    }
    s = similarityOf(a, b, abjad, whole);
    row.set(b, s);
  }
  return s;
}

function similarityOf(a: string, b: string, abjad: boolean, whole: boolean): number {
  if (/^[0-9]/.test(a) || /^[0-9]/.test(b)) return 0;
  const spelling = spellingSimilarity(a, b);
  if (isNickname(a, b)) return Math.max(spelling, VARIANT_SIMILARITY);
  if (whole && (isContraction(a, b) || isContraction(b, a))) return Math.max(spelling, CONTRACTION_SIMILARITY);
  // An abjad spelling has few letters besides its consonants; its skeletons are the best evidence.
  if (abjad) return abjadAgree(a, b) ? Math.max(spelling, VARIANT_SIMILARITY) : spelling;
  const ka = skeleton(a);
  if (ka !== skeleton(b)) return spelling;
  if (spelling >= 0.3 && ka.length >= 2) return Math.max(spelling, VARIANT_SIMILARITY);
  // Short syllables ("Xi"/"Shi"/"Hsi") have a one-letter skeleton: weaker evidence.
  // A vowel syllable ("Yo"/"Yeo") has none: then the first letters must agree.
  const short = a.length <= 3 && b.length <= 3 && (ka.length === 1 || (ka === '' && b.startsWith(a.slice(0, 1))));
  if (short) return Math.max(spelling, SHORT_VARIANT_SIMILARITY);
  return spelling;
}
