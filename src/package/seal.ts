/**
 * `seal`: checkpoint → modelseal/v1 package, in one pass over the input, as a short pipeline:
 * plan the package → seal the payload (read → [transform] → encrypt+hash → write, ./seal-payload.ts)
 * → provenance → stanzas → header → tail and signature (./seal-finish.ts) → record → commit. The
 * payload goes to its final offsets before the header is known (the header region is sized for
 * the largest header it can be); the temporary file is synced and renamed only when complete.
 */
import { closeSync, createReadStream, fstatSync, openSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Writable } from 'node:stream';
import { createHash } from 'node:crypto';
import { ModelsealError } from '../errors.js';
import { CryptoPool } from '../crypto/pool.js';
import { KeySchedule, newDataKey, newPackageId } from '../crypto/keyschedule.js';
import {
  encodeHeader,
  encodeHeaderMacInput,
  SHARE_SEALED_BYTES,
  type FingerprintTag,
  type Header,
} from '../format/header.js';
import { computeLayout, initialRegionBytes, type PackageLayout } from '../format/layout.js';
import { DEFAULT_CHUNK_SIZE, isValidChunkSize, LIMITS } from '../format/limits.js';
import { toHex } from '../format/encoding.js';
import type { ClassificationRecord } from '../format/classification.js';
import { collectInputs, type Inputs } from '../formats/checkpoint.js';
import { computeRootDigest } from '../provenance/oms.js';
import type { Recipient } from '../providers/types.js';
import type { Publisher } from '../keystore/keystore.js';
import type { SignedRecord } from '../fingerprint/registry.js';
import type { TensorReport } from '../fingerprint/embed.js';
import { finalMode, Flusher, ioError, PARTIAL_FILE_MODE, tempSibling } from '../io/atomic.js';
import { commitOutput, recipientSummary, type Progress, type RecipientSummary } from './common.js';
import { FingerprintTransform, type SealFingerprint } from './fingerprint-transform.js';
import { sealPayload, type SealedPayload } from './seal-payload.js';
import { provenanceOf, wrapKeys, writeTail } from './seal-finish.js';
import type { SealTransform } from './seal-transform.js';

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
  /**
   * Per-recipient license and policy (by recipient id), overriding `license` and `policy` (reseal keeps each stanza's).
   */
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
  fingerprint?: SealFingerprint;
  /**
   * A transform of the plaintext between reading and encrypting it (./seal-transform.ts); the
   * fingerprint is one. Not with `fingerprint`.
   */
  transform?: SealTransform;
  /** reseal: the weights already carry this fingerprint; name it in the new header as the old one did. */
  keepFingerprint?: FingerprintTag;
  /**
   * What the checkpoint is under export rules (src/compliance classifyPath): recorded in the signed
   * header and the export events, its summary bound into every release stanza (docs/FORMAT.md §Classification).
   */
  classification?: ClassificationRecord;
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
  /** The classification record the header binds, when sealed with one. */
  classification?: ClassificationRecord;
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
  if (opts.transform && opts.fingerprint)
    throw new ModelsealError('INVALID_ARGUMENT', 'give a fingerprint or a transform, not both');
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

/** The package before its payload: keys, the header as far as it is known, and where everything goes. */
interface Draft {
  dek: Uint8Array;
  keys: KeySchedule;
  header: Header;
  /** Bytes of the header region: sized for the largest header the real one can be. */
  region: number;
  layout: PackageLayout;
}

async function sealToFile(opts: SealOptions, toPath: string, chunkSize: number): Promise<SealResult> {
  const inputs = await collectInputs(opts.input, { allowSymlinks: opts.allowSymlinks ?? false, sealing: true });
  const transform = transformOf(opts);
  await transform?.plan(inputs);
  const draft = planPackage(opts, inputs, chunkSize, transform);
  const { dek, keys, header, region } = draft;
  const total = inputs.files.reduce((a, f) => a + f.size, 0);
  const tmp = tempSibling(toPath);
  let out: number;
  try {
    out = openSync(tmp, 'wx', PARTIAL_FILE_MODE); // 0644 (less the umask) at commit, like any new file
  } catch (cause) {
    dek.fill(0);
    throw ioError(`cannot write ${toPath}`, cause);
  }
  const flusher = new Flusher(out, opts.fsync ?? false);
  // A transform without a worker entry runs on this thread only (its piece transform is registered here).
  const threads = transform && !transform.workerScript ? 1 : opts.threads;
  const pool = new CryptoPool(threads, transform?.workerScript).sized(total).start();
  try {
    const payload = await sealPayload({ ...draft, inputs, out, flusher, pool, transform, toPath, ...events(opts) });
    const { provenance, headerBytes, layout } = await completeHeader(opts, draft, inputs, payload, transform);
    const payloadDigests = payload.chunkDigests;
    const publisher = opts.publisher;
    const expected = await writeTail({ out, layout, region, keys, headerBytes, provenance, payloadDigests, publisher });
    await flusher.finish();
    const size = fstatSync(out).size;
    if (size !== expected)
      throw new ModelsealError('INTERNAL', `package size ${size} differs from the computed layout ${expected}`);
    closeSync(out);
    out = -1;
    const result = resultOf(opts, toPath, inputs, header, payload, expected);
    Object.assign(result, await transform?.record({ packageId: result.packageId, header }));
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
    await pool.close();
  }
}

/**
 * Everything that depends on the plaintext: the root digest, the transform's header fields, the
 * provenance, the stanzas; then the header's bytes and the final layout.
 */
async function completeHeader(
  opts: SealOptions,
  { header, dek, keys, region }: Draft,
  inputs: Inputs,
  payload: SealedPayload,
  transform: SealTransform | undefined,
): Promise<{ provenance: Uint8Array; headerBytes: Uint8Array; layout: PackageLayout }> {
  header.model.rootDigest = computeRootDigest(payload.manifest);
  transform?.finishHeader(header);
  const provenance = await provenanceOf(inputs, payload.manifest, opts.publisher);
  header.provenanceSize = provenance.length;
  await wrapKeys(header, wrappingOf(opts), dek, keys);
  const headerBytes = encodeHeader(header, keys.headerMac(encodeHeaderMacInput(header)));
  return { provenance, headerBytes, layout: computeLayout(header, region) };
}

/** The seal's transform: the one given, or the fingerprint's, or none. */
function transformOf(opts: SealOptions): SealTransform | undefined {
  if (opts.transform) return opts.transform;
  return opts.fingerprint ? new FingerprintTransform(opts.fingerprint, opts.publisher, opts.input) : undefined;
}

function events(opts: SealOptions): Pick<SealOptions, 'signal' | 'onProgress'> {
  return { signal: opts.signal, onProgress: opts.onProgress };
}

function wrappingOf(opts: SealOptions) {
  const { recipients, keyGroups, terms } = opts;
  return { recipients, keyGroups, terms, license: opts.license ?? 'none', policy: opts.policy ?? 'none' };
}

/**
 * Keys and the header as far as it is known before the payload. The header region is sized for
 * the largest header the real one can be (every stanza at its limit, the largest provenance), so
 * the payload can go to its final offsets now.
 */
function planPackage(
  opts: SealOptions,
  inputs: Inputs,
  chunkSize: number,
  transform: SealTransform | undefined,
): Draft {
  const dek = newDataKey();
  const packageId = newPackageId();
  const keys = new KeySchedule(dek, packageId);
  const kept: { fingerprint?: FingerprintTag } = opts.keepFingerprint ? { fingerprint: opts.keepFingerprint } : {};
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
    ...(transform ? transform.headerFields() : kept),
    ...(opts.classification ? { classification: opts.classification } : {}),
    commitment: keys.commitment,
  };
  const region = initialRegionBytes(
    encodeHeader(header, new Uint8Array(32)).length + stanzaCount(opts) * (LIMITS.maxStanzaBytes + 1),
  );
  return { dek, keys, header, region, layout: computeLayout(header, region) };
}

function resultOf(
  opts: SealOptions,
  output: string,
  inputs: Inputs,
  header: Header,
  payload: SealedPayload,
  packageBytes: number,
): SealResult {
  return {
    output,
    packageId: toHex(header.packageId),
    model: { name: inputs.name, rootDigest: `sha256:${toHex(header.model.rootDigest)}` },
    chunkSize: header.chunkSize,
    files: payload.manifest.map((m) => ({ path: m.path, size: m.size, sha256: toHex(m.sha256) })),
    excluded: inputs.excluded,
    recipients: header.stanzas.map(recipientSummary),
    ...(opts.keyGroups
      ? { keyGroups: { threshold: opts.keyGroups.threshold, groups: opts.keyGroups.groups.length } }
      : {}),
    plaintextBytes: inputs.files.reduce((a, f) => a + f.size, 0),
    packageBytes,
    signer: `sha256:${toHex(sha256(opts.publisher.spki))}`,
    ...(header.classification ? { classification: header.classification } : {}),
  };
}

function stanzaCount(opts: SealOptions): number {
  return opts.keyGroups ? opts.keyGroups.groups.reduce((a, g) => a + g.length, 0) : opts.recipients.length;
}

function sha256(b: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(b).digest());
}
