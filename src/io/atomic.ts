/**
 * Every file modelseal writes goes to a temporary name in the target's folder and is renamed
 * into place only when complete, so a crash at any moment leaves the previous state intact.
 */
import { randomBytes } from 'node:crypto';
import { fdatasync, fsync, writeSync } from 'node:fs';
import { link, open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ModelsealError } from '../errors.js';

/** A sibling temporary name for `target`: hidden, recognisable, unique. */
export function tempSibling(target: string): string {
  return join(dirname(target), `.${basename(target)}.mseal-partial-${randomBytes(6).toString('hex')}`);
}

export async function pathExists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

export function ioError(what: string, cause: unknown): ModelsealError {
  const code = (cause as NodeJS.ErrnoException)?.code;
  const hint =
    code === 'ENOENT' ? 'no such file or folder' :
    code === 'EACCES' || code === 'EPERM' ? 'permission denied' :
    code === 'ENOSPC' ? 'no space left on the device' :
    code === 'EISDIR' ? 'it is a folder' :
    code ?? 'I/O error';
  return new ModelsealError('IO', `${what}: ${hint}`, { cause });
}

/**
 * Writes `data` to `path` atomically (fsync, then rename). Refuses to replace an existing file
 * unless `overwrite`. `data` may be a function that writes the file through its handle.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array | ((fh: FileHandle) => Promise<void>), opts: { mode?: number; overwrite?: boolean } = {}): Promise<void> {
  const tmp = tempSibling(path);
  try {
    const fh = await open(tmp, 'wx', opts.mode ?? 0o644);
    try {
      if (typeof data === 'function') await data(fh);
      else await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (opts.overwrite) await rename(tmp, path);
    else await link(tmp, path).then(() => rm(tmp)); // link fails with EEXIST instead of replacing
  } catch (cause) {
    await rm(tmp, { force: true });
    if ((cause as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new ModelsealError('OUTPUT_EXISTS', `${path} already exists; choose another name or pass --force`);
    }
    throw ioError(`cannot write ${path}`, cause);
  }
}

/**
 * Makes a file being written durable when asked to (`--fsync`): after every `every` bytes it starts
 * an fdatasync in the background (libuv's thread pool), so the final fsync before the rename waits
 * only for the tail. When not durable it does nothing: the temporary name and the rename already
 * protect the output against a crash or kill of the process (not against a power cut).
 */
export class Flusher {
  #since = 0;
  #running: Promise<void> | undefined;

  constructor(
    readonly fd: number,
    readonly durable: boolean,
    readonly every = 64 << 20,
  ) {}

  wrote(bytes: number): void {
    if (!this.durable) return;
    this.#since += bytes;
    if (this.#since < this.every || this.#running) return;
    this.#since = 0;
    this.#running = new Promise<void>((resolve) => fdatasync(this.fd, () => resolve())).finally(() => {
      this.#running = undefined;
    });
  }

  /** When durable: waits for any background flush, then fsyncs the file. Call before closing it. */
  async finish(): Promise<void> {
    if (!this.durable) return;
    await this.#running;
    await new Promise<void>((resolve, reject) => fsync(this.fd, (e) => (e ? reject(e) : resolve())));
  }

  /** Waits for any background flush (before closing the descriptor on failure). */
  async settle(): Promise<void> {
    await this.#running;
  }
}

/** Writes all of `data` at `pos` of `fd` (a positioned write may be short). */
export function writeAllAt(fd: number, data: Uint8Array, pos: number): void {
  for (let at = 0; at < data.length; ) at += writeSync(fd, data, at, data.length - at, pos + at);
}
