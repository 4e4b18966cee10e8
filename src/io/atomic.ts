/**
 * Every file modelseal writes goes to a temporary name in the target's folder and is renamed
 * into place only when complete, so a crash at any moment leaves the previous state intact.
 */
import { createHash, randomBytes } from 'node:crypto';
import { fdatasync, fsync, writeSync } from 'node:fs';
import { link, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { ModelsealError } from '../errors.js';

/** Partial outputs are private until complete (they may hold decrypted weights): files 0600, folders 0700. */
export const PARTIAL_FILE_MODE = 0o600;
export const PARTIAL_DIR_MODE = 0o700;

/** This host, in partial names: a process id is only meaningful on the host (and pid namespace) that made it. */
const HOST_TAG = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);
/** `.<target>.mseal-partial-<host>-<pid>-<random>`: exactly what tempSibling makes, nothing else. */
const PARTIAL_NAME = /^\.(.+)\.mseal-partial-([0-9a-f]{8})-([1-9]\d{0,9})-[0-9a-f]{12}$/s;

/** A sibling temporary name for `target`: hidden, recognisable, unique, naming the process that owns it. */
export function tempSibling(target: string): string {
  return join(
    dirname(target),
    `.${basename(target)}.mseal-partial-${HOST_TAG}-${process.pid}-${randomBytes(6).toString('hex')}`,
  );
}

let umask: number | undefined;
/** `mode` as the process umask lets it be: what a file created with that mode would have had. */
export function finalMode(mode: number): number {
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- Node's only way to read the umask; read once
  umask ??= process.umask();
  return mode & 0o777 & ~umask;
}

export interface StalePartial {
  /** The partial file or folder. */
  path: string;
  /** The output it was to become (a sibling of `path`). */
  target: string;
  /** The process that made it, no longer running. */
  pid: number;
}

/** Whether process `pid` runs on this host (owned by this user or another). */
export function isProcessRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // alive, owned by another user
  }
}

/**
 * The partial outputs in `dir` that a modelseal process of this host left behind when it was
 * killed: our exact naming, made on this host, by a process id that no longer runs. Only those of
 * the outputs named in `targets` (base names) when given.
 */
export async function findStalePartials(dir: string, targets?: readonly string[]): Promise<StalePartial[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return []; // no folder, no leftovers; the command reports its own error about the path
  }
  const out: StalePartial[] = [];
  for (const name of names.sort()) {
    const m = PARTIAL_NAME.exec(name);
    if (m?.[2] !== HOST_TAG || (targets && !targets.includes(m[1]!))) continue;
    const pid = Number(m[3]);
    if (pid === process.pid || isProcessRunning(pid)) continue;
    out.push({ path: join(dir, name), target: join(dir, m[1]!), pid });
  }
  return out;
}

/** Removes what findStalePartials finds; returns what was removed. */
export async function removeStalePartials(dir: string, targets?: readonly string[]): Promise<StalePartial[]> {
  const stale = await findStalePartials(dir, targets);
  for (const s of stale) {
    try {
      await rm(s.path, { recursive: true, force: true });
    } catch (cause) {
      throw ioError(`cannot remove ${s.path}, left by an interrupted modelseal (process ${s.pid})`, cause);
    }
  }
  return stale;
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
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  const hint =
    code === 'ENOENT'
      ? 'no such file or folder'
      : code === 'EACCES' || code === 'EPERM'
        ? 'permission denied'
        : code === 'ENOSPC'
          ? 'no space left on the device'
          : code === 'EISDIR'
            ? 'it is a folder'
            : (code ?? 'I/O error');
  return new ModelsealError('IO', `${what}: ${hint}`, { cause });
}

/**
 * Writes `data` to `path` atomically (fsync, then rename). Refuses to replace an existing file
 * unless `overwrite`. `data` may be a function that writes the file through its handle.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array | ((fh: FileHandle) => Promise<void>),
  opts: { mode?: number; overwrite?: boolean } = {},
): Promise<void> {
  const tmp = tempSibling(path);
  try {
    const fh = await open(tmp, 'wx', PARTIAL_FILE_MODE);
    try {
      if (typeof data === 'function') await data(fh);
      else await fh.writeFile(data);
      await fh.chmod(finalMode(opts.mode ?? 0o644));
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
  for (let at = 0; at < data.length;) at += writeSync(fd, data, at, data.length - at, pos + at);
}
