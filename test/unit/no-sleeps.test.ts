/**
 * No test waits for a fixed length of time: it waits for the event it needs (test/support/wait.ts)
 * or drives time itself (an injected clock). A sleep is a promise resolved by a timer of 100 ms or
 * more (or of a computed length), a `sleep(`/`delay(` call, or `node:timers/promises`. Shorter
 * timers are yields inside a loop that checks its condition, and timers that reject are deadlines.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve('test');

/**
 * Files allowed to sleep, each with the reason its wait is genuinely on real time. Empty: every
 * wait in the tests is on an event or an injected clock.
 */
const ALLOWED: Record<string, string> = {};

/** Where `source` sleeps: one line of text for each sleep found. */
function findSleeps(source: string): string[] {
  const found: string[] = [];
  const lineOf = (at: number) => source.slice(0, at).split('\n').length;
  const add = (at: number, what: string) => found.push(`line ${lineOf(at)}: ${what}`);
  // new Promise((r) => setTimeout(r, N)), with or without braces, any name for the resolver.
  const promised =
    /new\s+Promise(?:<[^>]*>)?\(\s*\(?\s*(\w+)\s*\)?\s*=>\s*\{?\s*setTimeout\(\s*(?:\1|\(\)\s*=>\s*\1\(\))\s*,/g;
  for (const m of source.matchAll(promised)) {
    const delay = argumentAt(source, m.index + m[0].length);
    const n = Number(delay.replace(/_/g, ''));
    if (!(/^[\d_.]+$/.test(delay) && n < 100)) add(m.index, `a promise resolved after ${delay} ms`);
  }
  for (const m of source.matchAll(/(?<![\w.'"`])(?:sleep|delay)\s*\(/g)) add(m.index, `a call of ${m[0].trim()}`);
  for (const m of source.matchAll(/['"](?:node:)?timers\/promises['"]/g)) add(m.index, 'node:timers/promises');
  return found;
}

/** The text of the call argument starting at `at`, up to its closing `)` or `,` at depth 0. */
function argumentAt(source: string, at: number): string {
  let depth = 0;
  for (let i = at; i < source.length; i++) {
    const c = source[i];
    if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') {
      if (depth === 0) return source.slice(at, i).trim();
      depth--;
    } else if (c === ',' && depth === 0) return source.slice(at, i).trim();
  }
  return source.slice(at).trim();
}

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : testFiles(path);
    return /\.(?:[cm]?[jt]s)$/.test(e.name) ? [path] : [];
  });
}

describe('tests without sleeps', () => {
  it('finds the shapes of a sleep, and not deadlines, short yields or the sleep program', () => {
    const sleeps = [
      'await new Promise((r) => setTimeout(r, 1100));',
      'await new Promise((r) => setTimeout(r, 1200 + Math.random() * 800));',
      'await new Promise<void>((resolve) => { setTimeout(resolve, 1_000); });',
      'await new Promise((ok) => setTimeout(() => ok(), 150));',
      'await new Promise((r) => setTimeout(r, pollMs));',
      "import { setTimeout as wait } from 'node:timers/promises';",
      'await sleep(500);',
      'await delay(2000);',
    ];
    for (const s of sleeps) expect(findSleeps(s), s).toHaveLength(1);
    const fine = [
      'await new Promise((r) => setTimeout(r, 10));',
      'await new Promise((r) => setTimeout(r, 2));',
      "new Promise<number>((_, rej) => (timer = setTimeout(() => rej(new Error('no exit within 30 s')), 30_000)));",
      "const sleeper = spawn('sleep', ['30']);",
      'setTimeout(next, gapMs);',
      'const t = setTimeout(() => done(new Error("late")), ms);',
    ];
    for (const s of fine) expect(findSleeps(s), s).toEqual([]);
  });

  it('no test file sleeps (test/support/wait.ts waits for events instead)', () => {
    const files = testFiles(ROOT);
    expect(files.length).toBeGreaterThan(50);
    const found = files.flatMap((f) => {
      const name = relative(ROOT, f);
      if (name === 'unit/no-sleeps.test.ts' || ALLOWED[name] !== undefined) return [];
      return findSleeps(readFileSync(f, 'utf8')).map((s) => `test/${name} ${s}`);
    });
    expect(found).toEqual([]);
  });
});
