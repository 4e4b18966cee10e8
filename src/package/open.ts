/**
 * `open`: package → checkpoint. The output is built under a temporary sibling name and renamed
 * into place only after every chunk authenticated, the key commitment and header MAC checked,
 * every file matched the signed manifest, and the publisher signature verified against a trusted
 * key. On any failure the temporary output is removed: nothing ever appears at the output path.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readSync, writeSync } from 'node:fs';
import { chmod, mkdir, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { ModelsealError } from '../errors.js';
import { CryptoPool, JobError, orderedPipeline } from '../crypto/pool.js';
import { decryptChunk } from '../crypto/chunk.js';
import type { FileEntry, ParsedHeader, Stanza } from '../format/header.js';
import { chunkOffset, chunkPlainLength, segmentsOf, streamOf } from '../format/layout.js';
import { TAG_BYTES } from '../format/limits.js';
import type { SignatureTrailer } from '../format/signature.js';
import { decodeUtf8, toHex } from '../format/encoding.js';
import type { Identity } from '../providers/types.js';
import {
  commitOutput,
  interrupted,
  pieceChunks,
  pipelineDepth,
  verifyWithTrustedKey,
  type Progress,
} from './common.js';
import { signerId, StreamSource, walkPackage, type WalkResult } from './walk.js';
import {
  finalMode,
  Flusher,
  ioError,
  PARTIAL_DIR_MODE,
  PARTIAL_FILE_MODE,
  pathExists,
  tempSibling,
  writeFileAtomic,
} from '../io/atomic.js';
import { readHead } from './head.js';
import { authFailed, unlockPackage } from './unlock.js';

export interface OpenOptions {
  /** Package path, or a stream of it (stdin). */
  input: string | Readable;
  /** Folder for a folder package, file path for a single-file package. */
  output: string;
  identities: readonly Identity[];
  /** Publisher keys (SPKI DER) whose signature is accepted. */
  trustedPublishers: readonly Uint8Array[];
  force?: boolean;
  /** Flush the output to disk before renaming it into place, so it also survives a power cut (slower). */
  fsync?: boolean;
  threads?: number;
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
  /** Receives the detail of an authentication failure (never secret); the thrown error stays uniform. */
  debug?: (message: string) => void;
}

export interface OpenResult {
  output: string;
  kind: 'file' | 'folder';
  packageId: string;
  model: { name: string; rootDigest: string };
  files: { path: string; size: number; sha256: string }[];
  openedWith: { type: string; recipient: string; license: string; identity: string };
  signer: string;
  provenance: string;
  plaintextBytes: number;
}

const truncated = () =>
  new ModelsealError('TRUNCATED', 'the package ends early: it was cut off in transfer or on disk; fetch it again');
export async function open(opts: OpenOptions): Promise<OpenResult> {
  if (opts.trustedPublishers.length === 0) {
    throw new ModelsealError(
      'UNTRUSTED_SIGNER',
      'no trusted publisher key: pass --publisher <publisher.pub> or open inside a key store that trusts the publisher',
    );
  }
  const out = new OutputTree(opts.output, opts.force ?? false, opts.fsync ?? false);
  // Started once the payload's size is known (openFile), or at once for a stream.
  const pool = new CryptoPool(opts.threads);
  try {
    const r =
      typeof opts.input === 'string'
        ? await openFile(opts, opts.input, out, pool)
        : await openStream(opts, opts.input, out, pool);
    const h = r.parsed.header;
    if (
      !createPublicKey({ key: Buffer.from(r.trailer.publicKey), format: 'der', type: 'spki' }).equals(r.provenance.key)
    ) {
      throw new ModelsealError(
        'SIGNATURE_INVALID',
        'the provenance and the package are signed by different publishers',
      );
    }
    for (const f of r.files) {
      if (!Buffer.from(f.sha256, 'hex').equals(r.provenance.expected.get(f.path)!)) {
        opts.debug?.(`${f.path} does not match the signed manifest`);
        throw authFailed();
      }
    }
    const provenance = await out.commit(h.model.kind, r.provenance.text);
    return {
      output: opts.output,
      kind: h.model.kind,
      packageId: toHex(h.packageId),
      model: { name: h.model.name, rootDigest: `sha256:${toHex(h.model.rootDigest)}` },
      files: r.files,
      openedWith: {
        type: r.stanza.type,
        recipient: r.stanza.recipient,
        license: r.stanza.license,
        identity: r.identity.description,
      },
      signer: signerId(r.trailer.publicKey),
      provenance,
      plaintextBytes: h.files.reduce((a, f) => a + f.size, 0),
    };
  } finally {
    await pool.drain().catch(() => {});
    await out.closeAll();
    await out.discard();
    await pool.close();
  }
}

interface Opened {
  parsed: ParsedHeader;
  trailer: SignatureTrailer;
  stanza: Stanza;
  identity: Identity;
  provenance: { text: string; expected: Map<string, Uint8Array>; key: KeyObject };
  files: OpenResult['files'];
}

/**
 * The temporary output: a hidden sibling folder (folder package) or file (single-file package)
 * that becomes the output only in commit(); discard() removes whatever is left of it.
 */
class OutputTree {
  readonly tmp: string;
  #kind: 'file' | 'folder' | undefined;
  #open = new Map<number, Flusher>();
  /** Each file created, with the mode it gets at commit. */
  #modes = new Map<string, number>();
  /** Folders created below tmp. */
  #folders = new Set<string>();

  constructor(
    readonly target: string,
    readonly force: boolean,
    readonly durable: boolean,
  ) {
    this.tmp = tempSibling(target);
  }

  /** Checks that the outputs are free (before anything is decrypted), then creates the temporary output. */
  async start(kind: 'file' | 'folder'): Promise<void> {
    if (!this.force) {
      for (const p of kind === 'file' ? [this.target, `${this.target}.sig`] : [this.target]) {
        if (await pathExists(p))
          throw new ModelsealError('OUTPUT_EXISTS', `${p} already exists; choose another output or pass --force`);
      }
    }
    this.#kind = kind;
    if (kind === 'folder') await mkdir(this.tmp, { mode: PARTIAL_DIR_MODE });
  }

  /** Creates file `f` of the package in the temporary output; returns its descriptor. */
  create(f: FileEntry): number {
    const path = this.#kind === 'file' ? this.tmp : join(this.tmp, ...f.path.split('/'));
    try {
      // Paths were checked (relative, no ".."): every folder below tmp is one we create now.
      if (this.#kind === 'folder') {
        mkdirSync(dirname(path), { recursive: true, mode: PARTIAL_DIR_MODE });
        for (let d = dirname(path); d !== this.tmp && !this.#folders.has(d); d = dirname(d)) this.#folders.add(d);
      }
      // Private while partial (it is plaintext); the package's mode is given at commit.
      const fd = openSync(path, 'wx', PARTIAL_FILE_MODE);
      this.#modes.set(path, f.mode);
      this.#open.set(fd, new Flusher(fd, this.durable));
      return fd;
    } catch (cause) {
      throw ioError(`cannot write ${path}`, cause);
    }
  }

  /** Notes `bytes` written to `fd` (flushed to disk in the background as the file grows). */
  wrote(fd: number, bytes: number): void {
    this.#open.get(fd)?.wrote(bytes);
  }

  /** Closes a finished file (flushed to disk first when durable). */
  async finish(fd: number): Promise<void> {
    const flusher = this.#open.get(fd)!;
    this.#open.delete(fd);
    try {
      await flusher.finish();
    } catch (cause) {
      throw ioError(`cannot write to ${this.target}`, cause);
    } finally {
      closeSync(fd);
    }
  }

  async closeAll(): Promise<void> {
    for (const [fd, flusher] of this.#open) {
      await flusher.settle();
      closeSync(fd);
    }
    this.#open.clear();
  }

  /** Moves the finished output into place with its provenance; returns where the provenance went. */
  async commit(kind: 'file' | 'folder', provenance: string): Promise<string> {
    try {
      for (const [path, mode] of this.#modes) await chmod(path, finalMode(mode));
      for (const d of [...this.#folders, ...(kind === 'folder' ? [this.tmp] : [])]) await chmod(d, finalMode(0o755));
    } catch (cause) {
      throw ioError(`cannot set the modes of ${this.target}`, cause);
    }
    if (kind === 'folder') {
      await writeFileAtomic(join(this.tmp, 'model.sig'), provenance);
      await commitOutput(this.tmp, this.target, this.force, true);
      this.#kind = undefined;
      return join(this.target, 'model.sig');
    }
    await commitOutput(this.tmp, this.target, this.force);
    this.#kind = undefined;
    await writeFileAtomic(`${this.target}.sig`, provenance, { overwrite: this.force });
    return `${this.target}.sig`;
  }

  async discard(): Promise<void> {
    if (this.#kind) await rm(this.tmp, { recursive: true, force: true });
  }
}

/**
 * A package file: read in package order as a stream is, its structure and both signatures checked
 * whole before the data key is unwrapped, then decrypted piece by piece on the workers at known offsets.
 */
async function openFile(opts: OpenOptions, path: string, out: OutputTree, pool: CryptoPool): Promise<Opened> {
  const head = await readHead(path, {
    trusted: opts.trustedPublishers,
    signal: opts.signal,
    onHeader: async (parsed, _bytes, layout) => {
      checkOutputFits(out.tmp, parsed.header);
      pool.sized(layout.signatureOffset).start(); // the workers boot while the rest of the structure is read
    },
  });
  const { parsed, layout } = head;
  const h = parsed.header;
  // A file can be checked whole before any key is requested, so a damaged or truncated copy never
  // reaches the release service or KMS (a stream has to unlock at the header to decrypt as it reads).
  const { keys, stanza, identity } = await unlockPackage(parsed, opts.identities, opts.debug);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (cause) {
    throw ioError(`cannot read ${path}`, cause);
  }
  try {
    // The provenance first (it is small): a package whose manifest is not trusted fails before any output exists.
    const prov = streamOf(layout, 0);
    const bundle = Buffer.allocUnsafe(prov.plaintextSize);
    for (const seg of segmentsOf(prov)) {
      const key = keys.payloadKey(0, seg.segment);
      for (let c = seg.firstChunk; c < seg.firstChunk + seg.chunkCount; c++) {
        const len = chunkPlainLength(prov.plaintextSize, layout.chunkSize, c);
        const sealed = Buffer.allocUnsafe(len + TAG_BYTES);
        if (readSync(fd, sealed, 0, sealed.length, chunkOffset(seg, layout.chunkSize, c)) !== sealed.length)
          throw truncated();
        const plain = decryptChunk(key, c, c === prov.chunkCount - 1, sealed);
        if (!plain) {
          opts.debug?.(`provenance chunk ${c} failed authentication`);
          throw authFailed();
        }
        plain.copy(bundle, c * layout.chunkSize);
      }
    }
    const text = decodeUtf8(bundle, 'provenance');
    const provenance = { text, ...verifyProvenance(text, parsed, opts.trustedPublishers, opts.debug) };

    await out.start(h.model.kind);
    const C = layout.chunkSize;
    const per = pieceChunks(C);
    const total = h.files.reduce((a, f) => a + f.size, 0);
    const free: ArrayBuffer[] = [];
    const files: OpenResult['files'] = [];
    let hash = createHash('sha256');
    let done = 0;
    type Done = {
      file: number;
      fd: number;
      chunk: number;
      last: boolean;
      buf: ArrayBuffer;
      length: number;
      bad: number;
    };
    const tasks = function* (): Generator<() => Promise<Done>> {
      for (const [i, f] of h.files.entries()) {
        const stream = streamOf(layout, i + 1);
        let fileFd = -1;
        for (const seg of segmentsOf(stream)) {
          const key = keys.payloadKey(stream.index, seg.segment);
          for (let first = seg.firstChunk; first < seg.firstChunk + seg.chunkCount; first += per) {
            if (opts.signal?.aborted) throw interrupted();
            if (fileFd < 0) fileFd = out.create(f);
            const chunks = Math.min(per, seg.firstChunk + seg.chunkCount - first);
            const last = first + chunks === stream.chunkCount;
            const buf = free.pop() ?? new ArrayBuffer(per * C);
            const target = fileFd;
            yield () =>
              pool
                .run({
                  op: 'open',
                  key,
                  inFd: fd,
                  outFd: target,
                  outPos: first * C,
                  packagePos: chunkOffset(seg, C, first),
                  firstCounter: first,
                  chunks,
                  chunkSize: C,
                  lastLength: chunkPlainLength(f.size, C, first + chunks - 1),
                  finalLast: last,
                  buf,
                })
                .then(
                  (r) => ({ file: i, fd: target, chunk: first, last, buf: r.buf!, length: r.length!, bad: r.bad! }),
                  (e) =>
                    Promise.reject(
                      e instanceof JobError
                        ? e.code === 'SHORT_READ'
                          ? truncated()
                          : ioError(`cannot open ${path} into ${opts.output}`, e)
                        : e,
                    ),
                );
          }
        }
      }
    };
    await orderedPipeline(pipelineDepth(pool.threads, C), tasks(), async (d) => {
      if (d.bad >= 0) {
        opts.debug?.(`chunk ${d.chunk + d.bad} of file ${d.file} failed authentication`);
        throw authFailed();
      }
      hash.update(new Uint8Array(d.buf, 0, d.length));
      free.push(d.buf);
      out.wrote(d.fd, d.length);
      done += d.length;
      opts.onProgress?.({ phase: 'decrypt', done, total });
      if (d.last) {
        const f = h.files[d.file]!;
        await out.finish(d.fd);
        files.push({ path: f.path, size: f.size, sha256: hash.digest('hex') });
        hash = createHash('sha256');
      }
    });
    return { parsed, trailer: head.trailer, stanza, identity, provenance, files };
  } finally {
    await pool.drain().catch(() => {});
    closeSync(fd);
  }
}
/**
 * A package on a stream (stdin): one sequential pass; the provenance, last in the package, is
 * checked at the end. A stanza or chunk that fails authentication stops the decryption but not the
 * reading: the verdict waits until the structure and the signature are checked, and then names the
 * key's failure, the provenance's, then the payload's, in the order openFile meets them.
 */
async function openStream(opts: OpenOptions, input: Readable, out: OutputTree, pool: CryptoPool): Promise<Opened> {
  pool.start();
  let unlocked: Awaited<ReturnType<typeof unlockPackage>> | undefined;
  let parsed: ParsedHeader | undefined;
  let provenance: Opened['provenance'] | undefined;
  let provenanceParts: Uint8Array[] = [];
  let unlockFailure: unknown;
  let provenanceFailure: unknown;
  let payloadFailure: unknown;
  const files: OpenResult['files'] = [];
  let fd = -1;
  let hash = createHash('sha256');
  let total = 0;
  let done = 0;
  const skipped = (index: number) =>
    unlockFailure !== undefined || (index === 0 ? provenanceFailure : payloadFailure) !== undefined;
  const src = new StreamSource(input);
  let walk: WalkResult;
  try {
    walk = await walkPackage<Uint8Array | null>(
      src,
      {
        header: async (p) => {
          parsed = p;
          checkOutputFits(out.tmp, p.header);
          try {
            unlocked = await unlockPackage(p, opts.identities, opts.debug);
          } catch (e) {
            // A stanza that is ours but does not authenticate (a header the publisher signed broken):
            // reported after the structure, as openFile meets it. No key, no identity: at once.
            if (!(e instanceof ModelsealError && e.code === 'DECRYPTION_FAILED')) throw e;
            unlockFailure = e;
            return;
          }
          total = p.header.files.reduce((a, f) => a + f.size, 0);
          await out.start(p.header.model.kind);
        },
        chunk: async (ref, sealed) =>
          skipped(ref.stream.index)
            ? null
            : (
                await pool.run({
                  op: 'openChunk',
                  key: unlocked!.keys.payloadKey(ref.stream.index, ref.segment),
                  counter: ref.counter,
                  final: ref.final,
                  data: sealed,
                })
              ).plain!,
        consume: (ref, plain) => {
          if (skipped(ref.stream.index)) return;
          if (!plain) {
            opts.debug?.(`chunk ${ref.counter} of stream ${ref.stream.index} failed authentication`);
            if (ref.stream.index === 0) provenanceFailure = authFailed();
            else payloadFailure = authFailed();
            return;
          }
          if (ref.stream.index === 0) {
            provenanceParts.push(plain);
            return;
          }
          if (ref.counter === 0) {
            fd = out.create(parsed!.header.files[ref.stream.index - 1]!);
            hash = createHash('sha256');
          }
          hash.update(plain);
          try {
            for (let at = 0; at < plain.length;) at += writeSync(fd, plain, at, plain.length - at);
          } catch (cause) {
            throw ioError(`cannot write to ${opts.output}`, cause);
          }
          out.wrote(fd, plain.length);
          done += plain.length;
          opts.onProgress?.({ phase: 'decrypt', done, total });
        },
        streamEnd: async (stream) => {
          if (stream.index === 0) {
            if (skipped(0)) return;
            try {
              const text = decodeUtf8(Buffer.concat(provenanceParts), 'provenance');
              provenance = { text, ...verifyProvenance(text, parsed!, opts.trustedPublishers, opts.debug) };
            } catch (e) {
              if (!(e instanceof ModelsealError)) throw e;
              provenanceFailure = e;
            }
            provenanceParts = [];
            return;
          }
          if (fd >= 0) await out.finish(fd);
          fd = -1;
          if (skipped(stream.index)) return;
          const f = parsed!.header.files[stream.index - 1]!;
          files.push({ path: f.path, size: f.size, sha256: hash.digest('hex') });
        },
      },
      { trusted: opts.trustedPublishers, threads: pool.threads, signal: opts.signal },
    );
  } finally {
    src.close();
  }
  for (const failure of [unlockFailure, provenanceFailure, payloadFailure]) if (failure !== undefined) throw failure;
  return {
    parsed: walk.parsed,
    trailer: walk.trailer,
    stanza: unlocked!.stanza,
    identity: unlocked!.identity,
    provenance: provenance!,
    files,
  };
}

/** Linux's PATH_MAX, in bytes with the terminating NUL (macOS allows 1024; Windows, 32767 with long paths). */
const PATH_MAX = process.platform === 'darwin' ? 1024 : 4096;

/**
 * Throws before any key is requested when a file of the package could not be created under the
 * output (its full path longer than the system allows): better now than after decrypting.
 */
function checkOutputFits(tmp: string, header: ParsedHeader['header']): void {
  const base = resolve(tmp);
  const longest =
    header.model.kind === 'file'
      ? { path: '', bytes: Buffer.byteLength(`${base}.sig`) }
      : header.files
          .map((f) => ({ path: f.path, bytes: Buffer.byteLength(join(base, f.path)) }))
          .reduce((a, b) => (b.bytes > a.bytes ? b : a));
  if (longest.bytes >= PATH_MAX) {
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `the output path is too long for this package: ${longest.path ? `${JSON.stringify(longest.path.slice(0, 80))} inside it` : 'it'} would be ${longest.bytes} bytes, and the system allows ${PATH_MAX - 1}; open into a shorter output path`,
      { details: { bytes: longest.bytes, limit: PATH_MAX - 1 } },
    );
  }
}

/**
 * Checks the OMS bundle against a trusted key and the header; returns the expected digest of every
 * file. Why each trusted key failed goes to `debug` and into the error's `cause`.
 */
function verifyProvenance(
  bundleText: string,
  parsed: ParsedHeader,
  trusted: readonly Uint8Array[],
  debug?: (m: string) => void,
): { expected: Map<string, Uint8Array>; key: KeyObject } {
  const h = parsed.header;
  const { verified: v, key } = verifyWithTrustedKey(bundleText, trusted, 'the provenance (model.sig)', debug);
  if (!Buffer.from(v.rootDigest).equals(h.model.rootDigest)) {
    throw new ModelsealError(
      'SIGNATURE_INVALID',
      'the signed provenance is for another model than this package header',
    );
  }
  const expected = new Map(v.entries.map((e) => [e.path, e.sha256]));
  if (expected.size !== h.files.length || !h.files.every((f) => expected.has(f.path))) {
    throw new ModelsealError('SIGNATURE_INVALID', 'the signed provenance lists other files than this package');
  }
  return { expected, key };
}
