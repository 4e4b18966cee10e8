/**
 * `seal`: checkpoint → modelseal/v1 package. Two passes over the input: the first hashes every
 * file (the model root digest is part of every release context, so it must be known before the
 * header and stanzas are written); the second re-hashes while encrypting, so a file that changed
 * in between is caught. Chunk crypto runs on worker threads; the main thread reads, hashes in
 * order and writes.
 */
import { createHash } from 'node:crypto';
import { closeSync, createWriteStream, fstatSync, openSync, readSync } from 'node:fs';
import { open as openFile, rm, stat } from 'node:fs/promises';
import { once } from 'node:events';
import { pipeline } from 'node:stream/promises';
import type { Writable } from 'node:stream';
import tar from 'tar-stream';
import { ModelsealError } from '../errors.js';
import { CryptoPool, orderedPipeline } from '../crypto/pool.js';
import { KeySchedule, newDataKey, newPackageId } from '../crypto/keyschedule.js';
import { signMessage } from '../crypto/signer.js';
import { encodeHeader, encodeHeaderMacInput, type Header, type Stanza } from '../format/header.js';
import { computeLayout, ENTRY, initialRegionBytes, packageSize, reserveBytesFor, chunkPlainLength } from '../format/layout.js';
import { DEFAULT_CHUNK_SIZE, isValidChunkSize, LIMITS } from '../format/limits.js';
import { encodeSignature, signedMessage } from '../format/signature.js';
import { toHex, utf8 } from '../format/encoding.js';
import { computeRootDigest, signModel, type ManifestEntry } from '../provenance/oms.js';
import type { Recipient } from '../providers/types.js';
import type { Publisher } from '../keystore/keystore.js';
import { collectInputs, SIDECARS, type InputFile } from './inputs.js';
import { commitOutput, pipelineDepth, type Progress } from './common.js';
import { ioError, tempSibling } from '../io/atomic.js';

export interface SealOptions {
  /** A file or a folder (a Hugging Face checkpoint, say). */
  input: string;
  /** Package path, or a Writable (e.g. stdout) that receives the package as it is made. */
  output: string | Writable;
  recipients: readonly Recipient[];
  publisher: Publisher;
  /** License id bound into every stanza's release context. Default "none". */
  license?: string;
  /** Policy hash bound into every stanza's release context. Default "none". */
  policy?: string;
  chunkSize?: number;
  allowSymlinks?: boolean;
  /** Replace an existing output file. */
  force?: boolean;
  threads?: number;
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
}

export interface SealResult {
  output: string;
  packageId: string;
  model: { name: string; rootDigest: string };
  chunkSize: number;
  files: { path: string; size: number; sha256: string }[];
  excluded: string[];
  recipients: { type: string; recipient: string; license: string; policy: string }[];
  plaintextBytes: number;
  packageBytes: number;
  signer: string;
}

const TEXT = /^[\x20-\x7e]{1,512}$/;

async function hashFile(f: InputFile, onBytes: (n: number) => void, signal?: AbortSignal): Promise<Uint8Array> {
  // Synchronous reads: the page cache answers at memory speed, and async 1 MiB reads left the CPU idle.
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(4 << 20);
  let fd: number;
  try {
    fd = openSync(f.source, 'r');
  } catch (cause) {
    throw ioError(`cannot read ${f.source}`, cause);
  }
  try {
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; ) {
      h.update(buf.subarray(0, n));
      onBytes(n);
      if (signal?.aborted) throw interrupted();
    }
  } catch (cause) {
    if (cause instanceof ModelsealError) throw cause;
    throw ioError(`cannot read ${f.source}`, cause);
  } finally {
    closeSync(fd);
  }
  return new Uint8Array(h.digest());
}

export function interrupted(): ModelsealError {
  return new ModelsealError('INTERRUPTED', 'interrupted; nothing was written at the output path');
}

async function writeTo(stream: Writable, buf: Uint8Array): Promise<void> {
  if (!stream.write(buf)) await once(stream, 'drain');
}

export async function seal(opts: SealOptions): Promise<SealResult> {
  const chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE;
  if (!isValidChunkSize(chunkSize)) throw new ModelsealError('INVALID_ARGUMENT', `chunk size ${chunkSize}: expected a power of two from 64 KiB to 16 MiB`);
  if (opts.recipients.length === 0) throw new ModelsealError('INVALID_ARGUMENT', 'recipients: at least one recipient is needed (--to)');
  if (opts.recipients.length > LIMITS.maxStanzas) throw new ModelsealError('TOO_MANY_STANZAS', `at most ${LIMITS.maxStanzas} recipients per package`);
  const license = opts.license ?? 'none';
  const policy = opts.policy ?? 'none';
  if (!TEXT.test(license)) throw new ModelsealError('INVALID_ARGUMENT', 'license: expected 1-512 printable ASCII characters');
  if (!TEXT.test(policy)) throw new ModelsealError('INVALID_ARGUMENT', 'policy: expected 1-512 printable ASCII characters');
  const signal = opts.signal;
  const inputs = await collectInputs(opts.input, { allowSymlinks: opts.allowSymlinks ?? false });
  const total = inputs.files.reduce((a, f) => a + f.size, 0);
  const progress = (phase: Progress['phase'], done: number) => opts.onProgress?.({ phase, done, total });

  // Pass 1: the manifest.
  let hashed = 0;
  const manifest: ManifestEntry[] = [];
  for (const f of inputs.files) {
    const sha256 = await hashFile(f, (n) => progress('hash', (hashed += n)), signal);
    manifest.push({ path: f.path, size: f.size, sha256 });
  }
  const rootDigest = computeRootDigest(manifest);
  const bundle = utf8.encode(
    signModel({
      modelName: inputs.name,
      entries: manifest,
      ignorePaths: inputs.kind === 'folder' ? SIDECARS : [],
      privateKey: opts.publisher.privateKey,
      publicKeyPem: opts.publisher.publicKeyPem,
    }),
  );

  // Header: wrap the data key for every recipient under its release context.
  const dek = newDataKey();
  const packageId = newPackageId();
  const keys = new KeySchedule(dek, packageId);
  const stanzas: Stanza[] = [];
  for (const r of opts.recipients) {
    const ctx = { packageId, artifactDigest: rootDigest, recipient: r.id, license, policy };
    const w = await r.wrapDataKey(dek, ctx);
    stanzas.push({ type: r.type, recipient: r.id, license, policy, args: w.args, body: w.body });
  }
  dek.fill(0);
  const header: Header = {
    packageId,
    created: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    chunkSize,
    model: { name: inputs.name, kind: inputs.kind, rootDigest },
    provenanceSize: bundle.length,
    files: inputs.files.map((f) => ({ path: f.path, size: f.size, mode: f.mode })),
    stanzas,
    commitment: keys.commitment,
  };
  const headerBytes = encodeHeader(header, keys.headerMac(encodeHeaderMacInput(header)));
  const region = initialRegionBytes(headerBytes.length);
  const layout = computeLayout(header, region);
  const mtime = new Date(Date.parse(header.created));

  // Pass 2: the package, to a temporary sibling (or straight to a stream).
  const toPath = typeof opts.output === 'string' ? opts.output : undefined;
  const tmp = toPath ? tempSibling(toPath) : undefined;
  const pool = new CryptoPool(opts.threads);
  const pack = tar.pack();
  let sink: Promise<void>;
  try {
    const out = tmp ? createWriteStream(tmp, { flags: 'wx', mode: 0o644, highWaterMark: 8 << 20 }) : (opts.output as Writable);
    sink = pipeline(pack, out, { end: tmp !== undefined });
    sink.catch(() => {});
  } catch (cause) {
    throw ioError(`cannot write ${toPath}`, cause);
  }
  const chunkDigests = new Uint8Array(layout.totalChunks * 32);
  let chunkIndex = 0;
  let written = 0;
  try {
    const entry = async (name: string, size: number, body: (e: Writable) => Promise<void>) => {
      // tar-stream's entry is a streamx Writable; the node:stream surface used here is the same.
      const e = pack.entry({ name, size, mode: 0o644, mtime, type: 'file', uid: 0, gid: 0, uname: '', gname: '' }) as unknown as Writable;
      const done = new Promise<void>((resolve, reject) => {
        e.once('finish', resolve);
        e.once('error', reject);
      });
      await body(e);
      e.end();
      await Promise.race([done, sink]);
    };
    await entry(ENTRY.header, headerBytes.length, (e) => writeTo(e, headerBytes));
    const reserve = reserveBytesFor(headerBytes.length, region);
    await entry(ENTRY.reserve, reserve, async (e) => {
      const zeros = new Uint8Array(Math.min(reserve, 1 << 16));
      for (let left = reserve; left > 0; left -= zeros.length) await writeTo(e, left >= zeros.length ? zeros : zeros.subarray(0, left));
    });

    const depth = pipelineDepth(chunkSize, pool.threads);
    for (const stream of layout.streams) {
      const file = stream.index === 0 ? undefined : inputs.files[stream.index - 1]!;
      let fd: number | undefined;
      try {
        fd = file ? openSync(file.source, 'r') : undefined;
      } catch (cause) {
        throw ioError(`cannot read ${file!.source}`, cause);
      }
      const h = createHash('sha256');
      try {
        if (file && fstatSync(fd!).size !== file.size) throw changed(file);
        for (const seg of stream.segments) {
          const key = keys.payloadKey(stream.index, seg.segment);
          await entry(seg.entryName, seg.size, async (e) => {
            // Reads are synchronous (page-cache fast) so the plaintext hash sees the bytes in order
            // while the encryption of earlier chunks proceeds on the workers.
            const tasks = function* () {
              for (let c = seg.firstChunk; c < seg.firstChunk + seg.chunkCount; c++) {
                if (signal?.aborted) throw interrupted();
                const len = chunkPlainLength(stream.plaintextSize, chunkSize, c);
                const buf = Buffer.allocUnsafeSlow(len);
                if (fd !== undefined) {
                  if (readSync(fd, buf, 0, len, c * chunkSize) !== len) throw changed(file!);
                } else {
                  buf.set(bundle.subarray(c * chunkSize, c * chunkSize + len));
                }
                h.update(buf);
                const counter = c;
                yield () => pool.seal(key, counter, counter === stream.chunkCount - 1, buf);
              }
            };
            await orderedPipeline(depth, tasks(), async ({ sealed, digest }) => {
              chunkDigests.set(digest, 32 * chunkIndex++);
              await writeTo(e, sealed);
              written += sealed.length - 16;
              if (file) progress('encrypt', written);
            });
          });
        }
        if (file) {
          const digest = h.digest();
          if (!digest.equals(manifest[stream.index - 1]!.sha256)) throw changed(file);
        }
      } finally {
        if (fd !== undefined) closeSync(fd);
      }
    }
    await entry(ENTRY.chunks, chunkDigests.length, (e) => writeTo(e, chunkDigests));
    const sig = encodeSignature({
      publicKey: opts.publisher.spki,
      headerDigest: sha256(headerBytes),
      chunksDigest: sha256(chunkDigests),
      signature: signMessage(opts.publisher.privateKey, signedMessage(sha256(headerBytes), sha256(chunkDigests))),
    });
    await entry(ENTRY.signature, sig.length, (e) => writeTo(e, sig));
    pack.finalize();
    await sink;
    const expected = packageSize(layout, sig.length);
    if (tmp) {
      const fh = await openFile(tmp, 'r+');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      const size = (await stat(tmp)).size;
      if (size !== expected) throw new ModelsealError('INTERNAL', `package size ${size} differs from the computed layout ${expected}`);
      await commitOutput(tmp, toPath!, opts.force ?? false);
    }
    return {
      output: toPath ?? '-',
      packageId: toHex(packageId),
      model: { name: inputs.name, rootDigest: `sha256:${toHex(rootDigest)}` },
      chunkSize,
      files: manifest.map((m) => ({ path: m.path, size: m.size, sha256: toHex(m.sha256) })),
      excluded: inputs.excluded,
      recipients: stanzas.map((s) => ({ type: s.type, recipient: s.recipient, license: s.license, policy: s.policy })),
      plaintextBytes: total,
      packageBytes: expected,
      signer: `sha256:${toHex(sha256(opts.publisher.spki))}`,
    };
  } catch (e) {
    pack.destroy();
    await sink.catch(() => {});
    if (tmp) await rm(tmp, { force: true });
    throw e;
  } finally {
    await pool.close();
  }
}

function changed(f: InputFile): ModelsealError {
  return new ModelsealError('IO', `${f.source} changed while it was being sealed; seal again once it is stable`);
}

function sha256(b: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(b).digest());
}

