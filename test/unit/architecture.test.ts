/**
 * The architecture holds (docs/ARCHITECTURE.md): no import cycle between files or between units,
 * every import goes to a unit of strictly lower rank, src/ never imports cli/, cli/ uses only the
 * public API (src/index.ts), and no function in src/ or cli/ is longer than 100 lines.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  checkArchitecture,
  cycleViolations,
  fileEdges,
  importsOf,
  layerViolations,
  longFunctions,
  readSources,
  type Source,
} from '../support/architecture.js';

/** The rank table of docs/ARCHITECTURE.md: a unit imports only units of strictly lower rank. */
const RANKS: Record<string, number> = {
  'src/errors.ts': 0,
  'src/format': 1,
  'src/io': 1,
  'src/crypto': 2,
  'src/formats': 2,
  'src/provenance': 2,
  'src/policy': 2,
  'src/fingerprint': 3,
  'src/log': 3,
  'src/keystore': 4,
  'src/release': 4,
  'src/providers': 5,
  'src/package': 6,
  'src/compliance': 7,
  'src/server': 8,
  'src/registry': 8,
  'src/console': 8,
  'src/gate': 9,
  'src/index.ts': 10,
  'cli/util.ts': 11,
  'cli/commands': 12,
  'cli/program.ts': 13,
  'cli/modelseal.ts': 14,
};

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const src = (path: string, text: string): Source => ({ path, text });

describe('the modelseal source tree', () => {
  const violations = checkArchitecture(readSources(ROOT, ['src', 'cli']), RANKS);

  it('has no cycles, no upward or sideways imports, no deep imports from cli/, no function over 100 lines', () => {
    expect(violations.map((v) => `${v.key}\n    ${v.message}`)).toEqual([]);
  });

  it('has the rank table of docs/ARCHITECTURE.md', () => {
    const doc = readFileSync(`${ROOT}/docs/ARCHITECTURE.md`, 'utf8');
    const documented: Record<string, number> = {};
    for (const [, rank, units] of doc.matchAll(/^\| (\d+) \| (.+?) \|/gm))
      for (const [, unit] of units!.matchAll(/`((?:src|cli)\/[^`]+)`/g)) documented[unit!] = Number(rank);
    expect(documented).toEqual(RANKS);
  });
});

describe('import collection', () => {
  it('sees static, type-only, re-export, dynamic and import-type references, not strings or comments', () => {
    const text = [
      "import { a } from './a.js';",
      "import type { B } from '../b/b.js';",
      "export { c } from './c.js';",
      "export * from './d.js';",
      "const e = await import('./e.js');",
      "type F = typeof import('./f.js');",
      "import g = require('./g.js');",
      'const s = "import { x } from \'./not-an-import.js\'";',
      "// import { y } from './comment.js';",
      'const dyn = await import(someVariable);',
      "import 'node:fs';",
    ].join('\n');
    expect(importsOf('src/x/x.ts', text)).toEqual([
      { specifier: './a.js', line: 1, typeOnly: false },
      { specifier: '../b/b.js', line: 2, typeOnly: true },
      { specifier: './c.js', line: 3, typeOnly: false },
      { specifier: './d.js', line: 4, typeOnly: false },
      { specifier: './e.js', line: 5, typeOnly: false },
      { specifier: './f.js', line: 6, typeOnly: true },
      { specifier: './g.js', line: 7, typeOnly: false },
      { specifier: 'node:fs', line: 11, typeOnly: false },
    ]);
  });

  it('resolves .js specifiers to .ts files and ignores packages', () => {
    const edges = fileEdges([
      src('src/a/one.ts', "import { x } from '../b/two.js';\nimport 'node:path';\nimport ts from 'typescript';"),
      src('src/b/two.ts', 'export const x = 1;'),
    ]);
    expect(edges).toEqual([{ from: 'src/a/one.ts', to: 'src/b/two.ts', line: 1 }]);
  });
});

describe('each rule fails on a planted violation', () => {
  const rules = (sources: Source[]) => checkArchitecture(sources, RANKS).map((v) => v.key);

  it('a clean downward tree passes', () => {
    expect(
      rules([
        src('src/errors.ts', 'export class E {}'),
        src('src/format/a.ts', "import { E } from '../errors.js';"),
        src('src/crypto/b.ts', "import { a } from '../format/a.js';\nimport { c } from './c.js';"),
        src('src/crypto/c.ts', "import { E } from '../errors.js';"),
        src('src/index.ts', "export * from './crypto/b.js';"),
        src('cli/commands/x.ts', "import { b } from '../../src/index.js';\nimport { u } from '../util.js';"),
        src('cli/util.ts', "import { b } from '../src/index.js';"),
      ]),
    ).toEqual([]);
  });

  it('(a) a file cycle inside one folder', () => {
    const found = cycleViolations(
      fileEdges([
        src('src/package/head.ts', "import { o } from './open.js';"),
        src('src/package/open.ts', "import type { H } from './head.js';"),
        src('src/package/seal.ts', "import { o } from './open.js';"),
      ]),
    );
    expect(found.map((v) => v.key)).toEqual(['file-cycle: src/package/head.ts src/package/open.ts']);
    expect(found[0]!.message).toBe(
      'src/package/head.ts:1 -> src/package/open.ts; src/package/open.ts:1 -> src/package/head.ts',
    );
  });

  it('(a) a file importing itself', () => {
    expect(rules([src('src/io/a.ts', "import { a } from './a.js';")])).toEqual(['file-cycle: src/io/a.ts']);
  });

  it('(b) a folder cycle around three folders without any file cycle', () => {
    const found = cycleViolations(
      fileEdges([
        src('src/log/a.ts', "import { b } from '../keystore/b.js';"),
        src('src/keystore/b.ts', "import { c } from '../providers/c.js';"),
        src('src/providers/c.ts', "import { d } from '../log/d.js';"),
        src('src/log/d.ts', 'export const d = 1;'),
      ]),
    );
    expect(found.map((v) => v.key)).toEqual(['folder-cycle: src/keystore src/log src/providers']);
  });

  it('(c) an upward import and a sideways import between units of equal rank', () => {
    expect(
      rules([
        src('src/crypto/bulk.ts', "import { m } from '../fingerprint/mark.js';"),
        src('src/fingerprint/mark.ts', 'export const m = 1;'),
        src('src/format/x.ts', "import { w } from '../io/w.js';"),
        src('src/io/w.ts', 'export const w = 1;'),
      ]),
    ).toEqual(['rank: src/crypto/bulk.ts -> src/fingerprint/mark.ts', 'rank: src/format/x.ts -> src/io/w.ts']);
  });

  it('(c) a type-only import counts like any other', () => {
    expect(
      rules([
        src('src/log/events.ts', "import type { SealResult } from '../package/seal.js';"),
        src('src/package/seal.ts', 'export interface SealResult {}'),
      ]),
    ).toEqual(['rank: src/log/events.ts -> src/package/seal.ts']);
  });

  it('(c) a unit missing from the rank table', () => {
    expect(
      rules([src('src/gallery/ui.ts', "import { E } from '../errors.js';"), src('src/errors.ts', 'export class E {}')]),
    ).toEqual(['unranked: src/gallery']);
  });

  it('(d) src/ importing cli/', () => {
    expect(
      layerViolations(fileEdges([src('src/io/a.ts', "import { say } from '../../cli/util.js';")]), RANKS).map(
        (v) => v.key,
      ),
    ).toEqual(['src-imports-cli: src/io/a.ts -> cli/util.ts']);
  });

  it('(e) cli/ importing src/ anywhere but src/index.ts', () => {
    expect(
      rules([
        src('cli/commands/demo.ts', "import { p } from '../../src/formats/safetensors.js';"),
        src('src/formats/safetensors.ts', 'export const p = 1;'),
      ]),
    ).toEqual(['cli-deep-import: cli/commands/demo.ts -> src/formats/safetensors.ts']);
  });

  it('(f) a function of 101 lines, of every kind; 100 lines pass', () => {
    const body = (n: number) => Array.from({ length: n - 2 }, (_, i) => `  const v${i} = ${i};`).join('\n');
    const text = [
      `function ok() {\n${body(100)}\n}`,
      `function declared() {\n${body(101)}\n}`,
      `const arrow = () => {\n${body(101)}\n};`,
      `const expr = function () {\n${body(101)}\n};`,
      `class K {\n  method() {\n${body(101)}\n  }\n}`,
      `register(() => {\n${body(101)}\n});`,
    ].join('\n');
    expect(longFunctions(src('cli/x.ts', text)).map((v) => v.key)).toEqual([
      'long-function: cli/x.ts declared',
      'long-function: cli/x.ts arrow',
      'long-function: cli/x.ts expr',
      'long-function: cli/x.ts K › method',
      'long-function: cli/x.ts (anonymous)',
    ]);
    expect(longFunctions(src('cli/x.ts', text))[0]!.message).toBe('cli/x.ts:101 declared is 101 lines (at most 100)');
  });
});
