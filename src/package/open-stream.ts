/**
 * Opening a package on a stream (stdin): one sequential pass of the walker, which checks the
 * structure and signatures as it reads. The key is unwrapped at the header (a stream cannot be
 * read twice); the files' chunks then feed a StreamFeed, from which the payload path
 * (decryptPayload, the same as a file's) reads them by position; the provenance, last in the
 * package, is checked at the end. A stanza or chunk that fails authentication stops the
 * decryption but not the reading: the verdict waits until the structure and the signature are
 * checked, and then names the key's failure, the provenance's, then the payload's, in the order
 * openFile meets them.
 */
import type { Readable } from 'node:stream';
import { ModelsealError } from '../errors.js';
import type { CryptoPool } from '../crypto/pool.js';
import type { ParsedHeader } from '../format/header.js';
import type { PackageLayout, StreamLayout } from '../format/layout.js';
import { streamDepth } from './common.js';
import { checkOutputFits, type OutputTree } from './open-output.js';
import { checkProvenance, decryptPayload, PayloadSink } from './open-payload.js';
import type { CheckedProvenance, Opened, OpenOptions, PayloadReader, Piece, PieceAt } from './open-payload.js';
import { authFailed, unlockPackage } from './unlock.js';
import { StreamSource, walkPackage, type ChunkRef, type WalkVisitor } from './walk.js';

/** Opens the package read from `input` into `out`. */
export async function openStream(
  opts: OpenOptions,
  input: Readable,
  out: OutputTree,
  pool: CryptoPool,
): Promise<Opened> {
  pool.start();
  const visitor = new StreamOpen(opts, out, pool);
  const src = new StreamSource(input);
  try {
    const walk = await walkPackage(src, visitor, {
      trusted: opts.trustedPublishers,
      threads: pool.threads,
      signal: opts.signal,
    });
    return await visitor.verdict(walk);
  } catch (e) {
    await visitor.stop(e);
    throw e;
  } finally {
    src.close();
  }
}

/**
 * A PayloadReader fed by the walker: each file chunk waits here until the payload path asks for
 * its position, and is decrypted on a worker. The walker's put resolves only once the sink took
 * the chunk's plaintext, so the walker's window bounds every chunk held, read or decrypted.
 */
class StreamFeed implements PayloadReader {
  readonly per = 1;
  readonly depth: number;
  #chunks: { ref: ChunkRef; sealed: Uint8Array; taken: () => void; fail: (e: unknown) => void }[] = [];
  #takers: { resolve: (c: { ref: ChunkRef; sealed: Uint8Array }) => void; reject: (e: unknown) => void }[] = [];
  /** Chunks handed to the payload path and not yet taken by the sink, in order. */
  #handed: { taken: () => void; fail: (e: unknown) => void }[] = [];
  #closed: { error: unknown } | undefined;

  constructor(
    readonly pool: CryptoPool,
    chunkSize: number,
    /** Whether decrypting is pointless now (the payload already failed). */
    readonly skip: () => boolean,
  ) {
    this.depth = streamDepth(chunkSize, pool.threads);
  }

  /** From the walker: the next file chunk; resolves once the sink took its plaintext. */
  put(ref: ChunkRef, sealed: Uint8Array): Promise<void> {
    return new Promise((taken, fail) => {
      if (this.#closed) {
        fail(this.#closed.error);
        return;
      }
      this.#chunks.push({ ref, sealed, taken, fail });
      this.#match();
    });
  }

  /** Ends the feed after a failure on either side: every waiting and later put and read fails with `error`. */
  close(error: unknown): void {
    this.#closed ??= { error };
    for (const c of [...this.#handed.splice(0), ...this.#chunks.splice(0)]) c.fail(this.#closed.error);
    for (const t of this.#takers.splice(0)) t.reject(this.#closed.error);
  }

  async decrypt(at: PieceAt): Promise<Piece> {
    const { ref, sealed } = await new Promise<{ ref: ChunkRef; sealed: Uint8Array }>((resolve, reject) => {
      if (this.#closed) {
        reject(this.#closed.error);
        return;
      }
      this.#takers.push({ resolve, reject });
      this.#match();
    });
    if (ref.stream.index !== at.file + 1 || ref.counter !== at.first)
      throw new ModelsealError(
        'INTERNAL',
        `the stream gave chunk ${ref.counter} of stream ${ref.stream.index} out of order`,
      );
    const piece = { file: at.file, chunk: at.first, last: at.last };
    if (this.skip()) return { ...piece, plain: new Uint8Array(0), bad: -1 };
    const done = await this.pool.run({ op: 'openChunk', key: at.key, counter: at.first, final: at.last, data: sealed });
    return { ...piece, plain: done.plain ?? new Uint8Array(0), bad: done.plain ? -1 : 0 };
  }

  #match(): void {
    while (this.#chunks.length > 0 && this.#takers.length > 0) {
      const c = this.#chunks.shift()!;
      this.#handed.push(c);
      this.#takers.shift()!.resolve(c);
    }
  }

  /** The sink took the oldest piece handed out: its put resolves, and the walker may read on. */
  taken(): void {
    this.#handed.shift()?.taken();
  }
}

/** The walker's visitor: unlocks at the header and starts the payload path; decrypts the provenance itself. */
class StreamOpen implements WalkVisitor<Uint8Array | null> {
  #parsed: ParsedHeader | undefined;
  #unlocked: Awaited<ReturnType<typeof unlockPackage>> | undefined;
  #unlockFailure: unknown;
  #sink: PayloadSink | undefined;
  #feed: StreamFeed | undefined;
  /** The payload path, running beside the walker; never rejects (its failure is kept in #payloadError). */
  #payload: Promise<void> | undefined;
  #payloadError: { error: unknown } | undefined;
  #provenanceParts: Uint8Array[] = [];
  #provenance: CheckedProvenance | undefined;
  #provenanceFailure: unknown;

  constructor(
    readonly opts: OpenOptions,
    readonly out: OutputTree,
    readonly pool: CryptoPool,
  ) {}

  async header(parsed: ParsedHeader, _bytes: Uint8Array, layout: PackageLayout): Promise<void> {
    this.#parsed = parsed;
    checkOutputFits(this.out.tmp, parsed.header);
    try {
      this.#unlocked = await unlockPackage(parsed, this.opts.identities, this.opts.debug);
    } catch (e) {
      // A stanza that is ours but does not authenticate (a header the publisher signed broken):
      // reported after the structure, as openFile meets it. No key, no identity: at once.
      if (!(e instanceof ModelsealError && e.code === 'DECRYPTION_FAILED')) throw e;
      this.#unlockFailure = e;
      return;
    }
    await this.out.start(parsed.header.model.kind);
    const sink = new PayloadSink(parsed.header, this.out, this.opts, true);
    const feed = new StreamFeed(this.pool, layout.chunkSize, () => sink.failure !== undefined);
    this.#sink = sink;
    this.#feed = feed;
    this.#payload = decryptPayload(layout, this.#unlocked.keys, feed, sink, this.opts.signal).catch(
      (error: unknown) => {
        this.#payloadError = { error };
        feed.close(error);
      },
    );
  }

  async chunk(ref: ChunkRef, sealed: Uint8Array): Promise<Uint8Array | null> {
    if (!this.#unlocked) return null;
    if (ref.stream.index > 0) {
      await this.#feed!.put(ref, sealed);
      return null;
    }
    if (this.#provenanceFailure !== undefined) return null;
    const key = this.#unlocked.keys.payloadKey(0, ref.segment);
    const done = await this.pool.run({ op: 'openChunk', key, counter: ref.counter, final: ref.final, data: sealed });
    return done.plain ?? null;
  }

  consume(ref: ChunkRef, plain: Uint8Array | null): void {
    if (ref.stream.index > 0 || !this.#unlocked || this.#provenanceFailure !== undefined) return;
    if (plain) {
      this.#provenanceParts.push(plain);
      return;
    }
    this.opts.debug?.(`provenance chunk ${ref.counter} failed authentication`);
    this.#provenanceFailure = authFailed();
  }

  streamEnd(stream: StreamLayout): void {
    if (stream.index !== 0 || !this.#unlocked || this.#provenanceFailure !== undefined) return;
    try {
      const bundle = Buffer.concat(this.#provenanceParts);
      this.#provenance = checkProvenance(bundle, this.#parsed!, this.opts.trustedPublishers, this.opts.debug);
    } catch (e) {
      if (!(e instanceof ModelsealError)) throw e;
      this.#provenanceFailure = e;
    }
    this.#provenanceParts = [];
  }

  /** The walk failed: the payload path stops too, and its own failure is then moot. */
  async stop(error: unknown): Promise<void> {
    this.#feed?.close(error);
    await this.#payload;
  }

  /**
   * After the walk checked the structure and both signatures: the first failure, in openFile's order, or the opened
   * package.
   */
  async verdict(walk: { parsed: ParsedHeader; trailer: Opened['trailer'] }): Promise<Opened> {
    await this.#payload;
    if (this.#payloadError) throw this.#payloadError.error;
    const failures: unknown[] = [this.#unlockFailure, this.#provenanceFailure, this.#sink?.failure];
    const first = failures.findIndex((f) => f !== undefined);
    if (first >= 0) throw failures[first];
    const { stanza, identity } = this.#unlocked!;
    const files = this.#sink!.files;
    return { parsed: walk.parsed, trailer: walk.trailer, stanza, identity, provenance: this.#provenance!, files };
  }
}
