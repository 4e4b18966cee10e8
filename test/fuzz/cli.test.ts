/**
 * The CLI fuzzer (issue 16): random and mutated argv for every command — unknown flags, missing
 * values, huge values, Unicode, paths that do not exist, files of the wrong kind, with and without
 * --json. Every run must exit with a code docs/ERRORS.md documents, never INTERNAL (70), never print
 * a stack trace; with --json stdout is exactly one JSON object; no key material is ever printed.
 *
 * The bulk runs in-process (cli/program.ts run(), output captured), a sample through the built
 * bundle. Cases come from a seeded PRNG: a failure names the seed and case, and
 * MODELSEAL_FUZZ_SEED=<seed> replays the run. `npm run fuzz` runs 10^5 cases.
 */
import { spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import type { Command, Option } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProgram, run } from '../../cli/program.js';
import { initKeystore, loadLocalKey, loadPublisherKey, seal } from '../../src/index.js';
import { fuzzCases, fuzzSeed } from '../support/fuzz.js';
import { tempDir } from '../support/fixtures.js';

const ROOT = resolve('.');
const BIN = resolve('dist/cli/modelseal.bundle.mjs');
const dir = tempDir('modelseal-fuzz-cli-');
const PASSPHRASE = 'fuzz passphrase 7c1e5a9d';

/** Exit codes docs/ERRORS.md lists. */
const DOCUMENTED = new Set(
  [...readFileSync(join(ROOT, 'docs/ERRORS.md'), 'utf8').matchAll(/^\| (\d+) \|/gm)].map((m) => Number(m[1])),
);

/** xorshift128+ style PRNG, seeded: cases reproduce from (seed, case). */
function prng(seed: number) {
  let a = seed >>> 0 || 1;
  let b = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) >>> 0 || 2;
  const next = () => {
    let t = a ^ (a << 11);
    a = b;
    b = (b ^ (b >>> 19) ^ (t ^ (t >>> 8))) >>> 0;
    t = b;
    return t / 2 ** 32;
  };
  return {
    float: next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!,
    chance: (p: number) => next() < p,
  };
}
type Rng = ReturnType<typeof prng>;

// ---- the fixture: a key store, packages, and files of every wrong kind ----

const F = {
  keys: join(dir, 'keys'),
  pkg: join(dir, 'm.mseal'),
  folderPkg: join(dir, 'f.mseal'),
  weights: join(dir, 'w.bin'),
  folder: join(dir, 'ckpt'),
  text: join(dir, 'text.txt'),
  empty: join(dir, 'empty'),
  unicode: join(dir, 'модель 模型 🚀.bin'),
  loop: join(dir, 'loop'),
  passFile: join(dir, 'pass.txt'),
  receipt: join(dir, 'r.tlog-proof'),
};

/** Every secret of the fixture, in the forms it could leak in: as stored, hex, base64, base64url. */
let secrets: string[] = [];
function collectSecrets(): void {
  const found = new Set<string>([PASSPHRASE]);
  const walk = (d: string, depth: number) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory() && depth < 3) walk(p, depth + 1);
      if (!e.isFile() || statSync(p).size > 1 << 16) continue;
      try {
        const o = JSON.parse(readFileSync(p, 'utf8')) as { format?: string; secret?: unknown };
        if (o.format !== 'modelseal-key/v1' || typeof o.secret !== 'string' || o.secret.length < 16) continue;
        found.add(o.secret);
        const raw = Buffer.from(o.secret, 'base64');
        if (raw.length >= 16) for (const enc of ['hex', 'base64', 'base64url'] as const) found.add(raw.toString(enc));
      } catch {
        // not a key file
      }
    }
  };
  walk(dir, 0);
  secrets = [...found];
}

// ---- values by what an option or argument takes ----

const UNICODE = [
  'Владимир Путин',
  '中国科学院',
  'شركة الاتصالات',
  'Cre\u0300me',
  '🚀👩‍🔬',
  'a\u202Eb',
  'x\ty',
  'line\nbreak',
  '\u200B',
  'ÿ',
  '-',
  '--',
  '=',
  '%s%n',
  '$(id)',
  "'; DROP TABLE x;--",
];
const huge = (r: Rng) => r.pick(['A', 'é', '模', '../', '\u0301']).repeat(r.pick([300, 5000, 60_000]));

function pathValue(r: Rng): string {
  return r.pick([
    F.pkg,
    F.folderPkg,
    F.weights,
    F.folder,
    F.text,
    F.empty,
    F.unicode,
    F.loop,
    F.receipt,
    F.keys,
    join(F.keys, 'publisher.pub'),
    join(F.keys, 'log.vkey'),
    join(F.keys, 'log.key'),
    join(F.keys, 'local.kek'),
    '/dev/null',
    '/proc/self/status',
    join(dir, 'no', 'such', 'file'),
    'relative-missing.bin',
    'ckpt',
    `${'d/'.repeat(r.int(40))}x`,
    'x'.repeat(300),
    '.',
    '..',
    '',
  ]);
}
const outputValue = (r: Rng, n: number) =>
  r.pick([
    join(dir, 'out', `o${n}`),
    join(dir, 'out', `o${n}.mseal`),
    F.pkg,
    F.folder,
    F.text,
    '/dev/null',
    join(dir, 'no', 'such', 'dir', 'o'),
    '-',
    `out/${huge(r).slice(0, 300)}`,
    '',
  ]);
const urlValue = (r: Rng) =>
  r.pick([
    'http://127.0.0.1:1',
    'https://127.0.0.1:1',
    'http://[::1]:1/',
    'ftp://127.0.0.1/',
    'not a url',
    'http://',
    'http://127.0.0.1:1/' + 'p'.repeat(3000),
    '',
  ]);
/** A log that is not a URL: a fresh store (seal writes one: never in a fixture), a file, a closed PostgreSQL. */
const logValue = (r: Rng, n: number) =>
  r.pick([join(dir, 'out', `log${n}`), F.text, F.pkg, 'postgres://fuzz@127.0.0.1:1/none']);
const numberValue = (r: Rng) =>
  r.pick([
    '0',
    '1',
    '2',
    '-1',
    '3.5',
    '1e3',
    '0x10',
    'abc',
    '99999999999999999999999',
    '',
    '64K',
    '1M',
    '16777216',
    '65536',
    'NaN',
  ]);
const countryValue = (r: Rng) => r.pick(['DE', 'US', 'IR', 'de', 'XX', 'DEU', '', '🇩🇪', 'D']);
const recipientValue = (r: Rng) =>
  r.pick([
    'local',
    `x25519:${'A'.repeat(43)}`,
    'x25519:junk',
    'x25519:' + join(F.keys, 'identity.x25519.pub'),
    'release:http://127.0.0.1:1#acme',
    'release:ftp://x#y',
    'pkcs11:tok/key',
    'aws-kms:alias/fuzz',
    'nope:x',
    '',
    huge(r).slice(0, 500),
  ]);

function valueFor(name: string, r: Rng, n: number): string {
  if (r.chance(0.08)) return r.pick(UNICODE);
  if (r.chance(0.03)) return huge(r);
  if (/output|^o$|out/.test(name)) return outputValue(r, n);
  if (name === 'log' && r.chance(0.4)) return logValue(r, n);
  if (/server|url|endpoint|^log$/.test(name)) return urlValue(r);
  if (name.endsWith('Dir')) return pathValue(r);
  if (/threads|chunk|port|skew|threshold|limit|size|since|until|index|strength|bits|count|n$/.test(name))
    return numberValue(r);
  if (/country|nationality|citizenship|destination/.test(name)) return countryValue(r);
  if (/^to$|^add$|^remove$|group|recipient/.test(name) && r.chance(0.7)) return recipientValue(r);
  if (/org|license|policy|origin|name|id|type|coalition|support|artifact|decision|host/.test(name) && r.chance(0.6))
    return r.pick(['acme-labs', 'EAR-1', 'default', 'x25519', 'publisher', 'allow', 'deny', '127.0.0.1', ...UNICODE]);
  return pathValue(r);
}

// ---- argv from the command tree ----

interface Leaf {
  path: string[];
  cmd: Command;
}

function leaves(c: Command, prefix: string[] = []): Leaf[] {
  const subs = c.commands as Command[];
  if (subs.length === 0) return [{ path: prefix, cmd: c }];
  return subs.flatMap((s) => leaves(s, [...prefix, s.name()]));
}

const GLOBALS = [
  '--quiet',
  '--threads',
  '--passphrase-file',
  '--kms-endpoint',
  '--pkcs11-module',
  '--pkcs11-pin-file',
  '--keys',
];
const MUTATIONS = [
  'none',
  'unknown-flag',
  'drop-token',
  'missing-value',
  'duplicate-token',
  'swap',
  'huge-value',
  'unicode-value',
  'extra-argument',
  'flag-as-value',
  'global-option',
] as const;
type Mutation = (typeof MUTATIONS)[number];

function optionArgs(o: Option, r: Rng, n: number): string[] {
  const flag = o.long ?? o.short!;
  if (!o.required && !o.optional) return [flag];
  if (o.optional && r.chance(0.3)) return [flag];
  return [flag, valueFor(o.attributeName(), r, n)];
}

/** One case: a leaf command, a plausible argv for it, then 0-3 mutations. */
function generate(
  all: Leaf[],
  r: Rng,
  n: number,
): { leaf: Leaf; argv: string[]; mutations: Mutation[]; json: 'yes' | 'no' | 'maybe' } {
  const leaf = r.pick(all);
  const args: string[] = [...leaf.path];
  for (const a of leaf.cmd.registeredArguments) {
    if (!a.required && r.chance(0.4)) continue;
    const count = a.variadic ? 1 + r.int(2) : 1;
    for (let i = 0; i < count; i++) args.push(valueFor(a.name(), r, n));
  }
  for (const o of leaf.cmd.options as Option[]) {
    if (o.mandatory || r.chance(0.25)) args.push(...optionArgs(o, r, n));
  }
  const mutations: Mutation[] = [];
  for (let k = r.int(4); k > 0; k--) {
    const m = r.pick(MUTATIONS);
    mutations.push(m);
    const at = args.length ? r.int(args.length) : 0;
    switch (m) {
      case 'unknown-flag':
        args.splice(at, 0, r.pick(['--bogus', '-Z', '--to=', '--json=1', '--no-such-option', `--${r.pick(UNICODE)}`]));
        break;
      case 'drop-token':
        args.splice(at, 1);
        break;
      case 'missing-value': {
        const i = args.findIndex((x, j) => j >= at && x.startsWith('-'));
        if (i >= 0 && i + 1 < args.length && !args[i + 1]!.startsWith('-')) args.splice(i + 1, 1);
        break;
      }
      case 'duplicate-token':
        if (args.length) args.splice(at, 0, args[at]!);
        break;
      case 'swap':
        if (args.length > 1) [args[at], args[args.length - 1]] = [args[args.length - 1]!, args[at]!];
        break;
      case 'huge-value':
        args.splice(at + 1, 0, huge(r));
        break;
      case 'unicode-value':
        if (args.length > leaf.path.length)
          args[leaf.path.length + r.int(args.length - leaf.path.length)] = r.pick(UNICODE);
        break;
      case 'extra-argument':
        args.push(pathValue(r));
        break;
      case 'flag-as-value': {
        const i = args.findIndex((x) => x.startsWith('--'));
        if (i >= 0) args.splice(i + 1, 0, r.pick(['--json', '--force', '-o']));
        break;
      }
      case 'global-option': {
        const g = r.pick(GLOBALS);
        args.splice(
          r.int(args.length + 1),
          0,
          ...(g === '--quiet'
            ? [g]
            : [
                g,
                g === '--passphrase-file'
                  ? r.pick([F.passFile, join(dir, 'missing-pass'), F.folder, F.loop])
                  : valueFor(g.slice(2), r, n),
              ]),
        );
        break;
      }
      case 'none':
        break;
    }
  }
  if (r.chance(0.5)) args.splice(r.int(args.length + 1), 0, '--json');
  return { leaf, argv: ['--keys', F.keys, ...args], mutations, json: jsonMode(args) };
}

/**
 * Whether the CLI is in --json mode for these args: `--json` before any `--` and not after an
 * option is 'yes'; anywhere else (it may be an option's value, or `--` may be one) 'maybe': either
 * output mode is then right, as long as the output is all of one mode.
 */
function jsonMode(args: readonly string[]): 'yes' | 'no' | 'maybe' {
  const end = args.indexOf('--');
  const before = end < 0 ? args : args.slice(0, end);
  if (before.some((a, i) => a === '--json' && (i === 0 || !before[i - 1]!.startsWith('-')))) return 'yes';
  // After a `--` commander may have taken as an option's value, or as a value itself: either mode.
  return args.includes('--json') ? 'maybe' : 'no';
}

// ---- the checks every case must pass ----

const STACK = /^\s+at .+(\(.*:\d+:\d+\)|:\d+:\d+)$/m;

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

function check(o: Outcome, c: { argv: string[]; json: 'yes' | 'no' | 'maybe' }, _where: string): string | undefined {
  const out = o.stdout + o.stderr;
  if (o.code === 70 || /error INTERNAL|"code":"INTERNAL"/.test(out))
    return `INTERNAL (exit ${o.code}): ${out.slice(0, 600)}`;
  if (!DOCUMENTED.has(o.code)) return `exit ${o.code} is not in docs/ERRORS.md: ${out.slice(0, 600)}`;
  if (STACK.test(out)) return `a stack trace: ${out.slice(0, 1200)}`;
  for (const s of secrets)
    if (out.includes(s)) return `secret material on ${o.stdout.includes(s) ? 'stdout' : 'stderr'}`;
  const looksJson = /^\{.*\}\n$/s.test(o.stdout) && o.stderr === '';
  if (c.json === 'yes' || (c.json === 'maybe' && looksJson)) {
    const lines = o.stdout.split('\n');
    if (lines.length !== 2 || lines[1] !== '')
      return `--json: stdout is not exactly one line (${lines.length - 1} newlines): ${o.stdout.slice(0, 400)}`;
    let parsed: unknown;
    try {
      parsed = JSON.parse(lines[0]!);
    } catch {
      return `--json: stdout is not JSON: ${o.stdout.slice(0, 400)}`;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      return '--json: stdout is not a JSON object';
    const v = parsed as { ok?: unknown; error?: { code?: unknown; exitCode?: unknown } };
    if (v.ok === true && o.code !== 0) return `--json: ok:true with exit ${o.code}`;
    if (v.ok === false && (typeof v.error?.code !== 'string' || v.error.exitCode !== o.code))
      return `--json: error object does not carry exit ${o.code}: ${lines[0]!.slice(0, 400)}`;
    if (v.ok !== true && v.ok !== false) return '--json: no ok field';
  } else if (o.code !== 0 && !/(modelseal: error [A-Z_]+:|^error: |^Usage: )/m.test(o.stderr)) {
    return `exit ${o.code} without an error message on stderr: ${o.stderr.slice(0, 400)}`;
  }
  return undefined;
}

/** Runs argv in this process with stdout and stderr captured. */
async function runInProcess(argv: string[]): Promise<Outcome> {
  const out: string[] = [];
  const err: string[] = [];
  // Saved to be put back as they were, never called detached.
  // eslint-disable-next-line @typescript-eslint/unbound-method -- saved to be restored, see above
  const wOut = process.stdout.write;
  // eslint-disable-next-line @typescript-eslint/unbound-method -- saved to be restored, see above
  const wErr = process.stderr.write;
  const capture = (into: string[]) =>
    ((chunk: string | Uint8Array, enc?: unknown, cb?: unknown) => {
      into.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      const done = typeof enc === 'function' ? enc : cb;
      if (typeof done === 'function') (done as () => void)();
      return true;
    }) as typeof process.stdout.write;
  process.stdout.write = capture(out);
  process.stderr.write = capture(err);
  // `-` reads stdin: an empty one, as the bundle runs get (`input: ''`).
  const stdin = Object.getOwnPropertyDescriptor(process, 'stdin')!;
  Object.defineProperty(process, 'stdin', { value: Readable.from([]), configurable: true });
  let timer: NodeJS.Timeout | undefined;
  try {
    const code = await Promise.race([
      run(['node', 'modelseal', ...argv]),
      new Promise<number>((_, rej) => (timer = setTimeout(() => rej(new Error('no exit within 30 s')), 30_000))),
    ]);
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    clearTimeout(timer);
    Object.defineProperty(process, 'stdin', stdin);
    process.stdout.write = wOut;
    process.stderr.write = wErr;
  }
}

/** `s` cut to at most `max` UTF-8 bytes, on a character boundary (the kernel limits one argument to 128 KiB). */
function upToBytes(s: string, max: number): string {
  if (Buffer.byteLength(s) <= max) return s;
  let out = '';
  let bytes = 0;
  for (const ch of s) {
    bytes += Buffer.byteLength(ch);
    if (bytes > max) break;
    out += ch;
  }
  return out;
}

// Commands that do not end by themselves (serve) or run a whole tour on their own (demo) go through the bundle only.
const OUT_OF_PROCESS = new Set(['serve', 'demo']);

const saved = { cwd: process.cwd(), env: { ...process.env } };

beforeAll(async () => {
  // No network beyond loopback: AWS KMS and friends point at a closed port; no passphrase from the environment.
  for (const k of Object.keys(process.env))
    // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- how an environment variable is unset
    if (k.startsWith('MODELSEAL_') && !k.startsWith('MODELSEAL_FUZZ')) delete process.env[k];
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_KMS: 'http://127.0.0.1:1',
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'AKIAFUZZ',
    AWS_SECRET_ACCESS_KEY: 'fuzz',
    AWS_MAX_ATTEMPTS: '1',
    AWS_EC2_METADATA_DISABLED: 'true',
  });
  await initKeystore(F.keys, { logOrigin: 'fuzz.test/log' });
  mkdirSync(join(F.folder, 'sub'), { recursive: true });
  mkdirSync(join(dir, 'out'));
  writeFileSync(F.weights, Buffer.alloc(70_000, 7));
  writeFileSync(join(F.folder, 'a.bin'), Buffer.alloc(5000, 1));
  writeFileSync(join(F.folder, 'sub', 'b.bin'), Buffer.alloc(3000, 2));
  writeFileSync(F.text, 'not a package\n');
  writeFileSync(F.empty, '');
  writeFileSync(F.unicode, Buffer.alloc(2000, 3));
  writeFileSync(F.passFile, PASSPHRASE + '\n', { mode: 0o600 });
  writeFileSync(F.receipt, 'c2sp.org/tlog-proof@v1\nindex 0\n');
  symlinkSync(F.loop, F.loop);
  const publisher = await loadPublisherKey(join(F.keys, 'publisher.key'));
  const local = await loadLocalKey(join(F.keys, 'local.kek'));
  await seal({ input: F.weights, output: F.pkg, recipients: [local], publisher });
  await seal({ input: F.folder, output: F.folderPkg, recipients: [local], publisher });
  cpSync(F.pkg, join(dir, 'pristine.mseal'));
  collectSecrets();
  process.chdir(dir);
}, 120_000);

afterAll(() => {
  process.chdir(saved.cwd);
  // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- how an environment variable is unset
  for (const k of Object.keys(process.env)) if (!(k in saved.env)) delete process.env[k];
  Object.assign(process.env, saved.env);
});

describe('CLI fuzzer', () => {
  const seed = fuzzSeed();
  const total = fuzzCases(4000);
  const all = leaves(createProgram());

  it(`in-process: ${total} generated argv (seed ${seed}) exit with documented codes, one JSON object with --json, no stack, no secret`, async () => {
    const inProcess = all.filter((l) => !OUT_OF_PROCESS.has(l.path[0]!));
    const r = prng(seed);
    const byCommand = new Map<string, number>();
    const byCode = new Map<number, number>();
    const byMutation = new Map<string, number>();
    let json = 0;
    const started = Date.now();
    for (let n = 0; n < total; n++) {
      // Successful seals and opens pile up outputs: keep the disk use bounded over 10^5 cases.
      if (n % 500 === 499) {
        rmSync(join(dir, 'out'), { recursive: true, force: true });
        mkdirSync(join(dir, 'out'));
      }
      const c = generate(inProcess, r, n);
      const o = await runInProcess(c.argv).catch((e: unknown) => {
        throw new Error(
          `seed ${seed} case ${n} (replay: MODELSEAL_FUZZ_SEED=${seed}): modelseal ` +
            `${JSON.stringify(c.argv).slice(0, 2000)}\n${e instanceof Error ? e.message : String(e)}`,
        );
      });
      const why = check(o, c, 'in-process');
      if (why)
        throw new Error(
          `seed ${seed} case ${n} (replay: MODELSEAL_FUZZ_SEED=${seed}): modelseal ` +
            `${JSON.stringify(c.argv).slice(0, 2000)}\n${why}`,
        );
      byCommand.set(c.leaf.path.join(' '), (byCommand.get(c.leaf.path.join(' ')) ?? 0) + 1);
      byCode.set(o.code, (byCode.get(o.code) ?? 0) + 1);
      for (const m of c.mutations.length ? c.mutations : ['none' as const])
        byMutation.set(m, (byMutation.get(m) ?? 0) + 1);
      if (c.json !== 'no') json++;
      // Commands that make keys change the secrets to look for.
      if (o.code === 0 && /^(init|keygen|recipient)/.test(c.leaf.path[0]!)) collectSecrets();
    }
    const seconds = (Date.now() - started) / 1000;
    console.log(
      `CLI fuzz in-process: ${total} cases in ${seconds.toFixed(1)} s (seed ${seed}); exit codes ` +
        `${JSON.stringify(Object.fromEntries([...byCode].sort((a, b) => a[0] - b[0])))}; --json ${json}; commands ` +
        `${byCommand.size}/${inProcess.length}; mutations ${JSON.stringify(Object.fromEntries(byMutation))}`,
    );
    // Not vacuous: every command, every mutation, both output modes, successes and several kinds of failure.
    if (total >= 1000) {
      expect([...inProcess.map((l) => l.path.join(' '))].filter((p) => !byCommand.has(p))).toEqual([]);
      expect(MUTATIONS.filter((m) => !byMutation.has(m))).toEqual([]);
      expect(byCode.get(0) ?? 0).toBeGreaterThan(total / 100);
      expect(byCode.size).toBeGreaterThanOrEqual(6);
    }
    expect(json).toBeGreaterThan(total / 3);
    expect(total - json).toBeGreaterThan(total / 3);
  }, 3_600_000);

  it('through the built bundle: a sample of every command, serve and demo included', () => {
    if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` (npm test does)`);
    const sample = Math.min(500, Math.max(40, Math.floor(total / 40)));
    const r = prng(seed ^ 0x5eed);
    const seen = new Set<string>();
    let ranOn = 0;
    for (let n = 0; n < sample; n++) {
      // Every command once first, then at random.
      const c = generate(n < all.length ? [all[n]!] : all, r, 1_000_000 + n);
      // argv cannot carry what the OS cannot (NUL); huge values stay under the kernel's per-argument limit.
      const serve = c.leaf.path[0] === 'serve';
      // A serve that starts listens on a free port (never the default one another test may use), and
      // is stopped after 3 s.
      const argv = [...c.argv.map((a) => upToBytes(a.replace(/\0/g, ''), 100_000)), ...(serve ? ['--port', '0'] : [])];
      const p = spawnSync(process.execPath, [BIN, ...argv], {
        cwd: dir,
        input: '',
        timeout: serve ? 3000 : 15_000,
        maxBuffer: 64 << 20,
        env: process.env,
      });
      if (p.error && (p.error as NodeJS.ErrnoException).code === 'ETIMEDOUT') {
        // Only a successful serve keeps running.
        expect(
          serve,
          `seed ${seed} bundle case ${n}: modelseal ${JSON.stringify(argv).slice(0, 2000)} did not exit within 15 s`,
        ).toBe(true);
        ranOn++;
        continue;
      }
      if (p.error)
        throw new Error(
          `seed ${seed} bundle case ${n}: cannot run modelseal ${JSON.stringify(argv).slice(0, 500)}: ` +
            p.error.message,
        );
      const o = { code: p.status ?? -1, stdout: p.stdout.toString(), stderr: p.stderr.toString() };
      const why = check(o, { argv, json: c.json }, 'bundle');
      if (why)
        throw new Error(`seed ${seed} bundle case ${n}: modelseal ${JSON.stringify(argv).slice(0, 2000)}\n${why}`);
      seen.add(c.leaf.path.join(' '));
    }
    console.log(
      `CLI fuzz through the bundle: ${sample} cases, ${seen.size} commands, ${ranOn} serve runs stopped by the timeout`,
    );
    expect(seen.size + (ranOn ? 1 : 0)).toBeGreaterThanOrEqual(all.length - 1);
  }, 3_600_000);
});
