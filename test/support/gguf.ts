/** The reference GGUF implementation for the interop tests: the `gguf` package in the test venv. */
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PYTHON = join(fileURLToPath(new URL('../../', import.meta.url)), '.peers/venv/bin/python');

/** Fails (never skips) when the Python peers are not installed. */
export function requireGguf(): void {
  if (!existsSync(PYTHON))
    throw new Error(`${PYTHON} does not exist: run \`bash test/peers/setup.sh\` to install the Python peers`);
  const r = spawnSync(PYTHON, ['-c', 'import gguf, numpy'], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0)
    throw new Error(`the venv at ${PYTHON} cannot import gguf: run \`bash test/peers/setup.sh\`\n${r.stderr}`);
}

// Reads F32 tensors (raw files) and writes them as a GGUF with the reference GGUFWriter, the
// tensors of two or more dimensions quantized by the reference quants.quantize.
const QUANTIZE = String.raw`
import json, sys
import numpy as np
import gguf
from gguf import quants
req = json.load(sys.stdin)
qt = gguf.GGMLQuantizationType[req["type"]]
w = gguf.GGUFWriter(req["out"], "llama")
for t in req["tensors"]:
    a = np.fromfile(t["file"], dtype="<f4").reshape(t["shape"])
    if a.ndim >= 2:
        w.add_tensor(t["gguf"], quants.quantize(a, qt), raw_dtype=qt)
    else:
        w.add_tensor(t["gguf"], a)
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
`;

/**
 * llama.cpp's names for the generated models: model.layers.N.attn.weight → blk.N.attn_q.weight,
 * mlp → ffn_up, norm → attn_norm. Other names are kept.
 */
export function llamaName(name: string): string {
  const m = /^model\.layers\.(\d+)\.(attn|mlp|norm)\.weight$/.exec(name);
  return m ? `blk.${m[1]}.${{ attn: 'attn_q', mlp: 'ffn_up', norm: 'attn_norm' }[m[2]!]}.weight` : name;
}

/**
 * Writes F32 tensors (test/support/checkpoints.ts) to `out` as GGUF through the reference package:
 * llama.cpp names, 2-D tensors quantized to `type` (one it can quantize: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0).
 */
export function writeQuantizedGguf(
  tensors: readonly { name: string; shape: number[]; values: Float32Array }[],
  type: string,
  out: string,
  scratch: string,
): void {
  const files = tensors.map((t, i) => {
    const file = join(scratch, `tensor-${i}.f32`);
    writeFileSync(file, new Uint8Array(t.values.buffer, t.values.byteOffset, t.values.byteLength));
    return { file, shape: t.shape, name: t.name };
  });
  try {
    writeQuantizedGgufFromFiles(files, type, out);
  } finally {
    for (const f of files) rmSync(f.file);
  }
}

/**
 * As {@link writeQuantizedGguf}, from raw little-endian F32 files (one per tensor), which the
 * reference package reads one at a time: the tensors never need to be in this process's memory.
 */
export function writeQuantizedGgufFromFiles(
  files: readonly { file: string; shape: number[]; name: string }[],
  type: string,
  out: string,
  timeoutMs = 600_000,
): void {
  const tensors = files.map((f) => ({ file: f.file, shape: f.shape, gguf: llamaName(f.name) }));
  const r = spawnSync(PYTHON, ['-c', QUANTIZE], {
    input: JSON.stringify({ type, out, tensors }),
    encoding: 'utf8',
    timeout: timeoutMs,
  });
  if (r.status !== 0) throw new Error(`the reference gguf package could not write ${type}: ${r.stderr}`);
}
