/**
 * `verify`: keyless checks. For a package: structure, every ciphertext chunk against the signed
 * chunk list (hashed on worker threads), and the publisher signature against a trusted key.
 * For an opened folder: its model.sig (OMS) against a trusted key and every file's digest.
 */
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { ModelsealError } from '../errors.js';
import { CryptoPool, JobError, orderedPipeline } from '../crypto/pool.js';
import { chunkOffset, chunkPlainLength, segmentsOf } from '../format/layout.js';
import { TAG_BYTES } from '../format/limits.js';
import { toHex } from '../format/encoding.js';
import { hashFile } from '../provenance/oms.js';
import { collectInputs } from '../formats/checkpoint.js';
import { interrupted, pieceChunks, pipelineDepth, verifyWithTrustedKey, type Progress } from './common.js';
import { compareChunkDigests, signerId, StreamSource, walkPackage } from './walk.js';
import { readHead, type PackageHead } from './head.js';
import { ioError } from '../io/atomic.js';

export interface VerifyOptions {
  trustedPublishers: readonly Uint8Array[];
  threads?: number;
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
}

export interface VerifyPackageResult {
  kind: 'package';
  packageId: string;
  model: { name: string; rootDigest: string };
  signer: string;
  files: number;
  chunks: number;
  packageBytes: number;
}

/** Checks a package's structure, both signatures and every chunk against the signed list, without a key. */
export async function verifyPackage(input: string | Readable, opts: VerifyOptions): Promise<VerifyPackageResult> {
  // Started once the package's size is known (verifyFile), or at once for a stream.
  const pool = new CryptoPool(opts.threads);
  try {
    // Both paths check the signer against the trusted keys at the header signature, before the payload.
    const r = typeof input === 'string' ? await verifyFile(input, pool, opts) : await verifyStream(input, pool, opts);
    const h = r.parsed.header;
    return {
      kind: 'package',
      packageId: toHex(h.packageId),
      model: { name: h.model.name, rootDigest: `sha256:${toHex(h.model.rootDigest)}` },
      signer: signerId(r.trailer.publicKey),
      files: h.files.length,
      chunks: r.layout.totalChunks,
      packageBytes: r.layout.signatureOffset,
    };
  } finally {
    await pool.drain().catch(() => {});
    await pool.close();
  }
}

type Checked = Pick<PackageHead, 'parsed' | 'layout' | 'trailer'>;

/** A package file: structure and signature first (readHead), then every chunk hashed on the workers by position. */
async function verifyFile(path: string, pool: CryptoPool, opts: VerifyOptions): Promise<Checked> {
  const head = await readHead(path, { trusted: opts.trustedPublishers, signal: opts.signal });
  pool.sized(head.fileSize).start();
  const { layout, chunkList } = head;
  const C = layout.chunkSize;
  // Hash-only pieces are larger: nothing is handed between threads, and 4 MiB reads measured ~8% faster.
  const per = pieceChunks(C, 4 << 20);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (cause) {
    throw ioError(`cannot read ${path}`, cause);
  }
  let done = 0;
  try {
    type Done = { listed: number; chunks: number; bytes: number; digests: Uint8Array };
    const tasks = function* (): Generator<() => Promise<Done>> {
      for (const stream of layout.streams) {
        for (const seg of segmentsOf(stream)) {
          for (let first = seg.firstChunk; first < seg.firstChunk + seg.chunkCount; first += per) {
            if (opts.signal?.aborted) throw interrupted();
            const chunks = Math.min(per, seg.firstChunk + seg.chunkCount - first);
            const lastLength = chunkPlainLength(stream.plaintextSize, C, first + chunks - 1);
            const listed = stream.firstListedChunk + first;
            const bytes = (chunks - 1) * C + lastLength + chunks * TAG_BYTES;
            yield () =>
              pool
                .run({
                  op: 'hash',
                  inFd: fd,
                  packagePos: chunkOffset(seg, C, first),
                  firstCounter: first,
                  chunks,
                  chunkSize: C,
                  lastLength,
                  finalLast: false,
                })
                .then(
                  (r) => ({ listed, chunks, bytes, digests: r.digests! }),
                  (e: unknown) =>
                    Promise.reject(
                      e instanceof JobError
                        ? e.code === 'SHORT_READ'
                          ? new ModelsealError('TRUNCATED', 'the package ends early; fetch it again')
                          : ioError(`cannot read ${path}`, e)
                        : e,
                    ),
                );
          }
        }
      }
    };
    // Jobs hold no buffers here (each lane reads into its own), so a deep window costs nothing.
    await orderedPipeline(8 * pipelineDepth(pool.threads, C), tasks(), (d) => {
      compareChunkDigests(d.digests, chunkList.subarray(32 * d.listed, 32 * (d.listed + d.chunks)), d.listed);
      done += d.bytes;
      opts.onProgress?.({ phase: 'verify', done, total: head.fileSize });
    });
  } finally {
    await pool.drain().catch(() => {});
    closeSync(fd);
  }
  return head;
}

/**
 * A package on a stream (stdin): one sequential pass, chunks hashed on the workers. The digests
 * are compared with the stored list only after the structure and the signature passed, as
 * verifyFile does, so both report the same error for the same bytes.
 */
async function verifyStream(input: Readable, pool: CryptoPool, opts: VerifyOptions): Promise<Checked> {
  pool.start();
  let done = 0;
  const digests: Uint8Array[] = [];
  const src = new StreamSource(input);
  try {
    const w = await walkPackage<Uint8Array>(
      src,
      {
        chunk: async (_ref, sealed) => {
          done += sealed.length;
          return (await pool.run({ op: 'hashChunk', data: sealed })).digests!;
        },
        consume: (_ref, digest) => {
          digests.push(digest);
          opts.onProgress?.({ phase: 'verify', done, total: 0 });
        },
      },
      { trusted: opts.trustedPublishers, threads: pool.threads, signal: opts.signal },
    );
    compareChunkDigests(Buffer.concat(digests), w.chunkList);
    return w;
  } finally {
    src.close();
  }
}

export interface VerifyFolderResult {
  kind: 'folder';
  model: { name: string; rootDigest: string };
  signer: string;
  files: number;
}

/** Verifies an opened checkpoint folder against its model.sig and a trusted publisher key. */
export async function verifyFolder(
  dir: string,
  opts: { trustedPublishers: readonly Uint8Array[]; signature?: string; debug?: (message: string) => void },
): Promise<VerifyFolderResult> {
  const sigPath = opts.signature ?? join(dir, 'model.sig');
  let bundle: string;
  try {
    bundle = await readFile(sigPath, 'utf8');
  } catch (cause) {
    throw ioError(`cannot read ${sigPath} (an opened checkpoint keeps its provenance there)`, cause);
  }
  if (opts.trustedPublishers.length === 0) {
    throw new ModelsealError('UNTRUSTED_SIGNER', 'no trusted publisher key: pass --publisher <publisher.pub>');
  }
  const { verified: signed, spki } = verifyWithTrustedKey(bundle, opts.trustedPublishers, sigPath, opts.debug);
  const signer = signerId(spki);
  const inputs = await collectInputs(dir);
  const ignored = new Set([...signed.ignorePaths, relative(dir, sigPath).split(sep).join('/')]);
  const present = inputs.files.filter((f) => !ignored.has(f.path));
  const want = new Map(signed.entries.map((e) => [e.path, e.sha256]));
  for (const f of present) {
    const digest = want.get(f.path);
    if (!digest)
      throw new ModelsealError('SIGNATURE_INVALID', `${f.path} is not in the signed manifest`, {
        details: { path: f.path },
      });
    if (!Buffer.from(await hashFile(f.source)).equals(digest))
      throw new ModelsealError('SIGNATURE_INVALID', `${f.path} differs from the signed manifest`, {
        details: { path: f.path },
      });
    want.delete(f.path);
  }
  if (want.size > 0)
    throw new ModelsealError(
      'SIGNATURE_INVALID',
      `missing files listed in the signed manifest: ${[...want.keys()].slice(0, 5).join(', ')}`,
    );
  return {
    kind: 'folder',
    model: { name: signed.modelName, rootDigest: `sha256:${toHex(signed.rootDigest)}` },
    signer,
    files: present.length,
  };
}
