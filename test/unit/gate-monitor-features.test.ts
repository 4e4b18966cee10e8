/**
 * The prompt features the admit entry logs (src/gate/monitor/features.ts): the signature format
 * against vectors from an independent implementation (test/vectors/minhash-ref.py), normalisation
 * across scripts, the Jaccard estimate's accuracy, chain-of-thought triggers, and prompt extraction.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  asksForReasoning,
  fnv1a32,
  minhashSimilarity,
  minhashUnits,
  normalisePrompt,
  parseMinhash,
  promptFeatures,
  promptUnits,
} from '../../src/gate/monitor/features.js';
import { promptText } from '../../src/gate/monitor/prompt.js';
import { prng } from '../support/prng.js';

const vectors = JSON.parse(readFileSync(new URL('../vectors/minhash.json', import.meta.url), 'utf8')) as {
  fnv1a32: Record<string, number>;
  signatures: { units: string[]; minhash: string }[];
};

const sig = (text: string) => parseMinhash(promptFeatures(text, 0).minhash)!;
const similarity = (a: string, b: string) => minhashSimilarity(sig(a), sig(b));

describe('the prompt signature format', () => {
  it('matches the independent implementation of docs/GATE.md', () => {
    for (const [s, h] of Object.entries(vectors.fnv1a32)) expect(fnv1a32(s), s).toBe(h);
    for (const v of vectors.signatures) expect(minhashUnits(v.units), v.units.join(' ')).toBe(v.minhash);
  });

  it('is 32 hashes of 4 bytes, and a malformed one parses to null', () => {
    const { minhash } = promptFeatures('Summarise this article for me please', 9);
    expect(minhash).toMatch(/^[0-9a-f]{256}$/);
    expect(parseMinhash(minhash)).toHaveLength(32);
    expect(parseMinhash(minhash.slice(2))).toBeNull();
    expect(parseMinhash(minhash.replace(/^../, 'zz'))).toBeNull();
  });

  it('normalises width, case and whitespace, and numbers to one unit', () => {
    expect(promptUnits(normalisePrompt('  ＨＥＬＬＯ\t Straße\n\nWorld '))).toEqual(['hello', 'strasse', 'world']);
    expect(sig('Translate sentence 12 into French')).toEqual(sig('translate  SENTENCE 9071 into french'));
    expect(promptUnits(normalisePrompt('Item #42, price 3.50!'))).toEqual(['item', '0', 'price', '0', '0']);
    expect(promptUnits(normalisePrompt('a1b22 x\u0301'))).toEqual(['a0b0', 'x\u0301']);
  });

  it('cuts unspaced scripts into characters and spaced ones into words, whatever the script', () => {
    expect(promptUnits(normalisePrompt('東京は大きい'))).toEqual(['東', '京', 'は', '大', 'き', 'い']);
    expect(promptUnits(normalisePrompt('Привет мир, hello 世界'))).toEqual(['привет', 'мир', 'hello', '世', '界']);
    expect(promptUnits(normalisePrompt('สวัสดี'))).toHaveLength(4); // Thai: a base letter with its marks is one unit
    expect(promptUnits(normalisePrompt('مرحبا بالعالم'))).toEqual(['مرحبا', 'بالعالم']);
    const zh = '请把下面这段关于气候变化的文章翻译成英文';
    // 12 of 24 shingles shared: Jaccard 0.5, estimated ± 0.09.
    expect(similarity(zh, zh.replace('气候变化', '人工智能'))).toBeGreaterThan(0.25);
    expect(similarity(zh, '今天天气很好我们去公园散步吧')).toBeLessThan(0.15);
  });

  it('computes in one pass exactly the units of the definition, on any mix of scripts', () => {
    const r = prng(7);
    // Latin, digits, combining marks, Greek, Cyrillic, Arabic, Devanagari, Thai (bases, marks, digits),
    // Han, kana, Hangul, astral letters and Han, punctuation, whitespace, and a lone surrogate.
    const alphabet = Array.from('aZß09 ,.\n\t-\u0301Σςжعकिกั๕東京はカ한글𝒳𠀀!?\ud800');
    for (let t = 0; t < 500; t++) {
      const text = Array.from({ length: 1 + r.int(40) }, () => r.pick(alphabet)).join('');
      expect(promptFeatures(text, 0).minhash, JSON.stringify(text)).toBe(
        minhashUnits(promptUnits(normalisePrompt(text))),
      );
    }
  });

  it('estimates the Jaccard similarity of the shingle sets within its standard error', () => {
    const r = prng(23);
    const words = Array.from({ length: 400 }, (_, i) => `w${i}`);
    let sumError = 0;
    const trials = 200;
    for (let t = 0; t < trials; t++) {
      const a = Array.from({ length: 60 }, () => r.pick(words));
      const b = [...a];
      for (let n = r.int(60); n > 0; n--) b[r.int(b.length)] = r.pick(words);
      const shingles = (u: string[]) => new Set(u.slice(0, -2).map((_, i) => u.slice(i, i + 3).join(' ')));
      const [sa, sb] = [shingles(a), shingles(b)];
      const exact = [...sa].filter((s) => sb.has(s)).length / new Set([...sa, ...sb]).size;
      sumError += Math.abs(minhashSimilarity(parseMinhash(minhashUnits(a))!, parseMinhash(minhashUnits(b))!) - exact);
    }
    // K = 32: the standard error is at most 0.5/√32 ≈ 0.088; the mean absolute error ≈ 0.8 of it.
    expect(sumError / trials).toBeLessThan(0.075);
  });

  it('tells slot-filled templates from unrelated prompts', () => {
    const template = (x: string) =>
      'You are a helpful assistant. Classify the sentiment of the following review as positive, negative ' +
      `or neutral and answer with one word. Review: ${x}`;
    expect(similarity(template('The food was great'), template('Terrible service, never again'))).toBeGreaterThan(0.6);
    expect(similarity(template('The food was great'), 'Write me a haiku about autumn leaves falling')).toBe(0);
  });
});

describe('chain-of-thought elicitation (data/cot.json)', () => {
  it.each([
    "Let's think step by step.",
    'Solve it STEP-BY-STEP and show your work',
    'Explain your reasoning before answering.',
    'Résous ce problème étape par étape',
    'Erkläre Schritt für Schritt, wie das geht',
    'Resuelve esto paso a paso',
    '请一步一步地思考',
    '段階的に説明してください',
    'Реши задачу шаг за шагом',
    '단계별로 설명해 주세요',
  ])('fires on %s', (text) => expect(promptFeatures(text, 5).cot).toBe(true));

  it.each([
    'What is the capital of France?',
    'Translate "good morning" into German',
    '東京の天気は?',
    'Step on it',
    "Let's think about dinner: what goes with salmon?",
    'Before giving the talk, what should I rehearse?',
  ])('stays quiet on %s', (text) => expect(asksForReasoning(normalisePrompt(text))).toBe(false));
});

describe('promptText', () => {
  it('reads chat messages, text parts, prompts and embeddings inputs', () => {
    const chat = {
      messages: [
        { role: 'system', content: 'Be brief.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is in' },
            { type: 'image_url', image_url: { url: 'data:' } },
            { type: 'text', text: 'this picture?' },
          ],
        },
        { role: 'assistant', content: null, tool_calls: [] },
      ],
    };
    expect(promptText('chat.completions', chat)).toBe('Be brief.\nWhat is in\nthis picture?\n');
    expect(promptText('completions', { prompt: 'Once upon' })).toBe('Once upon');
    expect(promptText('completions', { prompt: ['a', 'b'] })).toBe('a\nb');
    expect(promptText('completions', { prompt: [1, 2, 3] })).toBe('1 2 3');
    expect(promptText('embeddings', { input: [[1, 2], [3]] })).toBe('1 2\n3');
    expect(promptText('embeddings', { input: 'hello' })).toBe('hello');
  });

  it('is null for a body without the endpoint shape', () => {
    expect(promptText('chat.completions', { prompt: 'x' })).toBeNull();
    expect(promptText('chat.completions', { messages: [{ content: 5 }] })).toBeNull();
    expect(promptText('completions', { prompt: { text: 'x' } })).toBeNull();
    expect(promptText('embeddings', null)).toBeNull();
    expect(promptText('models', {})).toBeNull();
  });
});
