/**
 * Interop with the reference implementation: the Python `safetensors` package (Rust core) with
 * numpy, from the venv that `bash test/peers/setup.sh` creates. A missing venv fails these tests
 * on purpose: a skipped interop test would pass silently on a machine that checks nothing.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isModelsealError } from '../../src/errors.js';
import { parseSafetensorsHeader, type SafetensorsHeader } from '../../src/formats/safetensors.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PYTHON = join(ROOT, '.peers/venv/bin/python');
const SAMPLE = join(ROOT, 'samples/checkpoint/model.safetensors');
const GENERATOR = join(ROOT, 'samples/make-sample.mjs');

interface Spec {
  name: string;
  dtype: 'F32' | 'F16' | 'BF16';
  shape: number[];
}
/** The part of samples/make-sample.mjs used here (the script is plain JS). */
interface SampleGenerator {
  sampleTensorSpecs(): Spec[];
  sampleTensorSource(spec: Spec): Float64Array;
  float16Bits(x: number): number;
  float16ToNumber(bits: number): number;
}

/** Fails (never skips) when the Python peers are not installed. */
function requirePython(): void {
  if (!existsSync(PYTHON)) {
    throw new Error(`${PYTHON} does not exist: run \`bash test/peers/setup.sh\` to install the Python peers`);
  }
  const r = spawnSync(PYTHON, ['-c', 'import safetensors, numpy'], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) {
    throw new Error(
      `the venv at ${PYTHON} cannot import safetensors and numpy: run \`bash test/peers/setup.sh\`\n${r.stderr}`,
    );
  }
}

/** Runs a Python script with a JSON request on stdin and returns its JSON answer from stdout. */
function python(script: string, request: unknown): unknown {
  requirePython();
  const r = spawnSync(PYTHON, ['-c', script], {
    input: JSON.stringify(request),
    encoding: 'utf8',
    timeout: 120_000,
    maxBuffer: 256 * 1024 * 1024,
  });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`python exited with ${r.status}:\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

// Everything Python knows about the sample: safe_open's view (names, dtypes, shapes, metadata,
// numpy arrays for the dtypes numpy has) and deserialize's raw bytes (which also cover BF16).
const READ_SAMPLE = String.raw`
import hashlib, json, sys
import numpy as np
import safetensors
req = json.load(sys.stdin)
out = {"version": safetensors.__version__, "tensors": {}, "metadata": None}
with safetensors.safe_open(req["path"], framework="numpy") as f:
    out["metadata"] = f.metadata()
    for name in f.keys():
        s = f.get_slice(name)
        t = {"dtype": s.get_dtype(), "shape": list(s.get_shape())}
        try:
            a = f.get_tensor(name)
            t["numpy_dtype"] = str(a.dtype)
            t["numpy_shape"] = list(a.shape)
            if t["dtype"] in req["values_for"]:
                t["values"] = [float(v) for v in a.astype(np.float64).ravel()]
        except Exception as e:
            t["numpy_error"] = type(e).__name__ + ": " + str(e)
        out["tensors"][name] = t
with open(req["path"], "rb") as fh:
    blob = fh.read()
for name, info in safetensors.deserialize(blob):
    t = out["tensors"].setdefault(name, {})
    t["raw_dtype"] = info["dtype"]
    t["raw_shape"] = list(info["shape"])
    t["raw_sha256"] = hashlib.sha256(bytes(info["data"])).hexdigest()
    t["raw_length"] = len(info["data"])
json.dump(out, sys.stdout)
`;

// numpy's own rounding of the generator's exact (float64) values, compared with the bytes the
// reference reader returns. numpy rounds float64 to float16 / float32 to nearest even; it has no
// bfloat16, so BF16 is rounded here with frexp + rint (ties to even) + ldexp, all exact steps.
const CHECK_ROUNDING = String.raw`
import json, sys
import numpy as np
import safetensors
req = json.load(sys.stdin)
with open(req["path"], "rb") as fh:
    raw = {name: (info["dtype"], bytes(info["data"])) for name, info in safetensors.deserialize(fh.read())}
out = {}
for name, src_path in req["sources"].items():
    src = np.fromfile(src_path, dtype="<f8")
    dtype, data = raw[name]
    if dtype == "F32":
        want = src.astype(np.float32).astype("<f4").view("<u4")
        got = np.frombuffer(data, dtype="<u4")
    elif dtype == "F16":
        want = src.astype(np.float16).astype("<f2").view("<u2")
        got = np.frombuffer(data, dtype="<u2")
    elif dtype == "BF16":
        assert np.all((src == 0) | (np.abs(src) >= 2.0 ** -126)), "bfloat16 subnormals are not handled here"
        m, e = np.frexp(src)
        exact = np.ldexp(np.rint(m * 256.0), e - 8)
        want = (exact.astype(np.float32).astype("<f4").view("<u4") >> 16).astype("<u2")
        got = np.frombuffer(data, dtype="<u2")
    else:
        raise SystemExit("unexpected dtype " + dtype)
    out[name] = {"dtype": dtype, "count": int(src.size), "mismatches": int(np.count_nonzero(want != got))}
json.dump(out, sys.stdout)
`;

// Which of the given files the reference reader accepts.
const ACCEPTS = String.raw`
import json, sys
import safetensors
out = {}
for label, path in json.load(sys.stdin)["files"].items():
    try:
        with safetensors.safe_open(path, framework="numpy") as f:
            list(f.keys())
        out[label] = "accepted"
    except Exception as e:
        out[label] = "rejected: " + str(e)
json.dump(out, sys.stdout)
`;

interface PyTensor {
  dtype: string;
  shape: number[];
  numpy_dtype?: string;
  numpy_shape?: number[];
  numpy_error?: string;
  values?: number[];
  raw_dtype: string;
  raw_shape: number[];
  raw_sha256: string;
  raw_length: number;
}
interface PySample {
  version: string;
  metadata: Record<string, string> | null;
  tensors: Record<string, PyTensor>;
}

let gen: SampleGenerator;
let bytes: Uint8Array;
let ours: SafetensorsHeader;
let py: PySample;
let tmp: string;

beforeAll(async () => {
  gen = (await import(pathToFileURL(GENERATOR).href)) as SampleGenerator;
  bytes = new Uint8Array(readFileSync(SAMPLE));
  ours = parseSafetensorsHeader(bytes, bytes.length);
  tmp = mkdtempSync(join(tmpdir(), 'modelseal-interop-'));
  py = python(READ_SAMPLE, { path: SAMPLE, values_for: ['F32', 'F16'] }) as PySample;
}, 120_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function slice(name: string): Uint8Array {
  const t = ours.tensors.find((x) => x.name === name);
  if (!t) throw new Error(`our parser has no tensor ${name}`);
  return bytes.subarray(t.start, t.end);
}

describe('samples/checkpoint/model.safetensors read by Python safetensors', () => {
  it('has the names, dtypes, shapes and metadata our parser reports', () => {
    expect(py.version).toBe('0.8.0');
    expect(py.metadata).toEqual({ ...ours.metadata });
    expect(Object.keys(py.tensors).sort()).toEqual(ours.tensors.map((t) => t.name).sort());
    for (const t of ours.tensors) {
      const p = py.tensors[t.name];
      expect(p, t.name).toBeDefined();
      expect({ name: t.name, dtype: p?.dtype, shape: p?.shape }).toEqual({
        name: t.name,
        dtype: t.dtype,
        shape: t.shape,
      });
      expect({ name: t.name, dtype: p?.raw_dtype, shape: p?.raw_shape }).toEqual({
        name: t.name,
        dtype: t.dtype,
        shape: t.shape,
      });
    }
  });

  it('returns, for every tensor including BF16, exactly the bytes at our offsets', () => {
    for (const t of ours.tensors) {
      const p = py.tensors[t.name]!;
      expect(p.raw_length, t.name).toBe(t.end - t.start);
      expect(p.raw_sha256, t.name).toBe(createHash('sha256').update(slice(t.name)).digest('hex'));
    }
  });

  it('gives numpy float32/float16 arrays whose values equal what the generator wrote', () => {
    const expected = new Map(gen.sampleTensorSpecs().map((s) => [s.name, s]));
    let checked = 0;
    for (const t of ours.tensors) {
      const p = py.tensors[t.name]!;
      if (t.dtype === 'BF16') continue;
      const spec = expected.get(t.name)!;
      const source = gen.sampleTensorSource(spec);
      expect(p.numpy_dtype, t.name).toBe(t.dtype === 'F32' ? 'float32' : 'float16');
      expect(p.numpy_shape, t.name).toEqual(t.shape);
      const values = p.values!;
      expect(values.length, t.name).toBe(source.length);
      const view = new DataView(bytes.buffer, bytes.byteOffset + t.start, t.end - t.start);
      let mismatches = 0;
      for (let i = 0; i < source.length; i++) {
        const s = source[i]!;
        const written = t.dtype === 'F32' ? Math.fround(s) : gen.float16ToNumber(gen.float16Bits(s));
        const inFile =
          t.dtype === 'F32' ? view.getFloat32(i * 4, true) : gen.float16ToNumber(view.getUint16(i * 2, true));
        if (values[i] !== written || inFile !== written) mismatches++;
      }
      expect(mismatches, `${t.name}: values differing between numpy, the file and the generator`).toBe(0);
      checked += source.length;
    }
    expect(checked).toBe(2 * (64 * 64 * 2 + 32 * 64 * 2) + 512 * 64 + 5 * 64);
  });

  it('reads BF16 only as raw bytes: numpy has no bfloat16 (recorded, not asserted)', () => {
    const bf16 = ours.tensors.filter((t) => t.dtype === 'BF16');
    expect(bf16.length).toBe(7);
    for (const t of bf16) {
      const p = py.tensors[t.name]!;
      // Not asserted: a later safetensors may map BF16 to ml_dtypes. Recorded for the reader.
      if (p.numpy_error === undefined) expect(p.numpy_dtype).toBeDefined();
      else expect(p.numpy_error).toMatch(/bfloat16/);
    }
  });

  it('holds, for F32, F16 and BF16 alike, numpy’s round-to-nearest-even of the generator’s exact values', () => {
    const sources: Record<string, string> = {};
    gen.sampleTensorSpecs().forEach((spec, i) => {
      const path = join(tmp, `source-${i}.f64`);
      const src = gen.sampleTensorSource(spec);
      const le = Buffer.alloc(src.length * 8);
      for (let j = 0; j < src.length; j++) le.writeDoubleLE(src[j]!, j * 8);
      writeFileSync(path, le);
      sources[spec.name] = path;
    });
    const result = python(CHECK_ROUNDING, { path: SAMPLE, sources }) as Record<
      string,
      { dtype: string; count: number; mismatches: number }
    >;
    expect(Object.keys(result).sort()).toEqual(Object.keys(sources).sort());
    for (const [name, r] of Object.entries(result)) expect({ name, ...r }).toMatchObject({ name, mismatches: 0 });
    expect(new Set(Object.values(result).map((r) => r.dtype))).toEqual(new Set(['F32', 'F16', 'BF16']));
  }, 120_000);
});

describe('malformed files: our parser and Python safetensors', () => {
  function file(header: string, dataLength: number, declaredLength?: number): Uint8Array {
    const padded = header + ' '.repeat((8 - (Buffer.byteLength(header) % 8)) % 8);
    const h = Buffer.from(padded, 'utf8');
    const out = new Uint8Array(8 + h.length + dataLength);
    new DataView(out.buffer).setBigUint64(0, BigInt(declaredLength ?? h.length), true);
    out.set(h, 8);
    return out;
  }
  const e = (dtype: string, shape: number[], b: number, end: number) =>
    JSON.stringify({ dtype, shape, data_offsets: [b, end] });

  function verdicts(cases: Record<string, Uint8Array>): {
    ours: Record<string, string>;
    python: Record<string, string>;
  } {
    const files: Record<string, string> = {};
    const oursOut: Record<string, string> = {};
    for (const [label, blob] of Object.entries(cases)) {
      const path = join(tmp, `${label}.safetensors`);
      writeFileSync(path, blob);
      files[label] = path;
      try {
        parseSafetensorsHeader(blob, blob.length);
        oursOut[label] = 'accepted';
      } catch (err) {
        if (!isModelsealError(err, 'INVALID_ARGUMENT')) throw err;
        oursOut[label] = `rejected: ${err.message}`;
      }
    }
    return { ours: oursOut, python: python(ACCEPTS, { files }) as Record<string, string> };
  }

  it('are rejected by both when the reference also refuses them', () => {
    const cases = {
      'header-past-eof': file(`{"a":${e('U8', [2], 0, 2)}}`, 2, 4096),
      'bad-json': file('{"a": {"dtype": "U8",}}', 2),
      'wrong-byte-count': file(`{"a":${e('F32', [2], 0, 4)}}`, 4),
      'out-of-range': file(`{"a":${e('U8', [4], 0, 4)}}`, 2),
      overlap: file(`{"a":${e('U8', [2], 0, 2)},"b":${e('U8', [2], 1, 3)}}`, 3),
      gap: file(`{"a":${e('U8', [1], 0, 1)},"b":${e('U8', [1], 2, 3)}}`, 3),
      'trailing-bytes': file(`{"a":${e('U8', [2], 0, 2)}}`, 5),
      'unknown-dtype': file(`{"a":${e('F128', [2], 0, 2)}}`, 2),
      'float-shape': file('{"a":{"dtype":"U8","shape":[2.0],"data_offsets":[0,2]}}', 2),
      'metadata-not-string': file(`{"__metadata__":{"format":1},"a":${e('U8', [2], 0, 2)}}`, 2),
      'f4-half-byte': file(`{"a":${e('F4', [3], 0, 2)}}`, 2),
    };
    const v = verdicts(cases);
    for (const label of Object.keys(cases)) {
      expect({ label, ours: v.ours[label]?.split(':')[0] }).toEqual({ label, ours: 'rejected' });
      expect({ label, python: v.python[label]?.split(':')[0] }).toEqual({ label, python: 'rejected' });
    }
  }, 120_000);

  it('are accepted by both when valid, and only ours refuses the ambiguous ones', () => {
    const valid = {
      'empty-header': file('{}', 0),
      'zero-size-and-scalar': file(`{"b":${e('BF16', [0, 3], 4, 4)},"a":${e('F32', [], 0, 4)}}`, 4),
      'c64-and-f6': file(`{"a":${e('C64', [1], 0, 8)},"b":${e('F6_E3M2', [4], 8, 11)}}`, 11),
    };
    const stricter = {
      'duplicate-key': file(`{"a":${e('U8', [1], 0, 1)},"a":${e('U8', [2], 0, 2)}}`, 2),
      'unknown-field': file('{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2],"x":1}}', 2),
      'null-metadata': file(`{"__metadata__":null,"a":${e('U8', [2], 0, 2)}}`, 2),
      'newline-padding': file(`{"a":${e('U8', [2], 0, 2)}}\n`, 2),
      'leading-space': file(` {"a":${e('U8', [2], 0, 2)}}`, 2),
    };
    const v = verdicts({ ...valid, ...stricter });
    for (const label of Object.keys(valid)) {
      expect({ label, ours: v.ours[label], python: v.python[label] }).toEqual({
        label,
        ours: 'accepted',
        python: 'accepted',
      });
    }
    for (const label of Object.keys(stricter)) {
      expect({ label, python: v.python[label] }).toEqual({ label, python: 'accepted' });
      expect({ label, ours: v.ours[label]?.split(':')[0] }).toEqual({ label, ours: 'rejected' });
    }
  }, 120_000);
});
