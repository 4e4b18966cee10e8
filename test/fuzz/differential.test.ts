/**
 * Differential test (issue 16 item 3): generated packages — valid ones, then mutated in tar fields,
 * checksums, padding, BOMs, entry order, sizes, truncation, trailing bytes, header JSON, signatures
 * and ciphertext, one to three defects at once — are verified and opened from a file and from a
 * stream cut at random places. Both must give the same verdict and the same error code.
 * CI runs 2000 cases (15 s alone, under 40 s beside the rest of the suite); `npm run fuzz` runs a
 * tenth of MODELSEAL_FUZZ_CASES (10^4).
 * MODELSEAL_FUZZ_SEED replays the mutation choices; keys and ECDSA signatures are fresh each run, so
 * a failure also prints the first changed byte and the blocks around it.
 */
import { describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { newPublisherKey, open, seal, verifyPackage } from '../../src/index.js';
import { ErrorCodes } from '../../src/errors.js';
import { detBytes, makeKeys, tempDir } from '../support/fixtures.js';
import { fuzzCases, fuzzSeed } from '../support/fuzz.js';
import { MUTATION_KINDS, mutate, rand, randomPieces } from '../support/mutate.js';

const keys = makeKeys();
const dir = tempDir('modelseal-diff-');
const CASES = fuzzCases(2000, 0.1);
const SEED = fuzzSeed();

async function basePackages(): Promise<Buffer[]> {
  const folder = join(dir, 'folder');
  mkdirSync(join(folder, 'sub'), { recursive: true });
  writeFileSync(join(folder, 'weights.bin'), detBytes(150_000, 'diff'));
  writeFileSync(join(folder, 'empty.bin'), '');
  writeFileSync(join(folder, 'sub', 'config.json'), '{"layers":2}\n');
  const single = join(dir, 'single.bin');
  writeFileSync(single, detBytes(70_000, 'single'));
  const made: Buffer[] = [];
  for (const [input, recipients] of [
    [folder, [keys.bob.recipient, keys.alice.recipient]],
    [single, [keys.alice.recipient]],
  ] as const) {
    const out = join(dir, `base${made.length}.mseal`);
    await seal({ input, output: out, recipients, publisher: keys.publisher, chunkSize: 1 << 16, threads: 0 });
    made.push(readFileSync(out));
  }
  return made;
}

const verdict = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (e: unknown) => {
      const code = (e as { code?: string }).code;
      // Anything but a documented ModelsealError code is a finding of its own.
      return code && code in ErrorCodes ? code : `THREW ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`;
    },
  );

describe(`differential: file and stream readers agree (${CASES} cases, seed ${SEED})`, () => {
  it('same verdict and error code for every generated package', async () => {
    const bases = await basePackages();
    const ctx = { publisher: keys.publisher, stranger: newPublisherKey().publisher };
    const r = rand(SEED);
    const byKind = new Map<string, number>();
    const byVerdict = new Map<string, number>();
    const disagreements: string[] = [];
    let acceptedMutants = 0;
    const t0 = performance.now();
    for (let i = 0; i < CASES; i++) {
      const base = r.pick(bases);
      // One case in twenty is a valid package, one in twelve each mutation kind leads.
      const valid = i % 20 === 0;
      const { bytes, kinds } = valid
        ? { bytes: base, kinds: ['valid'] }
        : mutate(base, r, ctx, MUTATION_KINDS[i % MUTATION_KINDS.length]);
      for (const k of kinds) byKind.set(k, (byKind.get(k) ?? 0) + 1);
      const path = join(dir, 'case.mseal');
      writeFileSync(path, bytes);
      const outs = [join(dir, 'out-file'), join(dir, 'out-stream')];
      for (const o of outs) for (const p of [o, `${o}.sig`]) rmSync(p, { recursive: true, force: true });
      const common = { trustedPublishers: keys.trusted, threads: 0 };
      const vFile = await verdict(verifyPackage(path, common));
      const vStream = await verdict(verifyPackage(Readable.from(randomPieces(bytes, r)), common));
      const oFile = await verdict(open({ input: path, output: outs[0]!, identities: [keys.alice], ...common }));
      const oStream = await verdict(
        open({ input: Readable.from(randomPieces(bytes, r)), output: outs[1]!, identities: [keys.alice], ...common }),
      );
      byVerdict.set(`verify ${vFile}`, (byVerdict.get(`verify ${vFile}`) ?? 0) + 1);
      byVerdict.set(`open ${oFile}`, (byVerdict.get(`open ${oFile}`) ?? 0) + 1);
      if (vFile !== vStream || oFile !== oStream || vFile.startsWith('THREW') || oFile.startsWith('THREW')) {
        disagreements.push(
          `case ${i} (seed ${SEED}, ${kinds.join(' + ')}): verify file ${vFile} / stream ${vStream}; open file ` +
            `${oFile} / stream ${oStream}`,
        );
      }
      if (valid) expect([vFile, oFile], `case ${i}`).toEqual(['ok', 'ok']);
      // One canonical encoding: a package that verifies is byte for byte the one that was sealed
      // (unless the publisher signed it again: ECDSA signatures differ each time).
      else if (vFile === 'ok' || oFile === 'ok') {
        acceptedMutants++;
        if (!bytes.equals(base) && !kinds.includes('header re-signed by the publisher')) {
          let at = 0;
          while (at < bytes.length && bytes[at] === base[at]) at++;
          const block = (b: Buffer) =>
            b
              .subarray(at - (at % 512), at - (at % 512) + 512)
              .toString('latin1')
              .replace(/\0+/g, '·')
              .slice(0, 200);
          disagreements.push(
            `case ${i} (seed ${SEED}, ${kinds.join(' + ')}): changed bytes were accepted (first change at ` +
              `byte ${at}: ${block(base)} → ${block(bytes)}; lengths ${base.length} → ${bytes.length})`,
          );
        }
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    console.log(
      `differential: ${CASES} cases in ${seconds.toFixed(1)} s, seed ${SEED}, ${disagreements.length} disagreements, ` +
        `${acceptedMutants} mutated packages accepted (no-op mutations, or re-signed by the publisher)`,
    );
    console.log('  kinds:', JSON.stringify(Object.fromEntries([...byKind].sort())));
    console.log('  verdicts:', JSON.stringify(Object.fromEntries([...byVerdict].sort())));
    expect(disagreements.slice(0, 20)).toEqual([]);
    // Not vacuous: every kind ran, valid packages opened, and mutated ones were rejected in several ways.
    for (const k of [...MUTATION_KINDS, 'valid']) expect(byKind.get(k) ?? 0, k).toBeGreaterThan(0);
    expect(byVerdict.get('open ok') ?? 0).toBeGreaterThan(0);
    expect([...byVerdict.keys()].filter((v) => v.startsWith('open ') && v !== 'open ok').length).toBeGreaterThanOrEqual(
      5,
    );
  }, 600_000);
});
