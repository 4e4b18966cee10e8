/**
 * Entries of a list being imported, held as UTF-8 bytes in large shared buffers rather than as
 * one string or Buffer each: a million entries cost their bytes and a few numbers, not a million
 * objects (docs/SCREENING.md, "Limits": a 1,000,000-entity import stays within 1.5 GiB).
 */
const CHUNK = 16 * 1024 * 1024;

/** An append-only store of byte strings, addressed by the order they were added. */
export class ByteArena {
  #chunks: Buffer[] = [];
  #used = CHUNK;
  #chunk: number[] = [];
  #start: number[] = [];
  #length: number[] = [];

  /** Stores `text` as UTF-8; returns its index. */
  add(text: string): number {
    const n = Buffer.byteLength(text);
    if (this.#used + n > CHUNK) {
      this.#chunks.push(Buffer.allocUnsafe(Math.max(CHUNK, n)));
      this.#used = 0;
    }
    const chunk = this.#chunks.length - 1;
    this.#chunks[chunk]!.write(text, this.#used);
    this.#chunk.push(chunk);
    this.#start.push(this.#used);
    this.#length.push(n);
    this.#used += n;
    return this.#length.length - 1;
  }

  /** The bytes stored at `index` (a view, valid while the arena lives). */
  get(index: number): Buffer {
    const start = this.#start[index]!;
    return this.#chunks[this.#chunk[index]!]!.subarray(start, start + this.#length[index]!);
  }

  get size(): number {
    return this.#length.length;
  }
}
