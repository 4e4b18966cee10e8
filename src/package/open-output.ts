/**
 * Where open writes: a temporary sibling of the output, made the output only when everything
 * checked out (docs/FORMAT.md §9), and removed on any failure.
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { chmod, mkdir, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { ModelsealError } from '../errors.js';
import type { FileEntry, Header } from '../format/header.js';
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
import { commitOutput } from './common.js';

/**
 * The temporary output: a hidden sibling folder (folder package) or file (single-file package)
 * that becomes the output only in commit(); discard() removes whatever is left of it.
 */
export class OutputTree {
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

  /** Writes plaintext decrypted on this thread (a stream's chunks) to `fd`. */
  write(fd: number, plain: Uint8Array): void {
    try {
      for (let at = 0; at < plain.length;) at += writeSync(fd, plain, at, plain.length - at);
    } catch (cause) {
      throw ioError(`cannot write to ${this.target}`, cause);
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

  /** Closes every file still open (after a failure). */
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

  /** Removes what is left of the temporary output, unless it was committed. */
  async discard(): Promise<void> {
    if (this.#kind) await rm(this.tmp, { recursive: true, force: true });
  }
}

/** Linux's PATH_MAX, in bytes with the terminating NUL (macOS allows 1024; Windows, 32767 with long paths). */
const PATH_MAX = process.platform === 'darwin' ? 1024 : 4096;

/**
 * Throws before any key is requested when a file of the package could not be created under the
 * output (its full path longer than the system allows): better now than after decrypting.
 */
export function checkOutputFits(tmp: string, header: Header): void {
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
      `the output path is too long for this package: ` +
        `${longest.path ? `${JSON.stringify(longest.path.slice(0, 80))} inside it` : 'it'} would be ${longest.bytes} ` +
        `bytes, and the system allows ${PATH_MAX - 1}; open into a shorter output path`,
      { details: { bytes: longest.bytes, limit: PATH_MAX - 1 } },
    );
  }
}
