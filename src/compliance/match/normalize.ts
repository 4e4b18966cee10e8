/**
 * Names to comparable tokens: Unicode NFKC, transliteration to ASCII (any-ascii; CJK and Hangul one
 * syllable a token), case folding, punctuation, dotted initialisms, number words, and company forms
 * collapsed to one canonical weak token. docs/SCREENING.md, "Normalisation".
 */
import anyAscii from 'any-ascii';
import forms from './data/forms.json' with { type: 'json' };
import honorifics from './data/honorifics.json' with { type: 'json' };
import numbers from './data/numbers.json' with { type: 'json' };
import { spellingSimilarity } from './similarity.js';

/** What a token is: it decides the token's weight and how it may align. */
export const TokenKind = {
  Word: 0,
  /** A legal form (canonical: "llc", "jsc", "ltd"...): weak. */
  Form: 1,
  Honorific: 2,
  Particle: 3,
  Number: 4,
  Initial: 5,
} as const;
export type TokenKind = (typeof TokenKind)[keyof typeof TokenKind];

/** The tokens of one name, and whether it was written in an abjad (Arabic, Hebrew: vowels mostly unwritten). */
export interface NormalizedName {
  tokens: string[];
  abjad: boolean;
}

const FORM_BY_PHRASE = new Map<string, string>();
let longestForm = 1;
for (const [canonical, variants] of Object.entries(forms.forms))
  for (const v of variants) {
    FORM_BY_PHRASE.set(v, canonical);
    longestForm = Math.max(longestForm, v.split(' ').length);
  }
// The first words of multi-word forms: only these start a longer lookup.
const FORM_STARTS = new Set([...FORM_BY_PHRASE.keys()].filter((v) => v.includes(' ')).map((v) => v.split(' ')[0]!));
/** Canonical forms; also words that are forms only at a name's edge ("sa", "as", "co" are name parts too). */
export const FORM_TOKENS = new Set(Object.keys(forms.forms));
const EDGE_ONLY = new Set([
  'as',
  'ab',
  'ao',
  'sa',
  'pt',
  'kk',
  'na',
  'co',
  'sl',
  'oy',
  'kg',
  'nv',
  'bv',
  'ag',
  'lp',
  'tov',
  'too',
]);
// Forms that lists glue onto a name ("SiemensAG"), and long form words that survive a typo ("Aktiengeselschaft").
const GLUED = ['ag', 'gmbh', 'llc', 'ltd', 'inc', 'plc', 'corp', 'ooo', 'oao', 'ojsc', 'jsc'];
const LONG_FORM_WORDS = [...FORM_BY_PHRASE.keys()].filter((v) => !v.includes(' ') && v.length >= 8);
const HONORIFICS = new Set(honorifics.honorifics);
const PARTICLES = new Set(honorifics.particles);
const UNITS = new Map(Object.entries(numbers.units));
const TENS = new Map(Object.entries(numbers.tens));

// Scripts written one syllable a character: transliterated syllable by syllable so that "XiJinPing" splits.
const SYLLABIC = /[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]/u;
const ABJAD = /[\u0590-\u05ff\u0600-\u06ff\u0750-\u077f\ufb1d-\ufdff\ufe70-\ufeff]/u;

function transliterate(text: string): string {
  // eslint-disable-next-line no-control-regex -- ASCII is the common case and needs no transliteration
  if (/^[\x00-\x7f]*$/.test(text)) return text;
  let out = '';
  for (const ch of text) out += SYLLABIC.test(ch) ? ` ${anyAscii(ch)} ` : ch;
  return anyAscii(out);
}

/** The kind of a normalised token. */
export function tokenKind(token: string): TokenKind {
  if (FORM_TOKENS.has(token)) return TokenKind.Form;
  if (/^[0-9]+$/.test(token)) return TokenKind.Number;
  if (HONORIFICS.has(token)) return TokenKind.Honorific;
  if (PARTICLES.has(token)) return TokenKind.Particle;
  if (token.length === 1) return TokenKind.Initial;
  return TokenKind.Word;
}

function cleanText(name: string): string {
  return (
    transliterate(name.normalize('NFKC'))
      .toLowerCase()
      .replace(/&/g, ' and ')
      .replace(/['`\u2018\u2019\u02bc]/g, '')
      // "A.B.C." and "S.A." are one token; "A. Khamenei" keeps its initial.
      .replace(/\b(?:[a-z]\.){2,}/g, (m) => m.replace(/\./g, ''))
      .replace(/\b([a-z])\.([a-z])\b/g, '$1$2')
      .replace(/[^a-z0-9]+/g, ' ')
      // "1st", "2nd": an ordinal number is its number.
      .replace(/\b([0-9]+)(?:st|nd|rd|th)\b/g, '$1')
      .trim()
  );
}

// Number words to digits: "forty four", "forty 4" and "44" are one number.
function numberWords(words: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    const tens = TENS.get(w);
    if (tens !== undefined) {
      const next = words[i + 1] ?? '';
      const unit = UNITS.get(next) ?? (/^[1-9]$/.test(next) ? Number(next) : undefined);
      if (unit !== undefined && unit < 10) {
        out.push(String(tens + unit));
        i++;
      } else out.push(String(tens));
      continue;
    }
    const unit = UNITS.get(w);
    out.push(unit !== undefined ? String(unit) : w);
  }
  return out;
}

function formWord(word: string): string | undefined {
  const exact = FORM_BY_PHRASE.get(word);
  if (exact !== undefined || word.length < 8) return exact;
  const near = LONG_FORM_WORDS.find((v) => v.startsWith(word.slice(0, 1)) && spellingSimilarity(v, word) >= 0.9);
  return near === undefined ? undefined : FORM_BY_PHRASE.get(near);
}

function unglue(words: string[]): string[] {
  return words.flatMap((w) => {
    const form = GLUED.find((f) => w.length >= f.length + 4 && w.endsWith(f));
    return form ? [w.slice(0, -form.length), form] : [w];
  });
}

// Multi-word company forms ("limited liability company", "s a de c v") become their canonical token;
// in a person's name only unambiguous ones ("Maduro LLC"), never "as", "sa", "pt" (name parts too).
function collapseForms(words: string[], person: boolean): string[] {
  const out: string[] = [];
  for (let i = 0; i < words.length;) {
    let taken = 0;
    const longest = FORM_STARTS.has(words[i]!) ? Math.min(longestForm, words.length - i) : 1;
    for (let n = longest; n >= 1 && !taken; n--) {
      const canonical = n === 1 ? formWord(words[i]!) : FORM_BY_PHRASE.get(words.slice(i, i + n).join(' '));
      if (canonical === undefined) continue;
      const edge = i === 0 || i + n === words.length;
      if (n === 1 && EDGE_ONLY.has(words[i]!) && (person || !edge || words.length < 2)) continue;
      out.push(canonical);
      taken = n;
    }
    if (!taken) out.push(words[i++]!);
    else i += taken;
  }
  return out;
}

/** The most tokens of a name the matcher compares; the rest is ignored (alignment grows with the square). */
export const MAX_TOKENS = 24;
/** The most characters of a name read. */
const MAX_CHARS = 1000;

/** A name as the matcher compares it; `person` when it is known to name a person (fewer words are forms). */
export function normalizeName(name: string, person = false): NormalizedName {
  const words = numberWords(
    cleanText(name.slice(0, MAX_CHARS))
      .split(' ')
      .filter(Boolean)
      .slice(0, 4 * MAX_TOKENS),
  );
  const tokens = collapseForms(person ? words : unglue(words), person).slice(0, MAX_TOKENS);
  return { tokens, abjad: ABJAD.test(name) };
}
