/**
 * What the extraction monitor reads of a prompt, computed once at admission and logged in the
 * `infer-admit` entry instead of the prompt itself: a MinHash signature of its shingles, whether it
 * asks for step-by-step reasoning, and its length in tokens. The signature is a format: the same
 * prompt gives the same signature in every process and version (docs/GATE.md, "Extraction monitoring").
 */
import type { InferFeatures } from '../types.js';
import cotData from './data/cot.json' with { type: 'json' };
import { FNV_OFFSET, fnvFeed, UNSPACED_SCRIPTS, unitHashes } from './scan.js';

/** Hashes per signature: 32 × 4 bytes = 64 hex characters per logged call. */
export const MINHASH_K = 32;
/** Units (words, or characters of unspaced scripts) per shingle. */
export const SHINGLE_UNITS = 3;

/** murmur3's 32-bit finaliser: a bijection on 32-bit words with full avalanche. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The fixed seeds of the K hash functions: seed i = fmix32(0x9e3779b9 × (i + 1)) (never change them). */
const SEEDS = Uint32Array.from({ length: MINHASH_K }, (_, i) => fmix32(Math.imul(0x9e3779b9, i + 1)));

/** FNV-1a (32-bit) over the UTF-8 bytes of `s`. */
export function fnv1a32(s: string): number {
  let h = FNV_OFFSET;
  for (const ch of s) h = fnvFeed(h, ch.codePointAt(0)!);
  return h >>> 0;
}

/** A unit: one character of an unspaced script with its marks, or a run of letters, marks and digits of any other. */
const UNIT = new RegExp(String.raw`[${UNSPACED_SCRIPTS}]\p{M}*|[[\p{L}\p{M}\p{N}]--[${UNSPACED_SCRIPTS}]]+`, 'gv');
const DIGITS = /\p{Nd}+/gu;

/** Unicode NFKC, then case folding (upper then lower case: "ß" → "ss", "ς" → "σ"). */
export function normalisePrompt(text: string): string {
  return text.normalize('NFKC').toUpperCase().toLowerCase();
}

/**
 * The units of a normalised prompt: words of spaced scripts, single characters (with their marks) of
 * unspaced ones (Chinese, Japanese, Thai...); every run of decimal digits becomes "0" so slot-filled
 * numbers match. The definition of docs/GATE.md; `promptFeatures` computes the same in one pass.
 */
export function promptUnits(normalised: string): string[] {
  const units = normalised.match(UNIT) ?? [];
  for (let i = 0; i < units.length; i++) if (/\p{Nd}/u.test(units[i]!)) units[i] = units[i]!.replace(DIGITS, '0');
  return units;
}

/** Folds one shingle's unit hashes (big-endian bytes, in order) into FNV-1a-32. */
function shingleHash(units: ArrayLike<number>, from: number, n: number): number {
  let h = 0x811c9dc5;
  for (let j = from; j < from + n; j++) {
    const u = units[j]!;
    h = Math.imul(h ^ (u >>> 24), 0x01000193);
    h = Math.imul(h ^ ((u >>> 16) & 255), 0x01000193);
    h = Math.imul(h ^ ((u >>> 8) & 255), 0x01000193);
    h = Math.imul(h ^ (u & 255), 0x01000193);
  }
  return h >>> 0;
}

/** The signature of a list of unit hashes (see `minhashUnits`). */
function signature(units: Uint32Array, count: number): string {
  const n = Math.min(count, SHINGLE_UNITS);
  const shingles = n === 0 ? 0 : count - n + 1;
  const xs = new Uint32Array(shingles);
  for (let s = 0; s < shingles; s++) xs[s] = shingleHash(units, s, n);
  let hex = '';
  // One hash function at a time over every shingle: the running minimum stays in a register.
  for (let i = 0; i < MINHASH_K; i++) {
    const seed = SEEDS[i]!;
    let min = 0xffffffff;
    for (let s = 0; s < shingles; s++) {
      const h = fmix32(xs[s]! ^ seed);
      if (h < min) min = h;
    }
    hex += min.toString(16).padStart(8, '0');
  }
  return hex;
}

/**
 * The MinHash signature (hex, 4 bytes big-endian per hash, K = 32) of a list of units: each unit is
 * hashed with FNV-1a-32 over its UTF-8 bytes; a shingle is SHINGLE_UNITS consecutive units (the whole
 * list when shorter), hashed to x with FNV-1a-32 over its units' hashes as big-endian bytes; hash i of
 * a shingle is fmix32(x XOR seed i); the signature keeps each hash's minimum. No unit: every hash ffffffff.
 */
export function minhashUnits(units: readonly string[]): string {
  return signature(Uint32Array.from(units, fnv1a32), units.length);
}

/** The signature's K hashes, from its hex form; a malformed signature gives null. */
export function parseMinhash(hex: string): Uint32Array | null {
  if (hex.length !== MINHASH_K * 8 || !/^[0-9a-f]+$/.test(hex)) return null;
  const out = new Uint32Array(MINHASH_K);
  for (let i = 0; i < MINHASH_K; i++) out[i] = parseInt(hex.slice(i * 8, i * 8 + 8), 16);
  return out;
}

/** The estimated Jaccard similarity of two signatures' shingle sets: the share of equal hashes. */
export function minhashSimilarity(a: Uint32Array, b: Uint32Array): number {
  let same = 0;
  for (let i = 0; i < MINHASH_K; i++) if (a[i] === b[i]) same++;
  return same / MINHASH_K;
}

/** The chain-of-thought triggers of data/cot.json, every language in one expression over the normalised prompt. */
const COT = new RegExp(
  Object.values(cotData.patterns)
    .flat()
    .map((p) => `(?:${normalisePrompt(p).replace(/ /g, String.raw`\s+`)})`)
    .join('|'),
  'u',
);

/** Whether a normalised prompt asks for step-by-step reasoning (data/cot.json). */
export function asksForReasoning(normalised: string): boolean {
  return COT.test(normalised);
}

/** The features an `infer-admit` entry logs for a prompt: its MinHash signature, `cot`, and its token count. */
export function promptFeatures(text: string, promptTokens: number): InferFeatures {
  const normalised = normalisePrompt(text);
  const { hashes, count } = unitHashes(normalised);
  return { minhash: signature(hashes, count), cot: asksForReasoning(normalised), promptTokens };
}
