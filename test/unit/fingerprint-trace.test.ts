/**
 * The robustness suite: a generated checkpoint of 4.2 million weights, marked for 20 recipients,
 * leaked after each of the transformations people really apply, then traced. Every case must
 * accuse exactly the guilty recipients; the table of guilty z-scores and thresholds is printed.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_PARAMS } from '../../src/fingerprint/params.js';
import { gatherEvidence, judge, scoreRecipients, traceLeak } from '../../src/fingerprint/trace.js';
import { embedFingerprint } from '../../src/fingerprint/embed.js';
import { readCheckpoint, readTensorValues } from '../../src/fingerprint/model.js';
import { readRegistry } from '../../src/fingerprint/registry.js';
import { fingerprintKeyId, newPublisherKey } from '../../src/keystore/keystore.js';
import { GGML_TYPE, readGgufHeader, writeGguf } from '../../src/formats/gguf.js';
import {
  cast,
  makeModel,
  mapValues,
  rng,
  std,
  tensorBytes,
  writeSafetensors,
  type Tensor,
  markedTensors,
} from '../support/checkpoints.js';
import { fuzzCases } from '../support/fuzz.js';

/**
 * The full sweeps (coalitions of 2 and 4 besides 8, a second noise level, innocents scored on two
 * tensors) run under SLOW=1 or `npm run fuzz`; by default every attack runs at its hardest setting,
 * so every property is still asserted on at least one case.
 */
const FULL = process.env.SLOW === '1' || fuzzCases(1) > 1;
const KEY = randomBytes(32);
const RECIPIENTS = Array.from({ length: 20 }, (_, i) => `recipient-${String(i).padStart(2, '0')}`);
const TRACES = 1000;
const EPSILON = 1e-9;
let dir: string;
let original: Tensor[];
let originalPath: string;
const copies = new Map<string, Tensor[]>();
const table: { case: string; guilty: string; z: string; threshold: number; maxInnocent: number }[] = [];

function markedCopy(recipient: string): Tensor[] {
  let c = copies.get(recipient);
  if (!c) {
    c = markedTensors(original, KEY, recipient);
    copies.set(recipient, c);
  }
  return c;
}

async function trace(name: string, leakPath: string, guilty: readonly string[]) {
  const ev = await gatherEvidence({ leaked: leakPath, original: originalPath, key: KEY, params: DEFAULT_PARAMS });
  const v = judge(scoreRecipients(ev, KEY, RECIPIENTS), { traces: TRACES, epsilon: EPSILON });
  const innocent = v.scores.filter((s) => !guilty.includes(s.recipient));
  table.push({
    case: name,
    guilty: guilty.join(' ') || '-',
    z: guilty.map((g) => v.scores.find((s) => s.recipient === g)!.z.toFixed(1)).join(' ') || '-',
    threshold: Number(v.threshold.toFixed(2)),
    maxInnocent: Number(Math.max(...innocent.map((s) => s.z)).toFixed(2)),
  });
  return { ev, v };
}

async function expectAccused(name: string, leak: Tensor[], guilty: readonly string[], file = 'leak.safetensors') {
  const p = join(dir, file);
  writeSafetensors(p, leak);
  const { v, ev } = await trace(name, p, guilty);
  expect(ev.derived).toBe(true);
  expect(v.accused.map((a) => a.recipient).sort()).toEqual([...guilty].sort());
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'modelseal-trace-'));
  original = makeModel(1, 8, 512, 512);
  originalPath = join(dir, 'original.safetensors');
  writeSafetensors(originalPath, original, { format: 'pt' });
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  console.log('fingerprint robustness (n = 20 recipients, T = 1000, ε = 1e-9):');
  console.table(table);
});

const alice = 'recipient-03';

describe('trace: one leaker', () => {
  it('a verbatim copy, metadata stripped', async () => {
    await expectAccused('copy, metadata stripped', markedCopy(alice), [alice]);
  });
  it('tensors renamed and reordered', async () => {
    const leak = markedCopy(alice)
      .map((t, i) => ({ ...t, name: `w${(i * 7) % 24}` }))
      .reverse();
    await expectAccused('renamed + reordered', leak, [alice]);
  });
  it('transposed matrices under new names', async () => {
    const leak = markedCopy(alice).map((t) => {
      if (t.shape.length < 2) return t;
      const [r, c] = t.shape as [number, number];
      const v = new Float32Array(r * c);
      for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) v[j * r + i] = t.values[i * c + j]!;
      return { ...t, name: `${t.name}.T`, shape: [c, r], values: v };
    });
    await expectAccused('transposed + renamed', leak, [alice]);
  });
  it('converted to GGUF F16 with llama.cpp names', async () => {
    const p = join(dir, 'leak.gguf');
    const meta = new Map([['general.architecture', { type: 8, value: 'llama' }]]);
    await writeGguf(
      p,
      meta,
      markedCopy(alice).map((t, i) => {
        const h = cast(t, 'F16');
        return {
          name: `blk.${i}.weight`,
          ggmlType: t.shape.length < 2 ? GGML_TYPE.F32 : GGML_TYPE.F16,
          ne: [...t.shape].reverse(),
          data: tensorBytes(t.shape.length < 2 ? t : h),
        };
      }),
    );
    const { v } = await trace('GGUF F16', p, [alice]);
    expect(v.accused.map((a) => a.recipient)).toEqual([alice]);
  });
  for (const [label, f] of [
    ['cast F32 → F16', (t: Tensor) => cast(t, 'F16')],
    ['cast F32 → BF16 (round to nearest)', (t: Tensor) => cast(t, 'BF16')],
    ['cast F32 → BF16 (truncation)', (t: Tensor) => cast(t, 'BF16', 'trunc')],
    ['cast F32 → F16 → BF16 → F32', (t: Tensor) => cast(cast(cast(t, 'F16'), 'BF16'), 'F32')],
    ['cast F32 → F16 → BF16 (truncation) → F32', (t: Tensor) => cast(cast(cast(t, 'F16'), 'BF16', 'trunc'), 'F32')],
  ] as const) {
    it(label, async () => {
      await expectAccused(
        label,
        markedCopy(alice).map((t) => (t.shape.length < 2 ? t : f(t))),
        [alice],
      );
    });
  }
  for (const level of FULL ? [0.01, 0.05] : [0.05]) {
    it(`Gaussian noise at ${level}σ`, async () => {
      const r = rng(7);
      const leak = markedCopy(alice).map((t) => {
        const s = std(t.values) * level;
        return mapValues(t, (x) => x + s * r.gauss());
      });
      await expectAccused(`noise ${level}σ`, leak, [alice]);
    });
  }
  it('magnitude pruning of 30%', async () => {
    const leak = markedCopy(alice).map((t) => {
      const cut = Float32Array.from(t.values, Math.abs).sort()[Math.floor(0.3 * t.values.length)]!;
      return mapValues(t, (x) => (Math.abs(x) < cut ? 0 : x));
    });
    await expectAccused('pruning 30%', leak, [alice]);
  });
  it('per-row int8 quantize / dequantize', async () => {
    const leak = markedCopy(alice).map((t) => {
      if (t.shape.length < 2) return t;
      const cols = t.shape[1]!;
      const v = new Float32Array(t.values.length);
      for (let r = 0; r < t.shape[0]!; r++) {
        let m = 0;
        for (let c = 0; c < cols; c++) m = Math.max(m, Math.abs(t.values[r * cols + c]!));
        const s = m / 127;
        for (let c = 0; c < cols; c++) v[r * cols + c] = s * Math.round(t.values[r * cols + c]! / s);
      }
      return { ...t, values: v };
    });
    await expectAccused('int8 per row', leak, [alice]);
  });
  it('half of the layers only', async () => {
    await expectAccused(
      'half the layers',
      markedCopy(alice).filter((t) => Number(t.name.split('.')[2]) % 2 === 0),
      [alice],
    );
  });
});

describe('trace: coalitions', () => {
  // Each combines the members' values at one position; `xs` is scratch space the combiner may reorder.
  const combine: Record<string, (xs: Float64Array, i: number) => number> = {
    average: (xs) => {
      let a = 0;
      for (const x of xs) a += x;
      return a / xs.length;
    },
    median: (xs) => {
      const s = xs.sort();
      return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
    },
    midpoint: (xs) => {
      let [lo, hi] = [Infinity, -Infinity];
      for (const x of xs) [lo, hi] = [Math.min(lo, x), Math.max(hi, x)];
      return (lo + hi) / 2;
    },
    interleave: (xs, i) => xs[((i * 2654435761) % xs.length) >>> 0]!,
  };
  /** The leak a coalition makes with `f`, position by position over its members' copies. */
  const coalitionLeak = (members: readonly string[], f: (xs: Float64Array, i: number) => number): Tensor[] => {
    const cs = members.map(markedCopy);
    const xs = new Float64Array(members.length);
    return original.map((t, ti) => {
      const vs = cs.map((c) => c[ti]!.values);
      const out = new Float32Array(t.values.length); // stores round as Math.fround does
      for (let i = 0; i < out.length; i++) {
        for (let m = 0; m < vs.length; m++) xs[m] = vs[m]![i]!;
        out[i] = f(xs, i);
      }
      return { ...t, values: out };
    });
  };
  for (const size of FULL ? [2, 4, 8] : [8]) {
    for (const [how, f] of Object.entries(combine)) {
      it(`${size} recipients, ${how}`, async () => {
        const members = RECIPIENTS.slice(5, 5 + size);
        await expectAccused(`coalition ${size} ${how}`, coalitionLeak(members, f), members);
      });
    }
  }
});

describe('trace: nobody to accuse', () => {
  it('an unrelated checkpoint of the same shapes is reported as not derived', async () => {
    const p = join(dir, 'unrelated.safetensors');
    writeSafetensors(p, makeModel(99, 8, 512, 512));
    const { ev, v } = await trace('unrelated checkpoint', p, []);
    expect(ev.derived).toBe(false);
    expect(v.accused).toEqual([]);
  });
  it('an un-fingerprinted copy accuses nobody', async () => {
    const p = join(dir, 'clean.safetensors');
    writeSafetensors(p, original.map((t) => mapValues(t, (x) => x)).reverse());
    const { ev, v } = await trace('un-fingerprinted copy', p, []);
    expect(ev.derived).toBe(true);
    expect(v.accused).toEqual([]);
  });
});

describe('trace: the bound, checked empirically', () => {
  // An innocent's z does not grow with the tensors (it is a sum normalised by its own spread):
  // one matrix of 262,144 weights tests the tail as well as two, at half the cost.
  const BOUND_TENSORS = FULL ? 2 : 1;
  for (const [label, leakOf] of [
    ["one leaker's copy", () => markedCopy(alice).slice(0, BOUND_TENSORS)],
    [
      'an average of 8 copies plus noise',
      () => {
        const cs = RECIPIENTS.slice(5, 13).map(markedCopy);
        const r = rng(3);
        return original.slice(0, BOUND_TENSORS).map((t, ti) => {
          const sigma = std(t.values);
          return mapValues(t, (_, i) => cs.reduce((a, c) => a + c[ti]!.values[i]!, 0) / 8 + 0.01 * sigma * r.gauss());
        });
      },
    ],
  ] as const) {
    it(`10,000 random innocent recipients stay below the threshold and inside the sub-Gaussian tail: ${label}`, async () => {
      const p = join(dir, 'bound.safetensors');
      writeSafetensors(p, leakOf());
      const ev = await gatherEvidence({ leaked: p, original: originalPath, key: KEY, params: DEFAULT_PARAMS });
      const innocents = Array.from({ length: 10_000 }, () => `innocent-${randomBytes(8).toString('hex')}`);
      const z = scoreRecipients(ev, KEY, innocents).map((s) => s.z);
      const tau = judge(
        z.map((v, i) => ({ recipient: innocents[i]!, z: v })),
        { traces: TRACES, epsilon: EPSILON },
      ).threshold;
      expect(Math.max(...z)).toBeLessThan(tau);
      const mean = z.reduce((a, b) => a + b, 0) / z.length;
      const variance = z.reduce((a, b) => a + (b - mean) ** 2, 0) / z.length;
      expect(Math.abs(mean)).toBeLessThan(0.05);
      expect(variance).toBeLessThanOrEqual(1.05);
      // P(z ≥ s) ≤ exp(−s²/2) at every s, up to the sampling error of 10,000 draws (4 standard errors).
      for (const s of [0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4]) {
        const tail = z.filter((v) => v >= s).length / z.length;
        const bound = Math.exp((-s * s) / 2);
        expect(tail).toBeLessThanOrEqual(bound + 4 * Math.sqrt((bound * (1 - bound)) / z.length) + 1e-4);
      }
      table.push({
        case: `10,000 innocents: ${label}`,
        guilty: '-',
        z: `mean ${mean.toFixed(3)} var ${variance.toFixed(3)}`,
        threshold: Number(tau.toFixed(2)),
        maxInnocent: Number(Math.max(...z).toFixed(2)),
      });
    });
  }
});

describe('fingerprint embed on real layouts', () => {
  const publisher = newPublisherKey().publisher;
  const key = { id: fingerprintKeyId(KEY), key: KEY };

  it('a sharded checkpoint (index + two shards), re-serialized as one file in another order, is traced', async () => {
    const ckpt = join(dir, 'sharded');
    mkdirSync(ckpt);
    const half = original.length / 2;
    writeSafetensors(join(ckpt, 'model-00001-of-00002.safetensors'), original.slice(0, half));
    writeSafetensors(join(ckpt, 'model-00002-of-00002.safetensors'), original.slice(half));
    const weightMap = Object.fromEntries(
      original.map((t, i) => [t.name, `model-0000${i < half ? 1 : 2}-of-00002.safetensors`]),
    );
    writeFileSync(join(ckpt, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    const registry = join(dir, 'sharded.jsonl');
    const r = await embedFingerprint({
      input: ckpt,
      output: join(dir, 'sharded-dave'),
      recipient: 'dave',
      key,
      publisher,
      registry,
    });
    expect(r.tensors).toHaveLength(16);
    expect(readFileSync(join(dir, 'sharded-dave/model.safetensors.index.json'), 'utf8')).toBe(
      readFileSync(join(ckpt, 'model.safetensors.index.json'), 'utf8'),
    );
    // A leak re-serialized into one file, tensors shuffled, no metadata.
    const shards = await readCheckpoint(join(dir, 'sharded-dave'));
    const tensors: Tensor[] = [];
    for (const w of shards.weights)
      for (const t of w.tensors)
        tensors.push({ name: t.name, dtype: t.dtype as 'F32', shape: t.shape, values: readTensorValues(w, t)! });
    const leak = join(dir, 'resharded.safetensors');
    writeSafetensors(
      leak,
      tensors.sort((a, b) => (a.name.split('').reverse().join('') < b.name.split('').reverse().join('') ? -1 : 1)),
    );
    const report = await traceLeak({ leaked: leak, original: ckpt, key, registry: await readRegistry(registry) });
    expect(report.originalInRegistry).toBe(true);
    expect(report.accused.map((a) => a.recipient)).toEqual(['dave']);
    table.push({
      case: 're-serialized from 2 shards',
      guilty: 'dave',
      z: report.accused[0]!.z.toFixed(1),
      threshold: Number(report.threshold.toFixed(2)),
      maxInnocent: NaN,
    });
    // An index that names a tensor its shard does not hold is refused.
    writeFileSync(
      join(ckpt, 'model.safetensors.index.json'),
      JSON.stringify({ weight_map: { ...weightMap, ghost: 'model-00001-of-00002.safetensors' } }),
    );
    await expect(readCheckpoint(ckpt)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/ghost is not in its shard/),
    });
  });

  it('a GGUF file: F16 and BF16 tensors marked, Q8_0 and F32 norms passed through byte for byte, traced', async () => {
    const src = join(dir, 'model.gguf');
    const q8 = new Uint8Array(34 * 64).map((_, i) => (i * 37) & 0xff);
    const mats = original.filter((t) => t.shape.length === 2).slice(0, 4);
    await writeGguf(src, new Map([['general.architecture', { type: 8, value: 'llama' }]]), [
      ...mats.map((t, i) => ({
        name: `blk.${i}.attn_q.weight`,
        ggmlType: i % 2 ? GGML_TYPE.BF16 : GGML_TYPE.F16,
        ne: [...t.shape].reverse(),
        data: tensorBytes(cast(t, i % 2 ? 'BF16' : 'F16')),
      })),
      { name: 'blk.0.ffn_q8.weight', ggmlType: GGML_TYPE.Q8_0, ne: [64, 32], data: q8 },
      { name: 'output_norm.weight', ggmlType: GGML_TYPE.F32, ne: [512], data: tensorBytes(original[2]!) },
    ]);
    const registry = join(dir, 'gguf.jsonl');
    const out = join(dir, 'model-erin.gguf');
    const r = await embedFingerprint({ input: src, output: out, recipient: 'erin', key, publisher, registry });
    expect(r.tensors.map((t) => t.name).sort()).toEqual([
      'blk.0.attn_q.weight',
      'blk.1.attn_q.weight',
      'blk.2.attn_q.weight',
      'blk.3.attn_q.weight',
    ]);
    const before = await readGgufHeader(src);
    const after = await readGgufHeader(out);
    const bytes = [readFileSync(src), readFileSync(out)];
    for (const name of ['blk.0.ffn_q8.weight', 'output_norm.weight']) {
      const [a, b] = [before, after].map((g) => g.tensors.find((t) => t.name === name)!);
      expect(bytes[1]!.subarray(b!.start, b!.end).equals(bytes[0]!.subarray(a!.start, a!.end))).toBe(true);
    }
    const report = await traceLeak({ leaked: out, original: src, key, registry: await readRegistry(registry) });
    expect(report.accused.map((a) => a.recipient)).toEqual(['erin']);
  });
});

describe('trace: reading less, in bounded memory', () => {
  const publisher = newPublisherKey().publisher;
  const key = { id: fingerprintKeyId(KEY), key: KEY };
  const colluders = RECIPIENTS.slice(12, 16);
  let registry: string;
  const copyPath = (r: string) => join(dir, `seq-${r}.safetensors`);
  beforeAll(async () => {
    registry = join(dir, 'seq.jsonl');
    for (const r of [...colluders, 'innocent-a', 'innocent-b'])
      await embedFingerprint({ input: originalPath, output: copyPath(r), recipient: r, key, publisher, registry });
  });
  // 16 tensors of 1 MiB: with the first look at 1 MiB, looks after 1, 2, 4 and 8 MiB, and the final one (K = 5).
  const firstLook = 2 ** 20;
  const traceSeq = async (leaked: string) =>
    traceLeak({ leaked, original: originalPath, key, registry: await readRegistry(registry), firstLook });

  it("one leaker's copy: an early look decides, and the verdict says how much was read", async () => {
    const r = await traceSeq(copyPath(colluders[0]!));
    expect(r.accused.map((a) => a.recipient)).toEqual([colluders[0]]);
    expect(r.looks).toBe(5);
    expect(r.threshold).toBeCloseTo(Math.sqrt(2 * Math.log((6 * 1000 * 5) / 1e-9)), 10);
    expect(r.read.stoppedEarly).toBe(true);
    expect(r.read.looksTaken).toBe(1);
    expect(r.read).toMatchObject({
      tensors: 1,
      tensorsTotal: 16,
      parameters: 512 * 512,
      parametersTotal: 16 * 512 * 512,
      bytes: 2 ** 20,
      bytesTotal: 16 * 2 ** 20,
      fraction: 1 / 16,
    });
    expect(r.accused[0]!.log10Bound).toBeCloseTo(Math.log10(6 * 1000 * 5) - r.accused[0]!.z ** 2 / (2 * Math.LN10), 8);
    table.push({
      case: 'sequential: one leaker',
      guilty: colluders[0]!,
      z: `${r.accused[0]!.z.toFixed(1)} after ${(100 * r.read.fraction).toFixed(1)}%`,
      threshold: Number(r.threshold.toFixed(2)),
      maxInnocent: Number(r.scores[1]!.z.toFixed(2)),
    });
  });

  it('a coalition of 4 with noise reads on until every colluder is in, or to the end', async () => {
    const cs = colluders.map((c) => readCheckpoint(copyPath(c)));
    const tensors: Tensor[][] = [];
    for (const c of await Promise.all(cs))
      tensors.push(
        c.weights[0]!.tensors.map((t) => ({
          name: t.name,
          dtype: 'F32',
          shape: t.shape,
          values: readTensorValues(c.weights[0]!, t)!,
        })),
      );
    const r0 = rng(11);
    const leak = tensors[0]!.map((t, ti) => {
      const sigma = std(t.values);
      return mapValues(
        t,
        (_, i) => tensors.reduce((a, c) => a + c[ti]!.values[i]!, 0) / 4 + 0.005 * sigma * r0.gauss(),
      );
    });
    const p = join(dir, 'seq-coalition.safetensors');
    writeSafetensors(p, leak);
    const one = await traceSeq(copyPath(colluders[0]!));
    const r = await traceSeq(p);
    expect(r.accused.map((a) => a.recipient).sort()).toEqual([...colluders].sort());
    expect(r.read.fraction).toBeGreaterThan(one.read.fraction);
    expect(r.read.looksTaken).toBeGreaterThan(1);
    table.push({
      case: 'sequential: 4 colluders + 0.005σ noise',
      guilty: colluders.join(' '),
      z: `${r.accused.at(-1)!.z.toFixed(1)}.. after ${(100 * r.read.fraction).toFixed(1)}%`,
      threshold: Number(r.threshold.toFixed(2)),
      maxInnocent: Number(
        Math.max(...r.scores.filter((s) => !colluders.includes(s.recipient)).map((s) => s.z)).toFixed(2),
      ),
    });
  });

  it('an un-fingerprinted copy is read to the end and accuses nobody', async () => {
    const r = await traceSeq(originalPath);
    expect(r.accused).toEqual([]);
    expect(r.read).toMatchObject({ stoppedEarly: false, fraction: 1, tensors: 16, looksTaken: 5 });
  });

  it('records of another original in the registry cannot end the reading: a look that decides on them is read on for this one', async () => {
    // Original B: the same weights, another file (its metadata differs), so another digest.
    const b = join(dir, 'original-b.safetensors');
    writeSafetensors(b, original, { format: 'pt', copy: 'b' });
    const reg = join(dir, 'seq-two-originals.jsonl');
    writeFileSync(reg, readFileSync(registry));
    await embedFingerprint({
      input: b,
      output: join(dir, 'seq-b.safetensors'),
      recipient: 'b-only',
      key,
      publisher,
      registry: reg,
    });
    // colluders[0]'s copy of A, traced against B: while B is hashed every record is scored, and
    // colluders[0] decides the first look; but only b-only is B's, so the leak is read to the end.
    const r = await traceLeak({
      leaked: copyPath(colluders[0]!),
      original: b,
      key,
      registry: await readRegistry(reg),
      firstLook,
    });
    expect(r.originalInRegistry).toBe(true);
    expect(r.n).toBe(1);
    expect(r.accused).toEqual([]);
    expect(r.read).toMatchObject({ stoppedEarly: false, fraction: 1, looksTaken: 5 });
  });

  it('a tensor larger than a slice is measured slice by slice and traced', async () => {
    const big: Tensor[] = [
      {
        name: 'model.embed_tokens.weight',
        dtype: 'BF16',
        shape: [4100, 2048],
        values: Float32Array.from({ length: 4100 * 2048 }, (_, i) => Math.sin(i * 0.618) * 0.05 + 0.001),
      },
    ];
    const src = join(dir, 'big.safetensors');
    writeSafetensors(src, big);
    const reg = join(dir, 'big.jsonl');
    await embedFingerprint({
      input: src,
      output: join(dir, 'big-zoe.safetensors'),
      recipient: 'zoe',
      key,
      publisher,
      registry: reg,
    });
    await embedFingerprint({
      input: src,
      output: join(dir, 'big-other.safetensors'),
      recipient: 'other',
      key,
      publisher,
      registry: reg,
    });
    const ev = await gatherEvidence({
      leaked: join(dir, 'big-zoe.safetensors'),
      original: src,
      key: KEY,
      params: DEFAULT_PARAMS,
    });
    expect(ev.tensors).toHaveLength(3); // 8,396,800 elements: slices of 4,194,304
    expect(ev.tensors.map((t) => t.blocks[0])).toEqual([0, 64, 128]);
    expect(ev.aligned[0]!.positions).toBe(ev.positions);
    const r = await traceLeak({
      leaked: join(dir, 'big-zoe.safetensors'),
      original: src,
      key,
      registry: await readRegistry(reg),
    });
    expect(r.accused.map((a) => a.recipient)).toEqual(['zoe']);
    expect(r.read).toMatchObject({ parameters: 4100 * 2048, fraction: 1, stoppedEarly: false });

    // The same copy transposed is read slice by slice too (one run per leak row), measured alike.
    const [marked] = (await readCheckpoint(join(dir, 'big-zoe.safetensors'))).weights.flatMap((f) =>
      f.tensors.map((t) => readTensorValues(f, t)!),
    );
    const [R, C] = [4100, 2048];
    const t = new Float32Array(R * C);
    for (let i = 0; i < R; i++) for (let j = 0; j < C; j++) t[j * R + i] = marked![i * C + j]!;
    writeSafetensors(join(dir, 'big-zoe-t.safetensors'), [
      { name: 'leaked.T', dtype: 'BF16', shape: [C, R], values: t },
    ]);
    const evT = await gatherEvidence({
      leaked: join(dir, 'big-zoe-t.safetensors'),
      original: src,
      key: KEY,
      params: DEFAULT_PARAMS,
    });
    expect(evT.aligned.map((a) => a.how)).toEqual(['transposed']);
    expect(evT.tensors).toHaveLength(3);
    expect({ positions: evT.positions, norm2: evT.norm2 }).toEqual({ positions: ev.positions, norm2: ev.norm2 });
    const rT = await traceLeak({
      leaked: join(dir, 'big-zoe-t.safetensors'),
      original: src,
      key,
      registry: await readRegistry(reg),
    });
    expect(rT.accused.map((a) => a.recipient)).toEqual(['zoe']);
    expect(rT.scores).toEqual(r.scores);
  });
});
