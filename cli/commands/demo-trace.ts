/**
 * `modelseal demo`, step 6: a "leaked" copy of acme-labs' weights (tensors renamed, cast to F32)
 * traced back to acme-labs with its false-accusation bound; an unrelated model of the same shapes
 * accuses nobody. Both verdicts are recorded in the service's log (`trace --record`).
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  decodeFloats,
  encodeFloats,
  encodeSafetensorsHeader,
  isFloatDtype,
  leakDigest,
  loadFingerprintKey,
  noPassphrase,
  openExportLog,
  readRegistry,
  readSafetensorsHeader,
  traceEvent,
  traceLeak,
  type TraceReport,
} from '../../src/index.js';
import { ACME, tell, type DemoContext } from './demo-steps.js';

/** A deterministic PRNG (mulberry32) and a normal deviate from it (Box-Muller). */
function gaussian(seed: number): () => number {
  let s = seed >>> 0;
  const uniform = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

/**
 * Writes `out` (a safetensors file) from the float tensors of `source`: each renamed by `rename`,
 * its values cast to F32, or replaced by `random` ones of the same shape. Written with the library's
 * safetensors header encoder.
 */
async function rewrite(
  source: string,
  out: string,
  rename: (name: string, i: number) => string,
  random?: () => number,
) {
  const header = await readSafetensorsHeader(source);
  const bytes = await readFile(source);
  const tensors: { name: string; dtype: string; shape: number[]; begin: number; end: number }[] = [];
  const parts: Uint8Array[] = [];
  let at = 0;
  header.tensors.forEach((t, i) => {
    if (!isFloatDtype(t.dtype)) return;
    const count = t.shape.reduce((a, b) => a * b, 1);
    const values = random
      ? Float32Array.from({ length: count }, () => 0.02 * random())
      : decodeFloats(t.dtype, bytes, t.start, count);
    const data = encodeFloats('F32', values);
    tensors.push({ name: rename(t.name, i), dtype: 'F32', shape: t.shape, begin: at, end: at + data.length });
    parts.push(data);
    at += data.length;
  });
  await writeFile(out, Buffer.concat([encodeSafetensorsHeader({}, tensors), ...parts]));
}

/** The verdict as the summary shows it. */
function verdict(r: TraceReport, leak: string, recorded: number) {
  return {
    leak,
    derived: r.derived,
    recipients: r.n,
    threshold: r.threshold,
    epsilon: r.epsilon,
    accused: r.accused.map((a) => ({ recipient: a.recipient, z: a.z, log10Bound: a.log10Bound })),
    recorded,
  };
}

/** Step 6: trace the leaked copy and an unrelated model, and record both verdicts in the service's log. */
export async function traceStep(c: DemoContext, url: string) {
  const dir = join(c.work, 'leaks');
  await mkdir(dir, { recursive: true });
  const leaked = join(dir, 'leaked.safetensors');
  const unrelated = join(dir, 'unrelated.safetensors');
  const opened = join(c.work, `${ACME.name}-opened`, 'model.safetensors');
  await rewrite(opened, leaked, (_, i) => `layers.${i}.w`);
  const seed = createHash('sha256').update('modelseal demo').digest().readUInt32LE(0);
  await rewrite(opened, unrelated, (name) => name, gaussian(seed));
  const key = await loadFingerprintKey(c.keys, noPassphrase);
  const registry = await readRegistry(c.registry, [c.publisher.spki]);
  const log = await openExportLog(url, { keysDir: c.keys });
  const publisherId = `sha256:${createHash('sha256').update(c.publisher.spki).digest('hex')}`;
  try {
    const out = [];
    for (const file of [leaked, unrelated]) {
      const r = await traceLeak({ leaked: file, original: c.sample, key, registry });
      const leak = await leakDigest(file);
      const [index] = await log.append([traceEvent(r, leak, publisherId)], c.publisher);
      out.push(verdict(r, leak, index!));
    }
    const [l, u] = out as [ReturnType<typeof verdict>, ReturnType<typeof verdict>];
    const accused = l.accused.map(
      (a) => `${a.recipient} (z = ${a.z.toFixed(1)}, P(false) ≤ 10^${a.log10Bound.toFixed(0)})`,
    );
    tell(
      c,
      `6. Trace: a leaked copy of ${ACME.name}' weights, tensors renamed and cast to F32, accuses ` +
        `${accused.join(', ') || 'nobody'}; threshold ${l.threshold.toFixed(2)} for ε = ${l.epsilon} over ` +
        `${l.recipients} recipients. An unrelated model of the same shapes accuses ` +
        `${u.accused.map((a) => a.recipient).join(', ') || 'nobody'}. Both verdicts are log entries ` +
        `${l.recorded} and ${u.recorded}.`,
    );
    return { leaked: l, unrelated: u };
  } finally {
    await log.close();
  }
}
