/**
 * `seal`: checkpoint → modelseal/v1 package, in one pass over the input. The layout of the payload
 * depends only on the file sizes and the chunk size (the provenance, whose size is known last,
 * comes after it), so worker threads read, encrypt, hash and write every piece of the payload at
 * its final offset while the main thread hashes each file's plaintext in order — from the very
 * buffers that were encrypted. The header (root digest, recipient stanzas), the provenance, the
 * chunk list and the signature are written last, then the temporary file is synced and renamed.
 */
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, fstatSync, openSync, type Stats } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Writable } from 'node:stream';
import { ModelsealError } from '../errors.js';
import { CryptoPool, JobError, orderedPipeline } from '../crypto/pool.js';
import { encryptChunk } from '../crypto/chunk.js';
import { KeySchedule, newDataKey, newPackageId } from '../crypto/keyschedule.js';
import {
  encodeHeader,
  encodeHeaderMacInput,
  SHARE_SEALED_BYTES,
  type FingerprintTag,
  type Header,
  type Stanza,
} from '../format/header.js';
import { sealShares } from '../crypto/keygroups.js';
import {
  chunkOffset,
  computeLayout,
  ENTRY,
  initialRegionBytes,
  packageSize,
  padded,
  chunkPlainLength,
  segmentsOf,
  streamOf,
  TAR_BLOCK,
} from '../format/layout.js';
import { DEFAULT_CHUNK_SIZE, isValidChunkSize, LIMITS } from '../format/limits.js';
import { headerRegion, tarEntry, ustarHeader } from '../format/tar.js';
import { toHex, utf8 } from '../format/encoding.js';
import { computeRootDigest, signModel, type ManifestEntry } from '../provenance/oms.js';
import type { Recipient } from '../providers/types.js';
import type { Publisher } from '../keystore/keystore.js';
import { collectInputs, SIDECARS, type InputFile } from './inputs.js';
import {
  commitOutput,
  interrupted,
  pieceChunks,
  pipelineDepth,
  recipientSummary,
  signPackage,
  type Progress,
  type RecipientSummary,
} from './common.js';
import { finalMode, Flusher, ioError, PARTIAL_FILE_MODE, tempSibling, writeAllAt } from '../io/atomic.js';
import {
  checkRecipientId,
  embeddingRecord,
  MarkTally,
  planFile,
  type FingerprintKey,
  type TensorReport,
} from '../fingerprint/embed.js';
import type { MarkStats, TensorPlan } from '../fingerprint/mark.js';
import { readWeightFile, weightFormat } from '../fingerprint/model.js';
import { checkParams, DEFAULT_PARAMS, SCHEME, type CodeParams } from '../fingerprint/params.js';
import { appendRecord, newFingerprintId, type SignedRecord } from '../fingerprint/registry.js';
import { OriginalDigests } from '../fingerprint/originals.js';

export interface SealOptions {
  /** A file or a folder (a Hugging Face checkpoint, say). */
  input: string;
  /** Package path, or a Writable (e.g. stdout) that receives the package as it is made. */
  output: string | Writable;
  /** Each recipient's stanza wraps the data key; any one opens the package. Empty with `keyGroups`. */
  recipients: readonly Recipient[];
  /** k-of-n custody instead: opening needs one recipient of each of `threshold` groups. */
  keyGroups?: { threshold: number; groups: readonly (readonly Recipient[])[] };
  publisher: Publisher;
  /** License id bound into every stanza's release context. Default "none". */
  license?: string;
  /** Policy hash bound into every stanza's release context. Default "none". */
  policy?: string;
  /** Per-recipient license and policy (by recipient id), overriding `license` and `policy` (reseal keeps each stanza's). */
  terms?: ReadonlyMap<string, { license: string; policy: string }>;
  chunkSize?: number;
  allowSymlinks?: boolean;
  /** Replace an existing output file. */
  force?: boolean;
  /** Flush the output to disk before renaming it into place, so it also survives a power cut (slower). */
  fsync?: boolean;
  threads?: number;
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
  /**
   * Called once the package is complete, before it is moved to the output path; if it throws,
   * nothing is written. `seal --log` records the export in the transparency log here, so no
   * package leaves without its log entries.
   */
  beforeCommit?: (result: SealResult) => Promise<void>;
  /**
   * Mark the weights (safetensors and GGUF files) with this recipient's fingerprint as they are
   * sealed (docs/FINGERPRINT.md). The embedding is appended to the registry before the package is
   * committed, and named in the signed header.
   */
  fingerprint?: { recipient: string; key: FingerprintKey; params?: CodeParams; registry: string };
  /** reseal: the weights already carry this fingerprint; name it in the new header as the old one did. */
  keepFingerprint?: FingerprintTag;
}

export interface SealResult {
  output: string;
  packageId: string;
  model: { name: string; rootDigest: string };
  chunkSize: number;
  files: { path: string; size: number; sha256: string }[];
  excluded: string[];
  recipients: RecipientSummary[];
  keyGroups?: { threshold: number; groups: number };
  plaintextBytes: number;
  packageBytes: number;
  signer: string;
  /** With `fingerprint`: the registry record and how much each tensor changed. */
  fingerprint?: { record: SignedRecord; tensors: TensorReport[] };
}

const TEXT = /^[\x20-\x7e]{1,512}$/;

export async function seal(opts: SealOptions): Promise<SealResult> {
  const chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE;
  if (!isValidChunkSize(chunkSize))
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `chunk size ${chunkSize}: expected a power of two from 64 KiB to 16 MiB`,
    );
  const kg = opts.keyGroups;
  if (kg) {
    const n = kg.groups.length;
    if (opts.recipients.length > 0)
      throw new ModelsealError('INVALID_ARGUMENT', 'give recipients (--to) or key groups (--group), not both');
    if (n < 2 || n > LIMITS.maxKeyGroups)
      throw new ModelsealError(
        'INVALID_ARGUMENT',
        `key groups: 2 to ${LIMITS.maxKeyGroups} groups (one group is just --to)`,
      );
    if (kg.groups.some((g) => g.length === 0))
      throw new ModelsealError('INVALID_ARGUMENT', 'key groups: every group needs at least one recipient');
    if (!Number.isInteger(kg.threshold) || kg.threshold < 2 || kg.threshold > n)
      throw new ModelsealError('INVALID_ARGUMENT', `key groups: the threshold must be 2..${n} (the number of groups)`);
  } else if (opts.recipients.length === 0) {
    throw new ModelsealError('INVALID_ARGUMENT', 'recipients: at least one recipient is needed (--to)');
  }
  if (stanzaCount(opts) > LIMITS.maxStanzas)
    throw new ModelsealError('TOO_MANY_STANZAS', `at most ${LIMITS.maxStanzas} recipients per package`);
  if (!TEXT.test(opts.license ?? 'none'))
    throw new ModelsealError('INVALID_ARGUMENT', 'license: expected 1-512 printable ASCII characters');
  if (!TEXT.test(opts.policy ?? 'none'))
    throw new ModelsealError('INVALID_ARGUMENT', 'policy: expected 1-512 printable ASCII characters');
  if (typeof opts.output !== 'string') return sealToStream(opts, opts.output);
  return sealToFile(opts, opts.output, chunkSize);
}

/** A package for a stream (stdout) is made in a scratch file first: its header comes first but is known last. */
async function sealToStream(opts: SealOptions, out: Writable): Promise<SealResult> {
  const scratch = await mkdtemp(join(tmpdir(), 'modelseal-'));
  try {
    const r = await seal({ ...opts, output: join(scratch, 'package.mseal') });
    try {
      await pipeline(createReadStream(r.output), out, { end: false });
    } catch (cause) {
      throw ioError('cannot write the package to the output stream', cause);
    }
    return { ...r, output: '-' };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** One unit of payload work: a piece of one file's segment. */
interface PieceTask {
  file: number;
  /** Position of the piece's first chunk in the chunk list. */
  listed: number;
  /** Whether the piece ends its file. */
  last: boolean;
}

/** An input file open for sealing, with what fstat said when it was opened. */
interface OpenInput {
  fd: number;
  before: Stats;
}

async function sealToFile(opts: SealOptions, toPath: string, chunkSize: number): Promise<SealResult> {
  const license = opts.license ?? 'none';
  const policy = opts.policy ?? 'none';
  const signal = opts.signal;
  const inputs = await collectInputs(opts.input, { allowSymlinks: opts.allowSymlinks ?? false, sealing: true });
  const total = inputs.files.reduce((a, f) => a + f.size, 0);
  const fp = opts.fingerprint;
  const fpParams = fp?.params ?? DEFAULT_PARAMS;
  // Per input file, the tensors to mark (none: not a weight file, or no fingerprint).
  const plans: TensorPlan[][] = [];
  if (fp) {
    checkRecipientId(fp.recipient);
    checkParams(fpParams);
    for (const f of inputs.files)
      plans.push(
        weightFormat(f.path) ? planFile(await readWeightFile(f.source, f.path), fp.key.key, fp.recipient) : [],
      );
    if (!plans.some((p) => p.length > 0))
      throw new ModelsealError(
        'INVALID_ARGUMENT',
        `${opts.input}: no F32, F16 or BF16 tensor of two or more dimensions to fingerprint`,
      );
  }

  const dek = newDataKey();
  const packageId = newPackageId();
  const keys = new KeySchedule(dek, packageId);
  // The header as far as it is known before the payload. The header region is sized for the
  // largest header the real one can be (every stanza at its limit, the largest provenance), so
  // the payload can go to its final offsets now.
  const header: Header = {
    packageId,
    created: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    chunkSize,
    model: { name: inputs.name, kind: inputs.kind, rootDigest: new Uint8Array(32) },
    provenanceSize: LIMITS.maxProvenanceBytes,
    files: inputs.files.map((f) => ({ path: f.path, size: f.size, mode: f.mode })),
    stanzas: [],
    ...(opts.keyGroups
      ? {
          keyGroups: {
            threshold: opts.keyGroups.threshold,
            shares: opts.keyGroups.groups.map(() => new Uint8Array(SHARE_SEALED_BYTES)),
          },
        }
      : {}),
    ...(fp
      ? {
          fingerprint: {
            id: newFingerprintId(),
            recipient: fp.recipient,
            keyId: fp.key.id,
            scheme: SCHEME,
            params: { ...fpParams },
            original: new Uint8Array(32),
          },
        }
      : {}),
    ...(!fp && opts.keepFingerprint ? { fingerprint: opts.keepFingerprint } : {}),
    commitment: keys.commitment,
  };
  const region = initialRegionBytes(
    encodeHeader(header, new Uint8Array(32)).length + stanzaCount(opts) * (LIMITS.maxStanzaBytes + 1),
  );
  const draft = computeLayout(header, region);

  const tmp = tempSibling(toPath);
  let out: number;
  try {
    out = openSync(tmp, 'wx', PARTIAL_FILE_MODE); // 0644 (less the umask) at commit, like any new file
  } catch (cause) {
    dek.fill(0);
    throw ioError(`cannot write ${toPath}`, cause);
  }
  const flusher = new Flusher(out, opts.fsync ?? false);
  const pool = new CryptoPool(opts.threads).sized(total).start();
  // Inputs are opened as their first piece is dispatched and closed after their last is hashed,
  // so a folder of thousands of files never holds more than a few descriptors.
  const inputsOpen = new Map<number, OpenInput>();
  const openInput = (i: number): OpenInput => {
    const f = inputs.files[i]!;
    let fd: number;
    try {
      fd = openSync(f.source, 'r');
    } catch (cause) {
      throw ioError(`cannot read ${f.source}`, cause);
    }
    const input = { fd, before: fstatSync(fd) };
    inputsOpen.set(i, input);
    if (input.before.size !== f.size) throw changed(f);
    return input;
  };
  const write = (data: Uint8Array, pos: number) => writeAllAt(out, data, pos);
  try {
    // The payload: pieces of every file in order, on the workers; plaintext hashed here in order.
    // Chunk digests in package order: the files' now, the provenance's once its size is known.
    let chunkDigests = new Uint8Array(streamOf(draft, 0).firstListedChunk * 32);
    const manifest: ManifestEntry[] = [];
    const per = pieceChunks(chunkSize);
    const free: SharedArrayBuffer[] = [];
    let hash = createHash('sha256');
    // With a fingerprint, the unmarked plaintext is hashed too: the registry names the original.
    const originalManifest: ManifestEntry[] = [];
    const freeOriginal: SharedArrayBuffer[] = [];
    let originalHash = createHash('sha256');
    // The original's digest of a file sealed before, unchanged since (OriginalDigests): not hashed again.
    const originals = fp ? await OriginalDigests.load(join(dirname(fp.registry), 'originals.json')) : undefined;
    const knownOriginal: (Uint8Array | undefined)[] = [];
    const statKeys: string[] = [];
    const tally = new MarkTally();
    let done = 0;
    type PieceDone = {
      task: PieceTask;
      buf: SharedArrayBuffer;
      length: number;
      digests: Uint8Array;
      original?: SharedArrayBuffer;
      marks?: MarkStats[];
    };
    const tasks = function* (): Generator<() => Promise<PieceDone>> {
      for (const [i, f] of inputs.files.entries()) {
        const stream = streamOf(draft, i + 1);
        const { fd } = openInput(i);
        if (originals) {
          statKeys[i] = OriginalDigests.statKey(fd);
          knownOriginal[i] = originals.lookup(resolve(f.source), statKeys[i]!);
        }
        for (const seg of segmentsOf(stream)) {
          const key = keys.payloadKey(stream.index, seg.segment);
          for (let first = seg.firstChunk; first < seg.firstChunk + seg.chunkCount; first += per) {
            if (signal?.aborted) throw interrupted();
            const chunks = Math.min(per, seg.firstChunk + seg.chunkCount - first);
            const last = first + chunks === stream.chunkCount;
            const task: PieceTask = { file: i, listed: stream.firstListedChunk + first, last };
            const buf = free.pop() ?? new SharedArrayBuffer(per * chunkSize);
            const lastLength = chunkPlainLength(f.size, chunkSize, first + chunks - 1);
            const from = first * chunkSize;
            const to = from + (chunks - 1) * chunkSize + lastLength;
            const overlapping = plans[i]?.filter((p) => p.start < to && p.end > from) ?? [];
            const mark = overlapping.length
              ? {
                  plans: overlapping,
                  params: fpParams,
                  ...(knownOriginal[i]
                    ? {}
                    : { original: freeOriginal.pop() ?? new SharedArrayBuffer(per * chunkSize) }),
                }
              : undefined;
            yield () =>
              pool
                .run({
                  op: 'seal',
                  key,
                  inFd: fd,
                  inPos: first * chunkSize,
                  outFd: out,
                  packagePos: chunkOffset(seg, chunkSize, first),
                  firstCounter: first,
                  chunks,
                  chunkSize,
                  lastLength,
                  finalLast: last,
                  buf,
                  ...(mark ? { mark } : {}),
                })
                .then(
                  (r) => ({
                    task,
                    buf,
                    length: r.length!,
                    digests: r.digests!,
                    original: mark?.original,
                    marks: r.marks,
                  }),
                  (e) => Promise.reject(jobFailure(e, f, toPath)),
                );
          }
        }
      }
    };
    await orderedPipeline(
      pipelineDepth(pool.threads, chunkSize),
      tasks(),
      ({ task, buf, length, digests, original, marks }) => {
        hash.update(new Uint8Array(buf, 0, length));
        if (fp && !knownOriginal[task.file]) originalHash.update(new Uint8Array(original ?? buf, 0, length));
        if (original) freeOriginal.push(original);
        if (marks) tally.add(inputs.files[task.file]!.path, marks);
        free.push(buf);
        chunkDigests.set(digests, 32 * task.listed);
        flusher.wrote(length);
        done += length;
        opts.onProgress?.({ phase: 'encrypt', done, total });
        if (task.last) {
          const f = inputs.files[task.file]!;
          const input = inputsOpen.get(task.file)!;
          const now = fstatSync(input.fd);
          inputsOpen.delete(task.file);
          closeSync(input.fd);
          if (now.size !== f.size || now.mtimeMs !== input.before.mtimeMs) throw changed(f);
          manifest.push({ path: f.path, size: f.size, sha256: new Uint8Array(hash.digest()) });
          hash = createHash('sha256');
          if (fp) {
            const known = knownOriginal[task.file];
            const sha256 = known ?? new Uint8Array(originalHash.digest());
            if (!known) originals!.remember(resolve(f.source), statKeys[task.file]!, sha256);
            originalManifest.push({ path: f.path, size: f.size, sha256 });
            originalHash = createHash('sha256');
          }
        }
      },
    );

    // Now everything that depends on the plaintext: provenance, stanzas, header.
    header.model.rootDigest = computeRootDigest(manifest);
    if (fp && header.fingerprint) header.fingerprint.original = computeRootDigest(originalManifest);
    const bundle = utf8.encode(
      await signModel({
        modelName: inputs.name,
        entries: manifest,
        ignorePaths: inputs.kind === 'folder' ? SIDECARS : [],
        singleFile: inputs.kind === 'file',
        signer: opts.publisher.signer,
      }),
    );
    if (bundle.length > LIMITS.maxProvenanceBytes) {
      throw new ModelsealError(
        'TOO_MANY_FILES',
        `the provenance of ${inputs.files.length} files is ${bundle.length} bytes, over the ${LIMITS.maxProvenanceBytes}-byte limit; seal fewer files per package`,
      );
    }
    header.provenanceSize = bundle.length;
    // Without key groups every stanza wraps the data key; with them, each wraps its group's key.
    const kg = opts.keyGroups;
    const wraps = kg
      ? kg.groups.flatMap((rs, g) => rs.map((r) => ({ r, group: g as number | undefined })))
      : opts.recipients.map((r) => ({ r, group: undefined }));
    const stanzas: Stanza[] = [];
    for (const { r, group } of wraps) {
      const t = opts.terms?.get(r.id) ?? { license, policy };
      const ctx = { packageId, artifactDigest: header.model.rootDigest, recipient: r.id, ...t };
      const key = group === undefined ? dek : keys.groupKey(group);
      const w = await r.wrapDataKey(key, ctx);
      if (group !== undefined) key.fill(0);
      stanzas.push({
        type: r.type,
        recipient: r.id,
        ...t,
        ...(group !== undefined ? { group } : {}),
        args: w.args,
        body: w.body,
      });
    }
    if (kg)
      header.keyGroups = {
        threshold: kg.threshold,
        shares: await sealShares(dek, keys, packageId, kg.groups.length, kg.threshold),
      };
    header.stanzas = stanzas;
    const headerBytes = encodeHeader(header, keys.headerMac(encodeHeaderMacInput(header)));
    const layout = computeLayout(header, region);

    // The provenance, on this thread (at most 16 MiB).
    const prov = streamOf(layout, 0);
    const payloadDigests = chunkDigests;
    chunkDigests = new Uint8Array(layout.totalChunks * 32);
    chunkDigests.set(payloadDigests);
    for (const seg of segmentsOf(prov)) {
      const key = keys.payloadKey(0, seg.segment);
      for (let c = seg.firstChunk; c < seg.firstChunk + seg.chunkCount; c++) {
        const sealed = encryptChunk(
          key,
          c,
          c === prov.chunkCount - 1,
          bundle.subarray(c * chunkSize, c * chunkSize + chunkPlainLength(bundle.length, chunkSize, c)),
        );
        write(sealed, chunkOffset(seg, chunkSize, c));
        chunkDigests.set(createHash('sha256').update(sealed).digest(), 32 * (prov.firstListedChunk + c));
      }
    }
    // Tar headers and padding around every segment, then the header region, chunk list and signature.
    for (const stream of layout.streams) {
      for (const seg of segmentsOf(stream)) {
        write(ustarHeader(seg.entryName, seg.size), seg.offset);
        write(new Uint8Array(padded(seg.size) - seg.size), seg.offset + TAR_BLOCK + seg.size);
      }
    }
    const signed = await signPackage(opts.publisher.signer, headerBytes, chunkDigests);
    const regionBytes = headerRegion(headerBytes, signed.headerSignature, region);
    if (!regionBytes) throw new ModelsealError('INTERNAL', 'the header outgrew the region sized for it');
    write(regionBytes, 0);
    write(tarEntry(ENTRY.chunks, chunkDigests), layout.chunksEntry.offset);
    write(tarEntry(ENTRY.signature, signed.trailer), layout.signatureOffset);
    const expected = packageSize(layout, signed.trailer.length);
    write(new Uint8Array(2 * TAR_BLOCK), expected - 2 * TAR_BLOCK);
    await flusher.finish();
    const size = fstatSync(out).size;
    if (size !== expected)
      throw new ModelsealError('INTERNAL', `package size ${size} differs from the computed layout ${expected}`);
    closeSync(out);
    out = -1;
    const result: SealResult = {
      output: toPath,
      packageId: toHex(packageId),
      model: { name: inputs.name, rootDigest: `sha256:${toHex(header.model.rootDigest)}` },
      chunkSize,
      files: manifest.map((m) => ({ path: m.path, size: m.size, sha256: toHex(m.sha256) })),
      excluded: inputs.excluded,
      recipients: stanzas.map(recipientSummary),
      ...(opts.keyGroups
        ? { keyGroups: { threshold: opts.keyGroups.threshold, groups: opts.keyGroups.groups.length } }
        : {}),
      plaintextBytes: total,
      packageBytes: expected,
      signer: `sha256:${toHex(sha256(opts.publisher.spki))}`,
    };
    if (fp && header.fingerprint) {
      const tensors = tally.reports();
      const record = await embeddingRecord(
        {
          ...header.fingerprint,
          params: fpParams,
          marked: header.model.rootDigest,
          package: result.packageId,
          tensors,
        },
        opts.publisher,
      );
      result.fingerprint = { record, tensors };
      // Recorded before the package appears: a marked copy the registry does not know could never be traced.
      await appendRecord(fp.registry, record);
      await originals!.save();
    }
    await opts.beforeCommit?.(result);
    await chmod(tmp, finalMode(0o644)).catch((cause: unknown) => {
      throw ioError(`cannot write ${toPath}`, cause);
    });
    await commitOutput(tmp, toPath, opts.force ?? false);
    return result;
  } catch (e) {
    await pool.drain().catch(() => {});
    await flusher.settle();
    if (out >= 0) closeSync(out);
    await rm(tmp, { force: true });
    throw e;
  } finally {
    dek.fill(0);
    for (const input of inputsOpen.values()) closeSync(input.fd);
    await pool.close();
  }
}

/** Maps a failed payload job to the error the user can act on. */
function jobFailure(e: unknown, f: InputFile, toPath: string): unknown {
  if (!(e instanceof JobError)) return e;
  if (e.code === 'SHORT_READ') return changed(f);
  return ioError(`cannot seal ${f.source} into ${toPath}`, e);
}

function stanzaCount(opts: SealOptions): number {
  return opts.keyGroups ? opts.keyGroups.groups.reduce((a, g) => a + g.length, 0) : opts.recipients.length;
}

function changed(f: InputFile): ModelsealError {
  return new ModelsealError('IO', `${f.source} changed while it was being sealed; seal again once it is stable`);
}

function sha256(b: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(b).digest());
}
