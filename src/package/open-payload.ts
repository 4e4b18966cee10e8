/**
 * What both ways of opening share (docs/FORMAT.md §9, "Check order"): the options and result, the
 * one decrypt-and-hash path (decryptPayload: every piece of every file, in package order, read by
 * position from a PayloadReader and taken by the PayloadSink), and the check of the provenance
 * against a trusted key and the header. A file's reader has its workers read the package by
 * position; a stream's reader is fed the chunks the walker hands over, and checks their positions.
 */
import { createHash, type KeyObject } from 'node:crypto';
import type { Readable } from 'node:stream';
import { ModelsealError } from '../errors.js';
import type { KeySchedule } from '../crypto/keyschedule.js';
import { orderedPipeline } from '../crypto/pool.js';
import type { Header, ParsedHeader, Stanza } from '../format/header.js';
import { segmentsOf, streamOf, type PackageLayout, type SegmentLayout } from '../format/layout.js';
import type { SignatureTrailer } from '../format/signature.js';
import { decodeUtf8 } from '../format/encoding.js';
import type { Identity } from '../providers/types.js';
import { interrupted, verifyWithTrustedKey, type Progress } from './common.js';
import type { OutputTree } from './open-output.js';
import { authFailed } from './unlock.js';

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

/** The provenance (model.sig) checked against a trusted key and the header. */
export interface CheckedProvenance {
  text: string;
  /** The signed SHA-256 of every file, by path. */
  expected: Map<string, Uint8Array>;
  /** The key that signed it. */
  key: KeyObject;
}

/**
 * A package whose structure, signatures, key, provenance and payload all checked out, decrypted into the temporary
 * output.
 */
export interface Opened {
  parsed: ParsedHeader;
  trailer: SignatureTrailer;
  stanza: Stanza;
  identity: Identity;
  provenance: CheckedProvenance;
  files: OpenResult['files'];
}

/** Consecutive chunks of one file, decrypted, in package order. */
export interface Piece {
  /** Index of the file in the header. */
  file: number;
  /** Counter of the piece's first chunk. */
  chunk: number;
  plain: Uint8Array;
  /** The descriptor a worker already wrote `plain` to; undefined when the sink writes it (a stream). */
  fd?: number;
  /** Index within the piece of the first chunk that failed authentication, or -1. */
  bad: number;
  /** Whether the piece ends its file. */
  last: boolean;
}

/** Where a piece is in the package: chunks [first, first + chunks) of one segment of file `file`. */
export interface PieceAt {
  file: number;
  seg: SegmentLayout;
  /** The segment's payload key. */
  key: Uint8Array;
  first: number;
  chunks: number;
  /** Whether the piece ends its file (its last chunk carries the final flag). */
  last: boolean;
}

/** Reads and decrypts the payload by position. */
export interface PayloadReader {
  /** Chunks per piece. */
  readonly per: number;
  /** Pieces in flight. */
  readonly depth: number;
  /** Decrypts the piece at `at`; called in package order. */
  decrypt(at: PieceAt): Promise<Piece>;
  /** Called once the sink took `p` (its buffer may be reused). */
  taken?(p: Piece): void;
}

/** The one decrypt-and-hash path of open: every piece of every file, in package order, from `reader` to `sink`. */
export async function decryptPayload(
  layout: PackageLayout,
  keys: KeySchedule,
  reader: PayloadReader,
  sink: PayloadSink,
  signal?: AbortSignal,
): Promise<void> {
  const pieces = function* (): Generator<() => Promise<Piece>> {
    for (let file = 0; file < sink.header.files.length; file++) {
      const stream = streamOf(layout, file + 1);
      for (const seg of segmentsOf(stream)) {
        const key = keys.payloadKey(stream.index, seg.segment);
        for (let first = seg.firstChunk; first < seg.firstChunk + seg.chunkCount; first += reader.per) {
          if (signal?.aborted) throw interrupted();
          const chunks = Math.min(reader.per, seg.firstChunk + seg.chunkCount - first);
          const at = { file, seg, key, first, chunks, last: first + chunks === stream.chunkCount };
          yield () => reader.decrypt(at);
        }
      }
    }
  };
  await orderedPipeline(reader.depth, pieces(), async (p) => {
    await sink.take(p);
    reader.taken?.(p);
  });
}

/**
 * The one decrypt-and-hash step of open: each piece is authenticated, written unless a worker
 * wrote it, hashed and counted; a file's digest is taken at its last piece. With `defer` (a stream,
 * which keeps reading to check the structure) the first authentication failure is kept in
 * `failure` and the pieces after it are dropped; without, it is thrown.
 */
export class PayloadSink {
  readonly files: OpenResult['files'] = [];
  failure: ModelsealError | undefined;
  readonly #total: number;
  #hash = createHash('sha256');
  #fd = -1;
  #done = 0;

  constructor(
    readonly header: Header,
    readonly out: OutputTree,
    readonly opts: Pick<OpenOptions, 'onProgress' | 'debug'>,
    readonly defer: boolean,
  ) {
    this.#total = header.files.reduce((a, f) => a + f.size, 0);
  }

  /** Takes the next piece in package order. */
  async take(p: Piece): Promise<void> {
    if (this.failure) return;
    if (p.bad >= 0) {
      this.opts.debug?.(`chunk ${p.chunk + p.bad} of file ${p.file} failed authentication`);
      if (!this.defer) throw authFailed();
      this.failure = authFailed();
      return;
    }
    let fd = p.fd;
    if (fd === undefined) {
      if (p.chunk === 0) this.#fd = this.out.create(this.header.files[p.file]!);
      fd = this.#fd;
      this.out.write(fd, p.plain);
    }
    this.#hash.update(p.plain);
    this.out.wrote(fd, p.plain.length);
    this.#done += p.plain.length;
    this.opts.onProgress?.({ phase: 'decrypt', done: this.#done, total: this.#total });
    if (p.last) {
      const f = this.header.files[p.file]!;
      await this.out.finish(fd);
      this.files.push({ path: f.path, size: f.size, sha256: this.#hash.digest('hex') });
      this.#hash = createHash('sha256');
    }
  }
}

/**
 * Checks the decrypted OMS bundle against a trusted key and the header; returns it with the
 * expected digest of every file. Why each trusted key failed goes to `debug` and into the error's `cause`.
 */
export function checkProvenance(
  plain: Uint8Array,
  parsed: ParsedHeader,
  trusted: readonly Uint8Array[],
  debug?: (m: string) => void,
): CheckedProvenance {
  const h = parsed.header;
  const text = decodeUtf8(plain, 'provenance');
  const { verified: v, key } = verifyWithTrustedKey(text, trusted, 'the provenance (model.sig)', debug);
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
  return { text, expected, key };
}
