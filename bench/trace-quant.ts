/**
 * z of quantized leaks (docs/FINGERPRINT.md §Quantized leaks): the sample checkpoint and generated
 * models of growing size, each marked for one of 20 recipients, quantized to each type, traced
 * (T = 1,000, ε = 1e-9). Legacy types are quantized by the reference `gguf` package (test venv:
 * `bash test/peers/setup.sh`), K-quants by test/support/kquants.ts. Run: `npx tsx bench/trace-quant.ts`.
 * The 1 GiB row, which does not fit in memory this way, is bench/trace-quant-gib.ts.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { GGML_TYPE, GGUF_VALUE_TYPE, writeGguf } from '../src/formats/gguf.js';
import { readCheckpoint, readTensorValues, isMarkable } from '../src/fingerprint/model.js';
import { DEFAULT_PARAMS } from '../src/fingerprint/params.js';
import { gatherEvidence, judge, scoreRecipients } from '../src/fingerprint/trace.js';
import type { FloatDtype } from '../src/formats/floats.js';
import { makeModel, markedTensors, tensorBytes, writeSafetensors, type Tensor } from '../test/support/checkpoints.js';
import { llamaName, requireGguf, writeQuantizedGguf } from '../test/support/gguf.js';
import { quantizeK, type KType } from '../test/support/kquants.js';

const KEY = new Uint8Array(createHash('sha256').update('modelseal bench: quantized leaks').digest());
const RECIPIENTS = Array.from({ length: 20 }, (_, i) => `recipient-${String(i).padStart(2, '0')}`);
const GUILTY = RECIPIENTS[7]!;
const TYPES = ['Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0', 'Q4_K', 'Q5_K', 'Q6_K'];
const scratch = mkdtempSync(join(tmpdir(), 'modelseal-trace-quant-'));

/**
 * K-quants need rows of 256: tensors with shorter rows are left out of the leak (llama.cpp would use
 * a fallback type).
 */
async function leakOf(marked: Tensor[], type: string, out: string): Promise<void> {
  if (!type.endsWith('_K')) {
    writeQuantizedGguf(marked, type, out, scratch);
    return;
  }
  const fits = marked.filter((t) => t.shape.length < 2 || t.shape.at(-1)! % 256 === 0);
  await writeGguf(
    out,
    new Map([['general.architecture', { type: GGUF_VALUE_TYPE.STRING, value: 'llama' }]]),
    fits.map((t) => {
      const ne = [...t.shape].reverse();
      const values = Float32Array.from(t.values);
      return t.shape.length < 2
        ? { name: llamaName(t.name), ggmlType: GGML_TYPE.F32, ne, data: tensorBytes({ ...t, dtype: 'F32', values }) }
        : { name: llamaName(t.name), ggmlType: GGML_TYPE[type as KType], ne, data: quantizeK(type as KType, values) };
    }),
    undefined,
    { overwrite: true },
  );
}

async function row(label: string, originalPath: string, original: Tensor[]): Promise<void> {
  const marked = markedTensors(original, KEY, GUILTY);
  const weights = original.filter((t) => t.shape.length >= 2).reduce((a, t) => a + t.values.length, 0);
  const cells: string[] = [];
  for (const type of TYPES) {
    const leak = join(scratch, `leak-${type}.gguf`);
    await leakOf(marked, type, leak);
    const ev = await gatherEvidence({ leaked: leak, original: originalPath, key: KEY, params: DEFAULT_PARAMS });
    const v = judge(scoreRecipients(ev, KEY, RECIPIENTS), { traces: 1000, epsilon: 1e-9 });
    const z = v.scores.find((s) => s.recipient === GUILTY)!.z;
    const accused = v.accused.map((a) => a.recipient);
    const ok = accused.length === 1 && accused[0] === GUILTY;
    if (accused.some((a) => a !== GUILTY))
      throw new Error(`${label} ${type}: an innocent was accused: ${accused.join(', ')}`);
    cells.push(`${z.toFixed(1)}${ok ? '' : ' ✗'}`);
    rmSync(leak);
  }
  console.log(`| ${label} | ${(weights / 1e6).toFixed(2)} M | ${cells.join(' | ')} |`);
}

requireGguf();
// τ depends only on n, T and ε: judge evidence of nothing.
const unread = { tensors: [], types: [] };
const nothing = { params: DEFAULT_PARAMS, aligned: [], unmatched: [], derived: false, unread, positions: 0 };
const scores = scoreRecipients({ ...nothing, norm2: 0, tensors: [] }, KEY, RECIPIENTS);
const tau = judge(scores, { traces: 1000, epsilon: 1e-9 }).threshold;
console.log(`τ = ${tau.toFixed(2)} (n = 20, T = 1000, ε = 1e-9); ✗ = not accused`);
console.log(`| model | marked-tensor weights | ${TYPES.join(' | ')} |`);
console.log(`|---|---|${TYPES.map(() => '---').join('|')}|`);
const sample = resolve('samples/checkpoint');
const ck = await readCheckpoint(sample);
const sampleTensors: Tensor[] = ck.weights.flatMap((f) =>
  f.tensors
    .filter((t) => isMarkable(t) || t.shape.length === 1)
    .map((t) => ({ name: t.name, dtype: t.dtype as FloatDtype, shape: t.shape, values: readTensorValues(f, t)! })),
);
await row('samples/checkpoint', sample, sampleTensors);
// Generated models: 8 layers of two rows × cols F32 matrices (SIZES=rows×cols,...).
for (const size of (process.env.SIZES ?? '256x256,512x512,768x768,1024x1024,1280x1280').split(',')) {
  const [rows, cols] = size.split('x').map(Number) as [number, number];
  const original = makeModel(11, 8, rows, cols);
  const path = join(scratch, 'original.safetensors');
  writeSafetensors(path, original);
  await row(`8 × 2 × ${rows}×${cols}`, path, original);
}
rmSync(scratch, { recursive: true, force: true });
