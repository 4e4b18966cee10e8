/**
 * `verify`: keyless checks. For a package: structure, every ciphertext chunk against the signed
 * chunk list (hashed on worker threads), and the publisher signature against a trusted key.
 * For an opened folder: its model.sig (OMS) against a trusted key and every file's digest.
 */
import { createHash, createPublicKey } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { ModelsealError } from '../errors.js';
import { CryptoPool } from '../crypto/pool.js';
import { toHex } from '../format/encoding.js';
import { verifyModelSignature } from '../provenance/oms.js';
import { collectInputs } from './inputs.js';
import type { Progress } from './common.js';
import { checkTrusted, signerId, walkPackage } from './walk.js';
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

export async function verifyPackage(input: string | Readable, opts: VerifyOptions): Promise<VerifyPackageResult> {
  const pool = new CryptoPool(opts.threads);
  let total = 0;
  let done = 0;
  try {
    const stream = typeof input === 'string' ? createReadStream(input, { highWaterMark: 1 << 20 }) : input;
    if (typeof input === 'string') total = (await stat(input).catch((c) => Promise.reject(ioError(`cannot read ${input}`, c)))).size;
    const w = await walkPackage<Uint8Array>(stream, pool.threads, {
      header: () => {},
      chunk: (_ref, sealed) => {
        done += sealed.length;
        return pool.hash(sealed);
      },
      consume: (_ref, digest) => {
        opts.onProgress?.({ phase: 'verify', done, total });
        return digest;
      },
    }, opts.signal);
    checkTrusted(w.trailer, opts.trustedPublishers);
    const h = w.parsed.header;
    return {
      kind: 'package',
      packageId: toHex(h.packageId),
      model: { name: h.model.name, rootDigest: `sha256:${toHex(h.model.rootDigest)}` },
      signer: signerId(w.trailer.publicKey),
      files: h.files.length,
      chunks: w.layout.totalChunks,
      packageBytes: w.layout.signatureOffset,
    };
  } finally {
    await pool.close();
  }
}

export interface VerifyFolderResult {
  kind: 'folder';
  model: { name: string; rootDigest: string };
  signer: string;
  files: number;
}

/** Verifies an opened checkpoint folder against its model.sig and a trusted publisher key. */
export async function verifyFolder(dir: string, opts: { trustedPublishers: readonly Uint8Array[]; signature?: string }): Promise<VerifyFolderResult> {
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
  let signed: ReturnType<typeof verifyModelSignature> | undefined;
  let signer = '';
  for (const spki of opts.trustedPublishers) {
    try {
      signed = verifyModelSignature(bundle, createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }));
      signer = signerId(spki);
      break;
    } catch {
      /* try the next trusted key */
    }
  }
  if (!signed) throw new ModelsealError('SIGNATURE_INVALID', `${sigPath} is not validly signed by any trusted publisher key`);
  const inputs = await collectInputs(dir);
  const ignored = new Set([...signed.ignorePaths, relative(dir, sigPath).split(sep).join('/')]);
  const present = inputs.files.filter((f) => !ignored.has(f.path));
  const want = new Map(signed.entries.map((e) => [e.path, e.sha256]));
  for (const f of present) {
    const digest = want.get(f.path);
    if (!digest) throw new ModelsealError('SIGNATURE_INVALID', `${f.path} is not in the signed manifest`, { details: { path: f.path } });
    const h = createHash('sha256');
    for await (const b of createReadStream(f.source, { highWaterMark: 1 << 20 })) h.update(b as Buffer);
    if (!h.digest().equals(digest)) throw new ModelsealError('SIGNATURE_INVALID', `${f.path} differs from the signed manifest`, { details: { path: f.path } });
    want.delete(f.path);
  }
  if (want.size > 0) throw new ModelsealError('SIGNATURE_INVALID', `missing files listed in the signed manifest: ${[...want.keys()].slice(0, 5).join(', ')}`);
  return { kind: 'folder', model: { name: signed.modelName, rootDigest: `sha256:${toHex(signed.rootDigest)}` }, signer, files: present.length };
}
