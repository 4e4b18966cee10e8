/**
 * `fingerprint embed`: a recipient's marked copy of a plain checkpoint (a weight file or a folder),
 * streamed piece by piece in constant memory, written under a temporary name, recorded in the
 * registry, then renamed into place. `seal --fingerprint` marks on its workers instead
 * (src/package/fingerprint-transform.ts) with the same plans.
 */
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, openSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ModelsealError } from '../errors.js';
import { encodeSafetensorsHeader } from '../formats/safetensors.js';
import { toHex } from '../format/encoding.js';
import { computeRootDigest, type ManifestEntry } from '../provenance/oms.js';
import type { Signer } from '../crypto/signer.js';
import { ioError, pathExists, tempSibling, writeAllAt } from '../io/atomic.js';
import { readFully, ShortReadError } from '../crypto/bulk.js';
import type { FloatDtype } from '../formats/floats.js';
import { markPiece, type MarkStats, type TensorPlan } from './mark.js';
import { checkParams, DEFAULT_PARAMS, SCHEME, type CodeParams } from './params.js';
import { codeKey, supportKey } from './prf.js';
import { isMarkable, readCheckpoint, type WeightFile } from './model.js';
import { appendRecord, newFingerprintId, signRecord, type SignedRecord } from './registry.js';

/** The safetensors `__metadata__` key of the convenience tag (never relied on: trace uses the registry). */
export const METADATA_TAG = 'modelseal.fingerprint';

export interface FingerprintKey {
  id: string;
  key: Uint8Array;
}

/** How much one tensor changed. */
export interface TensorReport {
  file: string;
  name: string;
  elements: number;
  marked: number;
  /** √(Σ(w' − w)² / Σw²), with Σw² estimated from the candidates (a keyed 10% sample; docs/FINGERPRINT.md). */
  relativeRms: number;
}

/** The documented bound on any tensor's relative RMS change: every marked weight moves by at most 2^-7 of itself. */
export const MAX_RELATIVE_RMS = 2 ** -7;

const RECIPIENT = /^[\x21-\x7e][\x20-\x7e]{0,254}$/;

export function checkRecipientId(id: string): void {
  if (!RECIPIENT.test(id))
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `fingerprint recipient "${id}": expected 1-255 printable ASCII characters`,
    );
}

/** The tensors of a weight file that carry the mark, with the keys a worker needs. */
export function planFile(file: WeightFile, key: Uint8Array, recipient: string): TensorPlan[] {
  return file.tensors.filter(isMarkable).map((t) => ({
    name: t.name,
    dtype: t.dtype as FloatDtype,
    start: t.start,
    end: t.end,
    supportKey: supportKey(key, t.name),
    codeKey: codeKey(key, recipient, t.name),
  }));
}

/** Sums per-piece statistics into one report per tensor. */
export class MarkTally {
  private readonly byName = new Map<string, MarkStats & { file: string }>();
  add(file: string, stats: readonly MarkStats[]): void {
    for (const s of stats) {
      const t = this.byName.get(`${file}\0${s.name}`) ?? {
        file,
        name: s.name,
        elements: 0,
        candidates: 0,
        sumSq: 0,
        deltaSq: 0,
        marked: 0,
      };
      t.elements += s.elements;
      t.candidates += s.candidates;
      t.sumSq += s.sumSq;
      t.deltaSq += s.deltaSq;
      t.marked += s.marked;
      this.byName.set(`${file}\0${s.name}`, t);
    }
  }
  reports(): TensorReport[] {
    return [...this.byName.values()].map((t) => ({
      file: t.file,
      name: t.name,
      elements: t.elements,
      marked: t.marked,
      relativeRms: t.sumSq > 0 ? Math.sqrt((t.deltaSq * t.candidates) / (t.sumSq * t.elements)) : 0,
    }));
  }
}

export interface EmbedOptions {
  input: string;
  output: string;
  recipient: string;
  key: FingerprintKey;
  /** The publisher (a keystore `Publisher` will do): its signer signs the registry record. */
  publisher: { signer: Signer };
  /** The registry file to append to. */
  registry: string;
  params?: CodeParams;
  force?: boolean;
  onProgress?: (p: { done: number; total: number }) => void;
}

export interface EmbedResult {
  output: string;
  record: SignedRecord;
  tensors: TensorReport[];
}

const PIECE = 8 << 20;

/** The signed registry record of one embedding. */
export function embeddingRecord(
  e: {
    id: string;
    recipient: string;
    keyId: string;
    params: CodeParams;
    original: Uint8Array;
    marked: Uint8Array;
    package: string | null;
    tensors: readonly TensorReport[];
  },
  publisher: { signer: Signer },
): Promise<SignedRecord> {
  return signRecord(
    {
      v: 1,
      id: e.id,
      time: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      recipient: e.recipient,
      keyId: e.keyId,
      scheme: SCHEME,
      params: { support: e.params.support, c: e.params.c },
      original: `sha256:${toHex(e.original)}`,
      marked: `sha256:${toHex(e.marked)}`,
      package: e.package,
      tensors: e.tensors.length,
      positions: e.tensors.reduce((a, t) => a + t.marked, 0),
      maxRelativeRms: e.tensors.reduce((a, t) => Math.max(a, t.relativeRms), 0),
    },
    publisher.signer,
  );
}

export async function embedFingerprint(opts: EmbedOptions): Promise<EmbedResult> {
  const params = opts.params ?? DEFAULT_PARAMS;
  checkRecipientId(opts.recipient);
  checkParams(params);
  if ((await pathExists(opts.output)) && !opts.force)
    throw new ModelsealError('OUTPUT_EXISTS', `${opts.output} already exists (pass --force to replace it)`);
  const cp = await readCheckpoint(opts.input);
  const id = newFingerprintId();
  const tally = new MarkTally();
  const original: ManifestEntry[] = [];
  const marked: ManifestEntry[] = [];
  const total = cp.files.reduce((a, f) => a + f.size, 0);
  let done = 0;
  const tmp = tempSibling(opts.output);
  try {
    if (cp.kind === 'folder') await mkdir(tmp, { recursive: true });
    for (const f of cp.files) {
      const to = cp.kind === 'folder' ? join(tmp, f.path) : tmp;
      await mkdir(dirname(to), { recursive: true });
      const w = cp.weights.find((x) => x.path === f.path);
      const plans = w ? planFile(w, opts.key.key, opts.recipient) : [];
      const copied = markedCopy(f, w, to, id, {
        mark: (pos, buf, readAt) => tally.add(f.path, markPiece(plans, params, pos, buf, readAt)),
        copied: (bytes) => {
          done += bytes;
          opts.onProgress?.({ done, total });
        },
      });
      original.push(copied.original);
      marked.push(copied.marked);
    }
    const tensors = tally.reports();
    const record = await embeddingRecord(
      {
        id,
        recipient: opts.recipient,
        keyId: opts.key.id,
        params,
        original: computeRootDigest(original),
        marked: computeRootDigest(marked),
        package: null,
        tensors,
      },
      opts.publisher,
    );
    // Recorded before the copy appears: a marked copy the registry does not know could never be traced.
    await appendRecord(opts.registry, record);
    if (opts.force) await rm(opts.output, { recursive: true, force: true });
    await rename(tmp, opts.output);
    return { output: opts.output, record, tensors };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** One input file as `embedFingerprint` reads it. */
interface CopiedFile {
  path: string;
  source: string;
  size: number;
  mode: number;
}

/**
 * Copies `f` to `to`, piece by piece through `on.mark` (which changes each piece in place), with the
 * convenience tag in a safetensors header; returns the digests of the original and of the copy.
 */
function markedCopy(
  f: CopiedFile,
  w: WeightFile | undefined,
  to: string,
  id: string,
  on: {
    mark: (pos: number, buf: Uint8Array, readAt: (pos: number, len: number) => Uint8Array) => void;
    copied: (bytes: number) => void;
  },
): { original: ManifestEntry; marked: ManifestEntry } {
  const hin = createHash('sha256');
  const hout = createHash('sha256');
  let written = 0;
  let fin = -1;
  let fout = -1;
  try {
    fin = openSync(f.source, 'r');
    fout = openSync(to, 'wx', f.mode);
    const readAt = (pos: number, len: number) => {
      const b = new Uint8Array(len);
      readFully(fin, b, pos);
      return b;
    };
    const put = (b: Uint8Array) => {
      writeAllAt(fout, b, written);
      hout.update(b);
      written += b.length;
    };
    let pos = 0;
    if (w?.format === 'safetensors') {
      // A new header with the convenience tag; tensor offsets are relative to the data section, so the data is
      // unchanged in place.
      const dataOffset = w.tensors.length ? Math.min(...w.tensors.map((t) => t.start)) : w.size;
      const head = readAt(0, dataOffset);
      hin.update(head);
      put(taggedHeader(w, id, dataOffset));
      pos = dataOffset;
    }
    while (pos < f.size) {
      const buf = readAt(pos, Math.min(PIECE, f.size - pos));
      hin.update(buf);
      on.mark(pos, buf, readAt);
      put(buf);
      pos += buf.length;
      on.copied(buf.length);
    }
    fsyncSync(fout);
  } catch (e) {
    if (e instanceof ShortReadError)
      throw new ModelsealError('IO', `${f.path} changed while it was read; try again once it is stable`);
    throw e instanceof ModelsealError ? e : ioError(`cannot fingerprint ${f.path}`, e);
  } finally {
    if (fin >= 0) closeSync(fin);
    if (fout >= 0) closeSync(fout);
  }
  return {
    original: { path: f.path, size: f.size, sha256: new Uint8Array(hin.digest()) },
    marked: { path: f.path, size: written, sha256: new Uint8Array(hout.digest()) },
  };
}

/** A safetensors header like `w`'s, with the convenience tag in its metadata; tensors keep their data offsets. */
function taggedHeader(w: WeightFile, id: string, base: number): Uint8Array {
  return encodeSafetensorsHeader(
    { ...w.metadata, [METADATA_TAG]: id },
    w.tensors.map((t) => ({
      name: t.name,
      dtype: t.dtype,
      shape: t.shape,
      begin: t.start - base,
      end: t.end - base,
    })),
  );
}
