// ESLint flat config (`npm run lint` runs it, then `prettier --check`). Prettier owns formatting:
// no formatting rule is enabled here except max-len, which only reports what Prettier cannot wrap
// (long strings, comments, template literals) at Prettier's own printWidth.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

/** The Node globals the plain-JavaScript files use (no `globals` package: no new dependency). */
const nodeGlobals = Object.fromEntries(
  [
    'AbortController',
    'AbortSignal',
    'Buffer',
    'TextDecoder',
    'TextEncoder',
    'URL',
    'clearInterval',
    'clearTimeout',
    'console',
    'fetch',
    'performance',
    'process',
    'queueMicrotask',
    'setImmediate',
    'setInterval',
    'setTimeout',
    'structuredClone',
  ].map((name) => [name, 'readonly']),
);

export default defineConfig(
  {
    ignores: [
      ...['dist/', 'coverage/', 'bench/out/', 'keys/', '.peers/', 'node_modules/'],
      // V8 natives syntax (%DeoptimizeFunction), run with --allow-natives-syntax: not JavaScript to a parser.
      'test/support/deopt/',
    ],
  },

  js.configs.recommended,
  tseslint.configs.strictTypeChecked,
  tseslint.configs.stylisticTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        // src/ and cli/ use tsconfig.json; test/ and bench/ have their own (noEmit) tsconfig.json.
        projectService: { allowDefaultProject: ['vitest.config.ts'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // Defects the strict set leaves to options or does not include.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-import-type-side-effects': 'error',
      // Off: with noUncheckedIndexedAccess, `a[i]!` on indexes a loop bound or a length check just
      // proved is the deliberate idiom (600+ uses); no-unnecessary-type-assertion still flags needless `!`.
      '@typescript-eslint/no-non-null-assertion': 'off',
      // Off: async interface implementations without an await keep a throw a rejection, as callers expect.
      '@typescript-eslint/require-await': 'off',
      // Off: both are used on purpose (one-line `type` shapes, interfaces for contracts); no defect either way.
      '@typescript-eslint/consistent-type-definitions': 'off',
      // `.catch(() => {})` is how this code ignores a rejection on purpose (best-effort cleanup, or a promise
      // awaited later); an empty method or function declaration is still reported.
      '@typescript-eslint/no-empty-function': ['error', { allow: ['arrowFunctions'] }],
      // `(x) => resolve(x)`-style callbacks return void on purpose; a `return voidCall()` is still reported.
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true }],
      // `a || b` on strings is deliberate where an empty string must fall through too (`?host=`, `--store ''`).
      '@typescript-eslint/prefer-nullish-coalescing': ['error', { ignorePrimitives: { string: true } }],
      // `_name` marks a parameter an interface makes us take, or a property dropped by a rest pattern.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      // A rejection that passes on a value caught elsewhere keeps its `unknown` type (only-throw-error allows it too).
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
      // The 100-line function limit of the architecture rules (counted first line to last, as printed).
      'max-lines-per-function': ['error', { max: 100, skipBlankLines: false, skipComments: false }],
      // What Prettier (printWidth 120) cannot wrap: long strings and comments. (Deprecated in core
      // ESLint, still shipped in v10; URLs and regular expression literals cannot be wrapped either.)
      'max-len': [
        'error',
        {
          code: 120,
          tabWidth: 2,
          ignoreUrls: true,
          ignoreRegExpLiterals: true,
          // A test's title: Prettier keeps `it('...', () => {` on one line, and splitting the title
          // re-indents the whole test.
          ignorePattern: String.raw`^\s*(it|describe|test)(\.\w+)?\(`,
        },
      ],
    },
  },

  // Tests: a relaxed block.
  {
    files: ['test/**/*.ts'],
    rules: {
      // Tests assert on JSON.parse results (the CLI's --json output, receipts, fixtures): an `any` there is
      // the value under test, and a wrong field fails the expect. no-explicit-any stays on.
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      // describe() callbacks group a file's cases; the 100-line limit is for src/ and cli/ functions.
      'max-lines-per-function': 'off',
    },
  },

  // Plain JavaScript (bench/*.mjs, scripts/, test fixtures): no type information.
  {
    files: ['**/*.js', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: nodeGlobals },
  },
);
