/**
 * The "1 GiB BF16" row of docs/FINGERPRINT.md §"z per type, and the smallest model traced", measured
 * streamed (bench/trace-quant.ts builds its models in memory, which does not fit this size):
 *
 * 1. bench/bf16-checkpoint.mjs writes a BF16 safetensors checkpoint of `--gib` GiB (16 tensors
 *    [4096, 8192] per GiB);
 * 2. a copy is marked for one of 20 recipients tensor by tensor (as `fingerprint embed` marks) and
 *    kept as one raw F32 file per tensor;
 * 3. for each type, the marked tensors are quantized one at a time and written as GGUF with llama.cpp
 *    names: legacy types by the reference `gguf` package (test venv), K-quants by test/support/kquants.ts;
 * 4. the leak is read in full (walkEvidence, every slice scored for every recipient and dropped; one
 *    look, so τ = √(2 ln(n·T/ε)) = 7.83 with T = 1,000, ε = 1e-9), and the guilty z, the highest
 *    innocent z and who is accused are printed. An innocent accused fails the run.
 *
 * Memory: one tensor of F32 values, plus the quantized leak being written (at most 0.6 GiB a GiB).
 * Run: `npx tsx bench/trace-quant-gib.ts [--gib 1] [--types Q4_0,Q8_0] [--unmarked] [--work DIR]`.
 * --unmarked quantizes the original itself instead of the marked copy (nobody may be accused). With --work
 * the original and marked files are kept in DIR and reused by the next run (two runs with disjoint
 * --types can then share both cores); without it everything is made in a temp dir and deleted.
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GGML_TYPE, GGUF_VALUE_TYPE, writeGguf } from '../src/formats/gguf.js';
import { encodeSafetensorsHeader } from '../src/formats/safetensors.js';
import { readCheckpoint, readTensorValues, isMarkable } from '../src/fingerprint/model.js';
import { DEFAULT_PARAMS } from '../src/fingerprint/params.js';
import { addScores, judge, walkEvidence } from '../src/fingerprint/trace.js';
import type { FloatDtype } from '../src/formats/floats.js';
import { markedTensors } from '../test/support/checkpoints.js';
import { llamaName, requireGguf, writeQuantizedGgufFromFiles } from '../test/support/gguf.js';
import { quantizeK, type KType } from '../test/support/kquants.js';
import { writeBf16Checkpoint } from './bf16-checkpoint.mjs';

const KEY = new Uint8Array(createHash('sha256').update('modelseal bench: quantized leaks').digest());
const RECIPIENTS = Array.from({ length: 20 }, (_, i) => `recipient-${String(i).padStart(2, '0')}`);
const GUILTY = RECIPIENTS[7]!;

const args = process.argv.slice(2);
const opt = (name: string, def: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : def;
};
const gib = Number(opt('gib', '1'));
const types = opt('types', 'Q4_0,Q4_1,Q5_0,Q5_1,Q8_0,Q4_K,Q5_K,Q6_K').split(',');
const keep = args.includes('--work');
const work = keep ? opt('work', '') : mkdtempSync(join(tmpdir(), 'modelseal-trace-quant-gib-'));
mkdirSync(work, { recursive: true });
const originalPath = join(work, 'original.safetensors');
const seconds = (t0: bigint) => (Number(process.hrtime.bigint() - t0) / 1e9).toFixed(1);
const log = (s: string) => process.stderr.write(`${new Date().toISOString()} ${s}\n`);

interface Marked {
  file: string;
  name: string;
  shape: number[];
}

/**
 * The original (once), then the copy to quantize as raw F32 files, one tensor in memory at a time:
 * marked for the guilty recipient, or (`unmarked`) the original itself, which must accuse nobody.
 */
async function prepare(unmarked: boolean): Promise<Marked[]> {
  const copy = unmarked ? 'unmarked' : 'marked';
  const list = join(work, `${copy}.json`);
  if (existsSync(list)) return JSON.parse(readFileSync(list, 'utf8')) as Marked[];
  if (!existsSync(originalPath)) {
    const t0 = process.hrtime.bigint();
    const { bytes, count } = writeBf16Checkpoint(originalPath, gib * 1024, encodeSafetensorsHeader);
    log(`original: ${count} BF16 tensors, ${bytes} bytes, ${seconds(t0)} s`);
  }
  const t1 = process.hrtime.bigint();
  const ck = await readCheckpoint(originalPath);
  const marked: Marked[] = [];
  for (const f of ck.weights) {
    for (const t of f.tensors.filter(isMarkable)) {
      const tensor = { name: t.name, dtype: t.dtype as FloatDtype, shape: t.shape, values: readTensorValues(f, t)! };
      const m = unmarked ? tensor : markedTensors([tensor], KEY, GUILTY)[0];
      const file = join(work, `${copy}-${marked.length}.f32`);
      const fd = openSync(file, 'w');
      writeSync(fd, new Uint8Array(m!.values.buffer, m!.values.byteOffset, m!.values.byteLength));
      closeSync(fd);
      marked.push({ file, name: t.name, shape: t.shape });
    }
  }
  log(`${unmarked ? 'unmarked copy' : `marked for ${GUILTY}`}: ${marked.length} tensors, ${seconds(t1)} s`);
  const tmp = `${list}.tmp`;
  const fd = openSync(tmp, 'w');
  writeSync(fd, JSON.stringify(marked));
  closeSync(fd);
  renameSync(tmp, list);
  return marked;
}

/** The leak of `type`: legacy types through the reference package, K types through the test quantizer. */
async function writeLeak(marked: readonly Marked[], type: string, out: string): Promise<void> {
  if (!type.endsWith('_K')) {
    writeQuantizedGgufFromFiles(marked, type, out, 3_600_000);
    return;
  }
  const tensors = marked.map((m) => {
    const raw = readFileSync(m.file);
    const values = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
    return {
      name: llamaName(m.name),
      ggmlType: GGML_TYPE[type as KType],
      ne: [...m.shape].reverse(),
      data: quantizeK(type as KType, values),
    };
  });
  await writeGguf(
    out,
    new Map([['general.architecture', { type: GGUF_VALUE_TYPE.STRING, value: 'llama' }]]),
    tensors,
    undefined,
    { overwrite: true },
  );
}

/** Reads the whole leak, scoring each slice for every recipient as it comes: z per recipient and the verdict. */
async function traceFull(leak: string) {
  const sums = new Float64Array(RECIPIENTS.length);
  let norm2 = 0;
  const walked = await walkEvidence(
    { leaked: leak, original: originalPath, key: KEY, params: DEFAULT_PARAMS },
    (slice, n2) => {
      addScores([slice], KEY, RECIPIENTS, sums);
      norm2 += n2;
      return false;
    },
  );
  const norm = Math.sqrt(norm2);
  const scores = RECIPIENTS.map((recipient, r) => ({ recipient, z: norm > 0 ? sums[r]! / norm : 0 }));
  return { walked, verdict: judge(scores, { traces: 1000, epsilon: 1e-9 }) };
}

requireGguf();
const unmarked = args.includes('--unmarked');
const marked = await prepare(unmarked);
const weights = marked.reduce((a, m) => a + m.shape.reduce((x, y) => x * y, 1), 0);
log(`${(weights / 1e6).toFixed(2)} M marked-tensor weights; types ${types.join(', ')}`);
for (const type of types) {
  const leak = join(work, `leak-${type}.gguf`);
  const t0 = process.hrtime.bigint();
  await writeLeak(marked, type, leak);
  const tq = seconds(t0);
  const t1 = process.hrtime.bigint();
  const { walked, verdict } = await traceFull(leak);
  const tt = seconds(t1);
  rmSync(leak);
  const guilty = verdict.scores.find((s) => s.recipient === GUILTY)!.z;
  const innocent = Math.max(...verdict.scores.filter((s) => s.recipient !== GUILTY).map((s) => s.z));
  const accused = verdict.accused.map((a) => a.recipient);
  const read = walked.read;
  console.log(
    JSON.stringify({
      type,
      gib,
      leak: unmarked ? 'unmarked original' : `marked for ${GUILTY}`,
      guiltyZ: +guilty.toFixed(2),
      maxInnocentZ: +innocent.toFixed(2),
      tau: +verdict.threshold.toFixed(2),
      accused,
      read: `${read.bytes}/${read.bytesTotal} bytes, ${read.tensors}/${read.tensorsTotal} tensors`,
      aligned: walked.aligned.length,
      unread: walked.unread.types,
      quantizeSeconds: +tq,
      traceSeconds: +tt,
    }),
  );
  if (accused.some((a) => unmarked || a !== GUILTY))
    throw new Error(`${type}: an innocent was accused: ${accused.join(', ')}`);
  if (read.bytes !== read.bytesTotal)
    throw new Error(`${type}: read ${read.bytes} of ${read.bytesTotal} bytes: not a full read`);
}
if (!keep) rmSync(work, { recursive: true, force: true });
