/**
 * Format fuzzer (issue 16 item 3): random and mutated inputs to every parser of untrusted bytes —
 * parseHeader, the two signature parsers, the tar block reader — and whole packages to inspect,
 * verify and open. Every outcome must be success or a ModelsealError whose code docs/ERRORS.md
 * documents: never another exception, never a hang, memory bounded. CI runs 10000 cases (10 s alone,
 * under 15 s beside the rest of the suite); `npm run fuzz` runs MODELSEAL_FUZZ_CASES (10^5).
 */
import { describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inspect, newPublisherKey, open, parseHeader, seal, verifyPackage } from '../../src/index.js';
import { ModelsealError } from '../../src/errors.js';
import { parseHeaderSignature, parseSignature } from '../../src/format/signature.js';
import { readUstarHeader } from '../../src/format/tar.js';
import { ENTRY, TAR_BLOCK } from '../../src/format/layout.js';
import { LIMITS } from '../../src/format/limits.js';
import { detBytes, makeKeys, tempDir } from '../support/fixtures.js';
import { fuzzCases, fuzzSeed } from '../support/fuzz.js';
import { entriesOf, mutate, rand, type Rand } from '../support/mutate.js';

const keys = makeKeys();
const dir = tempDir('modelseal-fuzz-');
const CASES = fuzzCases(10000);
const SEED = fuzzSeed();
const documented = new Set(
  [...readFileSync('docs/ERRORS.md', 'utf8').matchAll(/^\| \d+ \| `([A-Z_]+)` \|/gm)].map((m) => m[1]!),
);

/** Byte-level edits of a valid text: flips, inserts, deletes, duplicated spans, truncation. */
function mangle(b: Uint8Array, r: Rand): Buffer {
  let x = Buffer.from(b);
  for (let n = 1 + r.int(3); n > 0; n--) {
    const at = r.int(x.length + 1);
    const how = r.int(6);
    if (how === 0 && x.length) x[Math.min(at, x.length - 1)]! ^= 1 << r.int(8);
    if (how === 1) x = Buffer.concat([x.subarray(0, at), r.bytes(1 + r.int(4)), x.subarray(at)]);
    if (how === 2) x = Buffer.concat([x.subarray(0, at), x.subarray(at + 1 + r.int(8))]);
    if (how === 3) x = Buffer.concat([x.subarray(0, at), x.subarray(r.int(x.length), r.int(x.length)), x.subarray(at)]);
    if (how === 4) x = x.subarray(0, at);
    if (how === 5)
      x = Buffer.concat([r.pick([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('\n'), Buffer.from(' ')]), x]);
  }
  return x;
}

/** JSON-level edits of a header: values of the wrong type or absurd size, deep nesting, duplicates. */
function jsonEdit(header: Uint8Array, r: Rand): Buffer {
  const text = Buffer.from(header).toString('utf8');
  const values = [
    '-1',
    '1e308',
    '9007199254740993',
    '0.5',
    '"x"',
    'null',
    '[]',
    '{}',
    '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]',
    '"\\ud800"',
    '"a\\u0000b"',
    '"../../etc/passwd"',
    `"${'a'.repeat(5000)}"`,
    '[' + '1,'.repeat(20000) + '1]',
  ];
  const numbers = [...text.matchAll(/:(-?\d+|"[^"]*")/g)];
  if (!numbers.length) return Buffer.from(text);
  const m = r.pick(numbers);
  return Buffer.from(text.slice(0, m.index + 1) + r.pick(values) + text.slice(m.index + m[0].length));
}

describe(`format fuzzer (${CASES} cases, seed ${SEED})`, () => {
  it('every outcome is success or a documented ModelsealError; no hang; bounded memory', async () => {
    const src = join(dir, 'src');
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, 'weights.bin'), detBytes(140_000, 'fuzz'));
    writeFileSync(join(src, 'config.json'), '{"a":1}\n');
    const pkgPath = join(dir, 'base.mseal');
    await seal({
      input: src,
      output: pkgPath,
      recipients: [keys.alice.recipient],
      publisher: keys.publisher,
      chunkSize: 1 << 16,
      threads: 0,
    });
    const base = readFileSync(pkgPath);
    const es = entriesOf(base);
    const slice = (name: string) => {
      const e = es.find((x) => x.name === name)!;
      return base.subarray(e.at + TAR_BLOCK, e.at + TAR_BLOCK + e.size);
    };
    const header = slice(ENTRY.header);
    const headerSig = slice(ENTRY.headerSignature);
    const trailer = slice(ENTRY.signature);
    const blocks = es.map((e) => ({ e, block: base.subarray(e.at, e.at + TAR_BLOCK) }));
    const ctx = { publisher: keys.publisher, stranger: newPublisherKey().publisher };
    const r = rand(SEED);

    const kinds: Record<string, () => unknown> = {
      'parseHeader random': () => parseHeader(r.bytes(r.int(2000))),
      'parseHeader mangled': () => parseHeader(mangle(header, r)),
      'parseHeader json edit': () => parseHeader(jsonEdit(header, r)),
      'parseHeaderSignature random': () => parseHeaderSignature(r.bytes(r.int(600))),
      'parseHeaderSignature mangled': () => parseHeaderSignature(mangle(headerSig, r)),
      'parseSignature mangled': () => parseSignature(mangle(trailer, r)),
      'parseSignature json edit': () => parseSignature(jsonEdit(trailer, r)),
      'tar block random': () => readUstarHeader(r.bytes(TAR_BLOCK), r.pick(es).name, LIMITS.maxHeaderBytes),
      'tar block mangled': () => {
        const { e, block } = r.pick(blocks);
        const b = Buffer.from(block);
        for (let n = 1 + r.int(3); n > 0; n--) b[r.int(TAR_BLOCK)] = r.int(256);
        return readUstarHeader(b, e.name, LIMITS.maxReserveBytes, r.int(2) ? e.size : undefined);
      },
      'package mutated (inspect, verify, open)': async () => {
        const { bytes, kinds } = mutate(base, r, ctx);
        await packageVerbs(bytes);
        // One canonical encoding: what all three verbs accept is the sealed package byte for byte
        // (unless its publisher signed it again: ECDSA signatures differ each time).
        if (!bytes.equals(base) && !kinds.includes('header re-signed by the publisher'))
          throw new Error(`changed bytes were accepted (${kinds.join(' + ')})`);
      },
      'package of random bytes': () =>
        packageVerbs(
          r.int(2) ? r.bytes(r.int(3000)) : Buffer.concat([base.subarray(0, r.int(base.length)), r.bytes(r.int(2000))]),
        ),
    };
    let k = 0;
    async function packageVerbs(bytes: Buffer): Promise<void> {
      const path = join(dir, 'case.mseal');
      writeFileSync(path, bytes);
      const out = join(dir, `out${k++ % 2}`);
      rmSync(out, { recursive: true, force: true });
      const first = await Promise.allSettled([
        inspect(path),
        verifyPackage(path, { trustedPublishers: keys.trusted, threads: 0 }),
      ]);
      const opened = await Promise.allSettled([
        open({ input: path, output: out, identities: [keys.alice], trustedPublishers: keys.trusted, threads: 0 }),
      ]);
      for (const s of [...first, ...opened]) if (s.status === 'rejected') throw s.reason;
    }

    const names = Object.keys(kinds);
    const tally = new Map<string, { cases: number; ok: number; codes: Set<string> }>();
    const findings: string[] = [];
    const heapStart = process.memoryUsage().heapUsed;
    let heapPeak = 0;
    let slowest = 0;
    const t0 = performance.now();
    for (let i = 0; i < CASES; i++) {
      const name = names[i % names.length]!;
      const t = tally.get(name) ?? { cases: 0, ok: 0, codes: new Set<string>() };
      tally.set(name, t);
      t.cases++;
      const started = performance.now();
      try {
        await kinds[name]!();
        t.ok++;
      } catch (e) {
        if (!(e instanceof ModelsealError))
          findings.push(
            `case ${i} (${name}, seed ${SEED}): threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`,
          );
        else if (!documented.has(e.code))
          findings.push(`case ${i} (${name}, seed ${SEED}): undocumented code ${e.code}`);
        else t.codes.add(e.code);
      }
      const took = performance.now() - started;
      slowest = Math.max(slowest, took);
      if (took > 5000) findings.push(`case ${i} (${name}, seed ${SEED}): took ${took.toFixed(0)} ms`);
      if (i % 200 === 0) heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed - heapStart);
    }
    const seconds = (performance.now() - t0) / 1000;
    console.log(
      `format fuzzer: ${CASES} cases in ${seconds.toFixed(1)} s, seed ${SEED}, slowest case ${slowest.toFixed(0)} ` +
        `ms, heap growth peak ${(heapPeak / 2 ** 20).toFixed(0)} MiB, ${findings.length} findings`,
    );
    for (const [name, t] of tally)
      console.log(`  ${name}: ${t.cases} cases, ${t.ok} accepted, codes ${[...t.codes].sort().join(' ')}`);
    expect(findings.slice(0, 20)).toEqual([]);
    expect(heapPeak).toBeLessThan(256 * 2 ** 20);
    // Not vacuous: every kind ran and was rejected at least once; valid-looking ones also passed sometimes.
    for (const name of names) {
      expect(tally.get(name)!.cases, name).toBeGreaterThan(0);
      expect(tally.get(name)!.codes.size, name).toBeGreaterThan(0);
    }
  }, 900_000);
});
