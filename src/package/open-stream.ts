/**
 * Opening a package on a stream (stdin): one sequential pass of the walker, which checks the
 * structure and signatures as it reads and hands each chunk over in package order. The key is
 * unwrapped at the header (a stream cannot be read twice); the files' chunks go through the same
 * PayloadSink as a file's pieces; the provenance, last in the package, is checked at the end.
 * A stanza or chunk that fails authentication stops the decryption but not the reading: the
 * verdict waits until the structure and the signature are checked, and then names the key's
 * failure, the provenance's, then the payload's, in the order openFile meets them.
 */
import type { Readable } from 'node:stream';
import { ModelsealError } from '../errors.js';
import type { CryptoPool } from '../crypto/pool.js';
import type { ParsedHeader } from '../format/header.js';
import type { StreamLayout } from '../format/layout.js';
import { checkOutputFits, type OutputTree } from './open-output.js';
import { checkProvenance, PayloadSink, type CheckedProvenance, type Opened, type OpenOptions } from './open-payload.js';
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
    return visitor.verdict(walk);
  } finally {
    src.close();
  }
}

/** The walker's visitor: unlocks at the header, decrypts each chunk on the workers, takes them in order. */
class StreamOpen implements WalkVisitor<Uint8Array | null> {
  #parsed: ParsedHeader | undefined;
  #unlocked: Awaited<ReturnType<typeof unlockPackage>> | undefined;
  #sink: PayloadSink | undefined;
  #unlockFailure: unknown;
  #provenanceParts: Uint8Array[] = [];
  #provenance: CheckedProvenance | undefined;
  #provenanceFailure: unknown;

  constructor(
    readonly opts: OpenOptions,
    readonly out: OutputTree,
    readonly pool: CryptoPool,
  ) {}

  /** Whether the chunks of stream `index` are no longer decrypted (no key, or that part already failed). */
  #skipped(index: number): boolean {
    if (this.#unlockFailure !== undefined) return true;
    return index === 0 ? this.#provenanceFailure !== undefined : this.#sink?.failure !== undefined;
  }

  async header(parsed: ParsedHeader): Promise<void> {
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
    this.#sink = new PayloadSink(parsed.header, this.out, this.opts, true);
    await this.out.start(parsed.header.model.kind);
  }

  async chunk(ref: ChunkRef, sealed: Uint8Array): Promise<Uint8Array | null> {
    if (this.#skipped(ref.stream.index)) return null;
    const done = await this.pool.run({
      op: 'openChunk',
      key: this.#unlocked!.keys.payloadKey(ref.stream.index, ref.segment),
      counter: ref.counter,
      final: ref.final,
      data: sealed,
    });
    return done.plain!;
  }

  async consume(ref: ChunkRef, plain: Uint8Array | null): Promise<void> {
    const index = ref.stream.index;
    if (this.#skipped(index)) return;
    if (index > 0) {
      const piece = { file: index - 1, chunk: ref.counter, last: ref.final };
      await this.#sink!.take({ ...piece, plain: plain ?? new Uint8Array(0), bad: plain ? -1 : 0 });
    } else if (plain) {
      this.#provenanceParts.push(plain);
    } else {
      this.opts.debug?.(`provenance chunk ${ref.counter} failed authentication`);
      this.#provenanceFailure = authFailed();
    }
  }

  streamEnd(stream: StreamLayout): void {
    if (stream.index !== 0 || this.#skipped(0)) return;
    try {
      const text = Buffer.concat(this.#provenanceParts);
      this.#provenance = checkProvenance(text, this.#parsed!, this.opts.trustedPublishers, this.opts.debug);
    } catch (e) {
      if (!(e instanceof ModelsealError)) throw e;
      this.#provenanceFailure = e;
    }
    this.#provenanceParts = [];
  }

  /** After the walk checked the structure and both signatures: the first failure, in openFile's order, or the opened package. */
  verdict(walk: { parsed: ParsedHeader; trailer: Opened['trailer'] }): Opened {
    for (const failure of [this.#unlockFailure, this.#provenanceFailure, this.#sink?.failure]) {
      if (failure !== undefined) throw failure;
    }
    const { stanza, identity } = this.#unlocked!;
    return {
      parsed: walk.parsed,
      trailer: walk.trailer,
      stanza,
      identity,
      provenance: this.#provenance!,
      files: this.#sink!.files,
    };
  }
}
