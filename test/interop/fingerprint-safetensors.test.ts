/**
 * A fingerprinted safetensors file, read back by the reference implementation: the Python
 * `safetensors` package with numpy, from the venv that `bash test/peers/setup.sh` creates. Python
 * reports where the marked copy differs from the original, bit for bit, and numpy's own rounding
 * of w·(1 ± 2^-8); the test recomputes from the key alone which positions had to change and how
 * (the rule in src/fingerprint/mark.ts). A missing venv fails, never skips: a skipped interop test
 * checks nothing.
 *
 * numpy has no bfloat16, so safetensors 0.8 cannot give BF16 tensors to numpy (`load_file` refuses
 * the whole file, `safe_open(...).get_tensor` the tensor); BF16 bits come from the reference's own
 * `safetensors.deserialize`, which locates each tensor and hands over its bytes.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeSafetensorsHeader } from '../../src/formats/safetensors.js';
import { bf16Values, type FloatDtype } from '../../src/formats/floats.js';
import { embedFingerprint, METADATA_TAG, MAX_RELATIVE_RMS, type EmbedResult } from '../../src/fingerprint/embed.js';
import { BLOCK, DEFAULT_PARAMS } from '../../src/fingerprint/params.js';
import { blockCandidates, blockSymbols, codeKey, newBlockCandidates, supportKey } from '../../src/fingerprint/prf.js';
import { fingerprintKeyId, newPublisherKey } from '../../src/keystore/keystore.js';
import { cast, makeModel, rng, tensorBytes, type Tensor } from '../support/checkpoints.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PYTHON = join(ROOT, '.peers/venv/bin/python');

// Fixed, so a failure reproduces.
const KEY = new Uint8Array(createHash('sha256').update('modelseal interop test: fingerprint key').digest());
const RECIPIENT = 'recipient-7@example.org';
const PARAMS = DEFAULT_PARAMS;
const UP = 1 + 2 ** -8;

/** Fails (never skips) when the Python peers are not installed. */
function requirePython(): void {
  if (!existsSync(PYTHON))
    throw new Error(`${PYTHON} does not exist: run \`bash test/peers/setup.sh\` to install the Python peers`);
  const r = spawnSync(PYTHON, ['-c', 'import safetensors, numpy'], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0)
    throw new Error(
      `the venv at ${PYTHON} cannot import safetensors and numpy: run \`bash test/peers/setup.sh\`\n${r.stderr}`,
    );
}

// Reads both files with the reference library and writes, per tensor, the flat indices where the
// bit patterns differ, the old and new patterns there, numpy's rounding of w·(1 ± 2^-8) at those
// indices (F32, F16), and the relative RMS change √(Σ(w' − w)² / Σw²) over finite weights.
const DIFF = String.raw`
import hashlib, json, math, sys
import numpy as np
import safetensors
from safetensors.numpy import load_file

req = json.load(sys.stdin)
UINT = {1: "<u1", 2: "<u2", 4: "<u4", 8: "<u8"}

def read(path):
    out = {"metadata": None, "tensors": {}}
    try:
        load_file(path)
        out["load_file"] = "loaded"
    except Exception as e:
        out["load_file"] = type(e).__name__ + ": " + str(e)
    with open(path, "rb") as fh:
        raw = {name: info for name, info in safetensors.deserialize(fh.read())}
    arrays = {}
    with safetensors.safe_open(path, framework="numpy") as f:
        out["metadata"] = f.metadata()
        for name in f.keys():
            s = f.get_slice(name)
            t = {"dtype": s.get_dtype(), "shape": list(s.get_shape())}
            try:
                a = f.get_tensor(name).reshape(-1)
                t["via"] = "numpy"
                t["numpy_dtype"] = str(a.dtype)
                bits = a.astype(a.dtype.newbyteorder("<")).view(UINT[a.dtype.itemsize])
                values = a.astype(np.float64) if a.dtype.kind == "f" else None
            except TypeError as e:
                t["via"] = "deserialize"
                t["numpy_error"] = str(e)
                info = raw[name]
                assert info["dtype"] == "BF16", name + ": numpy refused " + info["dtype"]
                bits = np.frombuffer(bytes(info["data"]), dtype="<u2")
                # BF16 is the top half of an IEEE binary32.
                values = (bits.astype("<u4") << 16).view("<f4").astype(np.float64)
                a = None
            t["sha256"] = hashlib.sha256(bits.tobytes()).hexdigest()
            out["tensors"][name] = t
            arrays[name] = (bits, values, a)
    return out, arrays

original, before = read(req["original"])
marked, after = read(req["marked"])
diffs = {}
for name, (bo, vo, ao) in before.items():
    bm, vm, _ = after[name]
    idx = np.flatnonzero(bo != bm)
    d = {"index": idx.tolist(), "old": bo[idx].tolist(), "new": bm[idx].tolist(), "relative_rms": None}
    if vo is not None:
        finite = np.isfinite(vo)
        sum_sq = float(np.sum(vo[finite] ** 2))
        delta_sq = float(np.sum((vm[idx] - vo[idx]) ** 2))
        d["relative_rms"] = math.sqrt(delta_sq / sum_sq) if sum_sq > 0 else 0.0
    if ao is not None and ao.dtype.kind == "f":
        w = ao[idx].astype(np.float64)  # exact: w·(1 ± 2^-8) fits a float64, so numpy rounds once
        d["up"] = (w * (1 + 2.0 ** -8)).astype(ao.dtype.newbyteorder("<")).view(UINT[ao.dtype.itemsize]).tolist()
        d["down"] = (w * (1 - 2.0 ** -8)).astype(ao.dtype.newbyteorder("<")).view(UINT[ao.dtype.itemsize]).tolist()
    diffs[name] = d
with open(req["out"], "w") as fh:
    json.dump({"safetensors": safetensors.__version__, "numpy": np.__version__,
               "original": original, "marked": marked, "diffs": diffs}, fh)
`;

interface PyTensor {
  dtype: string;
  shape: number[];
  via: 'numpy' | 'deserialize';
  numpy_dtype?: string;
  numpy_error?: string;
  sha256: string;
}
interface PyFile {
  load_file: string;
  metadata: Record<string, string> | null;
  tensors: Record<string, PyTensor>;
}
interface PyDiff {
  index: number[];
  old: number[];
  new: number[];
  up?: number[];
  down?: number[];
  relative_rms: number | null;
}
interface PyReport {
  safetensors: string;
  numpy: string;
  original: PyFile;
  marked: PyFile;
  diffs: Record<string, PyDiff>;
}

/** A tensor as written: any safetensors dtype, little-endian bytes. */
interface Written {
  name: string;
  dtype: string;
  shape: number[];
  bytes: Uint8Array;
}

const markable = (t: Written): t is Written & { dtype: FloatDtype } =>
  (t.dtype === 'F32' || t.dtype === 'F16' || t.dtype === 'BF16') && t.shape.length >= 2;

/** The element bit patterns of a float tensor. */
function patterns(t: Written & { dtype: FloatDtype }): Uint32Array {
  const dv = new DataView(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength);
  const es = t.dtype === 'F32' ? 4 : 2;
  return Uint32Array.from({ length: t.bytes.length / es }, (_, i) =>
    es === 4 ? dv.getUint32(4 * i, true) : dv.getUint16(2 * i, true),
  );
}

type Verdict = 'eligible' | 'zero' | 'subnormal' | 'non-finite' | 'no-room';
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * Whether a weight can carry the mark, from the documented rule alone (finite, normal, non-zero,
 * and |w| can grow without overflowing), decoded here from the bits independently of src/.
 */
function verdict(dtype: FloatDtype, bits: number): Verdict {
  const [ebits, mbits] = dtype === 'F32' ? [8, 23] : dtype === 'F16' ? [5, 10] : [8, 7];
  const mag = dtype === 'F32' ? (bits & 0x7fffffff) >>> 0 : bits & 0x7fff;
  const e = mag >>> mbits;
  if (mag === 0) return 'zero';
  if (e === 0) return 'subnormal';
  if (e === (1 << ebits) - 1) return 'non-finite';
  if (dtype === 'BF16') return mag + 1 < 0x7f80 ? 'eligible' : 'no-room';
  if (dtype === 'F32') {
    u32[0] = mag;
    return Math.fround(f32[0]! * UP) !== Infinity ? 'eligible' : 'no-room';
  }
  // F16: 65520, halfway between 65504 and 2^16, rounds (to even) to infinity.
  const a = (1 + (mag & 0x3ff) / 1024) * 2 ** (e - 15);
  return a * UP < 65520 ? 'eligible' : 'no-room';
}

/**
 * Every position of a tensor the mark must change, with the recipient's symbol there, and a tally of
 * the candidates left alone.
 */
function expectedMarks(t: Written & { dtype: FloatDtype }): {
  pos: number[];
  symbol: Map<number, number>;
  skipped: Record<Verdict, number>;
} {
  const bits = patterns(t);
  const elements = bits.length;
  const sk = supportKey(KEY, t.name);
  const ck = codeKey(KEY, RECIPIENT, t.name);
  const cand = newBlockCandidates();
  const sym = new Uint8Array(BLOCK);
  const pos: number[] = [];
  const symbol = new Map<number, number>();
  const skipped: Record<Verdict, number> = { eligible: 0, zero: 0, subnormal: 0, 'non-finite': 0, 'no-room': 0 };
  for (let b = 0; b * BLOCK < elements; b++) {
    blockCandidates(sk, PARAMS, b, elements, cand);
    blockSymbols(ck, b, cand, sym);
    for (let j = 0; j < cand.count; j++) {
      const e = b * BLOCK + cand.at[j]!;
      const v = verdict(t.dtype, bits[e]!);
      if (v !== 'eligible') skipped[v]++;
      else {
        pos.push(e);
        symbol.set(e, sym[j]!);
      }
    }
  }
  return { pos, symbol, skipped };
}

/** Weights no mark may touch, placed at candidate positions (first and last block) so the rule is tested, not luck. */
const SPECIALS: Record<FloatDtype, number[]> = {
  F32: [
    0,
    -0,
    1e-40,
    -1e-40,
    Infinity,
    -Infinity,
    NaN,
    3.4028234663852886e38,
    -3.39e38,
    3.38e38,
    1e38,
    2 ** -126,
    -(2 ** -126),
  ],
  F16: [0, -0, 2 ** -20, -(2 ** -24), Infinity, -Infinity, NaN, 65504, -65280, 65248, 2 ** -14, -(2 ** -14)],
  BF16: [
    0,
    -0,
    2 ** -130,
    -(2 ** -133),
    Infinity,
    -Infinity,
    NaN,
    bf16Values()[0x7f7f]!,
    -bf16Values()[0x7f7f]!,
    bf16Values()[0x7f7e]!,
    2 ** -126,
    -(2 ** -126),
  ],
};

/** Exact zeros every 97th weight; with `specials`, those values at candidates of the first and last blocks. */
function edit(t: Tensor, specials: readonly number[] | null): Tensor {
  const v = new Float32Array(t.values);
  for (let i = 0; i < v.length; i += 97) v[i] = i % 2 ? -0 : 0;
  if (specials) {
    const sk = supportKey(KEY, t.name);
    const first = blockCandidates(sk, PARAMS, 0, v.length, newBlockCandidates());
    const lastBlock = Math.ceil(v.length / BLOCK) - 1;
    const last = blockCandidates(sk, PARAMS, lastBlock, v.length, newBlockCandidates());
    specials.forEach((x, j) => {
      v[first.at[j]!] = x;
      v[lastBlock * BLOCK + last.at[last.count - 1 - j]!] = x;
    });
  }
  return { ...t, values: v };
}

/** F32, F16 and BF16 models (2-D and 3-D weights, 1-D norms), an I32 matrix and a U8 vector. */
function checkpoint(): Written[] {
  const model = (prefix: string, seed: number, rows: number, cols: number, dtype: FloatDtype) =>
    makeModel(seed, 1, rows, cols, dtype).map((t) => {
      const named = { ...cast(t, dtype), name: `${prefix}.${t.name}` };
      // Specials only in the attention weights: their huge values would swamp the mlp's RMS.
      return named.shape.length < 2 ? named : edit(named, named.name.endsWith('attn.weight') ? SPECIALS[dtype] : null);
    });
  const r = rng(99);
  const conv = cast(
    {
      name: 'f16.conv.weight',
      dtype: 'F32',
      shape: [64, 48, 5],
      values: Float32Array.from({ length: 64 * 48 * 5 }, () => 0.05 * r.gauss()),
    },
    'F16',
  );
  const floats = [
    ...model('f32', 1, 400, 500, 'F32'),
    ...model('f16', 2, 300, 700, 'F16'),
    conv,
    ...model('bf16', 3, 512, 384, 'BF16'),
  ];
  const ints = new Int32Array(64 * 64).map(() => Math.floor((r.uniform() - 0.5) * 2 ** 32));
  return [
    ...floats.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, bytes: tensorBytes(t) })),
    { name: 'embed.position_ids', dtype: 'I32', shape: [64, 64], bytes: new Uint8Array(ints.buffer) },
    {
      name: 'tokenizer.byte_map',
      dtype: 'U8',
      shape: [3000],
      bytes: Uint8Array.from({ length: 3000 }, () => Math.floor(r.uniform() * 256)),
    },
  ];
}

function writeCheckpoint(path: string, tensors: readonly Written[], metadata: Record<string, string>): void {
  let at = 0;
  const entries = tensors.map((t) => {
    const e = { name: t.name, dtype: t.dtype, shape: t.shape, begin: at, end: at + t.bytes.length };
    at = e.end;
    return e;
  });
  writeFileSync(path, Buffer.concat([encodeSafetensorsHeader(metadata, entries), ...tensors.map((t) => t.bytes)]));
}

const METADATA = { format: 'pt' };
let tmp: string;
let tensors: Written[];
let result: EmbedResult;
let py: PyReport;

beforeAll(async () => {
  requirePython();
  tmp = mkdtempSync(join(tmpdir(), 'modelseal-fp-interop-'));
  tensors = checkpoint();
  const original = join(tmp, 'original.safetensors');
  const marked = join(tmp, 'marked.safetensors');
  writeCheckpoint(original, tensors, METADATA);
  result = await embedFingerprint({
    input: original,
    output: marked,
    recipient: RECIPIENT,
    key: { id: fingerprintKeyId(KEY), key: KEY },
    publisher: newPublisherKey().publisher,
    registry: join(tmp, 'registry.jsonl'),
    params: PARAMS,
  });
  const out = join(tmp, 'diff.json');
  const r = spawnSync(PYTHON, ['-c', DIFF], {
    input: JSON.stringify({ original, marked, out }),
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`python exited with ${r.status}:\n${r.stderr}`);
  py = JSON.parse(readFileSync(out, 'utf8')) as PyReport;
}, 120_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('a fingerprinted safetensors file read by Python safetensors', () => {
  it('opens with safe_open before and after, with the same tensors and only the tag added to the metadata', () => {
    expect(py.safetensors).toBe('0.8.0');
    expect(py.original.metadata).toEqual(METADATA);
    expect(py.marked.metadata).toEqual({ ...METADATA, [METADATA_TAG]: result.record.id });
    for (const file of [py.original, py.marked]) {
      expect(Object.keys(file.tensors).sort()).toEqual(tensors.map((t) => t.name).sort());
      for (const t of tensors)
        expect({ name: t.name, dtype: file.tensors[t.name]?.dtype, shape: file.tensors[t.name]?.shape }).toEqual({
          name: t.name,
          dtype: t.dtype,
          shape: t.shape,
        });
    }
    // The reference read back exactly the bytes written, through numpy or deserialize.
    for (const t of tensors)
      expect({ name: t.name, sha256: py.original.tensors[t.name]?.sha256 }).toEqual({
        name: t.name,
        sha256: createHash('sha256').update(t.bytes).digest('hex'),
      });
  });

  it('loads F32, F16, I32 and U8 through numpy, and BF16 only through deserialize', () => {
    const numpyDtype: Record<string, string> = { F32: 'float32', F16: 'float16', I32: 'int32', U8: 'uint8' };
    for (const file of [py.original, py.marked]) {
      for (const t of tensors) {
        const p = file.tensors[t.name]!;
        if (t.dtype === 'BF16' && p.via === 'deserialize') expect(p.numpy_error).toMatch(/bfloat16/);
        else
          expect({ name: t.name, via: p.via, dtype: p.numpy_dtype }).toEqual({
            name: t.name,
            via: 'numpy',
            dtype: numpyDtype[t.dtype] ?? p.numpy_dtype,
          });
      }
      // Recorded, not asserted beyond this: a later safetensors may map BF16 to ml_dtypes.
      if (file.load_file !== 'loaded') expect(file.load_file).toMatch(/bfloat16/);
    }
  });

  it('differs from the original exactly at the candidates whose weight can carry the mark', () => {
    for (const t of tensors.filter(markable)) {
      const want = expectedMarks(t).pos;
      const got = py.diffs[t.name]!.index;
      const wanted = new Set(want);
      const gotSet = new Set(got);
      const missing = want.filter((e) => !gotSet.has(e));
      const extra = got.filter((e) => !wanted.has(e));
      expect({ name: t.name, changed: got.length, missing: missing.slice(0, 5), extra: extra.slice(0, 5) }).toEqual({
        name: t.name,
        changed: want.length,
        missing: [],
        extra: [],
      });
      expect(got).toEqual(want);
      const report = result.tensors.find((r) => r.name === t.name);
      expect({ name: t.name, marked: report?.marked }).toEqual({ name: t.name, marked: want.length });
    }
  });

  it('moves each changed weight by the documented step, up for symbol 1 and down for 0', () => {
    for (const t of tensors.filter(markable)) {
      const { symbol } = expectedMarks(t);
      const d = py.diffs[t.name]!;
      const sign = t.dtype === 'F32' ? 0x80000000 : 0x8000;
      const bad: string[] = [];
      const moves = { up: 0, down: 0 };
      d.index.forEach((e, j) => {
        const s = symbol.get(e);
        const [o, n] = [d.old[j]!, d.new[j]!];
        const [mo, mn] = [(o & (sign - 1)) >>> 0, (n & (sign - 1)) >>> 0];
        // Same sign, and for same-sign IEEE floats the magnitude orders as the magnitude bits do.
        let ok = (o & sign) === (n & sign) && (s === 1 ? mn > mo : mn < mo);
        // BF16: one ulp of |w|; F32 and F16: numpy's rounding of w·(1 ± 2^-8).
        if (t.dtype === 'BF16') ok &&= mn === mo + (s === 1 ? 1 : -1);
        else ok &&= n === (s === 1 ? d.up![j] : d.down![j]);
        if (s === 1) moves.up++;
        else moves.down++;
        if (!ok && bad.length < 5) bad.push(`#${e} symbol ${s}: 0x${o.toString(16)} → 0x${n.toString(16)}`);
      });
      expect({ name: t.name, bad }).toEqual({ name: t.name, bad: [] });
      expect(moves.up, `${t.name}: weights moved up`).toBeGreaterThan(0);
      expect(moves.down, `${t.name}: weights moved down`).toBeGreaterThan(0);
    }
  });

  it('leaves 1-D and integer tensors, zeros, subnormals, non-finite and no-room weights untouched', () => {
    for (const t of tensors.filter((x) => !markable(x))) {
      expect({ name: t.name, changed: py.diffs[t.name]!.index.length }).toEqual({ name: t.name, changed: 0 });
      expect(py.marked.tensors[t.name]!.sha256, t.name).toBe(py.original.tensors[t.name]!.sha256);
    }
    expect(
      tensors
        .filter((x) => !markable(x))
        .map((x) => x.dtype)
        .sort(),
    ).toEqual(['BF16', 'F16', 'F32', 'I32', 'U8']);
    // The candidates the rule skips (each is absent from the diff, by the exact match above).
    for (const t of tensors.filter(markable).filter((x) => x.name.endsWith('attn.weight'))) {
      const { skipped } = expectedMarks(t);
      for (const v of ['zero', 'subnormal', 'non-finite', 'no-room'] as const)
        expect(skipped[v], `${t.name}: ${v} candidates`).toBeGreaterThan(0);
    }
  });

  it('changes every tensor by a relative RMS below 2^-7, as embed reports', () => {
    expect(MAX_RELATIVE_RMS).toBe(2 ** -7);
    for (const t of tensors.filter((x) => x.dtype !== 'I32' && x.dtype !== 'U8')) {
      const rms = py.diffs[t.name]!.relative_rms!;
      expect(rms, t.name).toBeLessThan(2 ** -7);
      if (!markable(t)) {
        expect(rms, t.name).toBe(0);
        continue;
      }
      expect(rms, t.name).toBeGreaterThan(0);
      // embed estimates Σw² from the candidates (a keyed 10% sample): close for natural weights; the
      // attention tensors hold extreme values planted on candidates, which the sample over-weights.
      const reported = result.tensors.find((r) => r.name === t.name)!.relativeRms;
      expect(reported, t.name).toBeLessThan(2 ** -7);
      if (!t.name.includes('attn')) expect(Math.abs(rms / reported - 1), t.name).toBeLessThan(0.03);
    }
  });
});
