/** Collects the files to seal from a file or a folder, refusing anything that is not a regular file. */
import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import { basename, join, relative, sep } from 'node:path';
import { ModelsealError } from '../errors.js';
import { checkPathSet } from '../format/paths.js';
import { LIMITS } from '../format/limits.js';
import { ioError } from '../io/atomic.js';

export interface InputFile {
  /** Path inside the package (POSIX, relative). */
  path: string;
  /** Where to read it from. */
  source: string;
  size: number;
  mode: number;
}

export interface Inputs {
  kind: 'file' | 'folder';
  name: string;
  files: InputFile[];
  /** Paths left out on purpose (VCS folders, a model.sig we would overwrite). */
  excluded: string[];
}

/** Sidecars that `open` writes next to the weights; never taken from the input. */
export const SIDECARS = ['model.sig'];

function modeOf(m: number): number {
  return m & 0o111 ? 0o755 : 0o644;
}

export async function collectInputs(input: string, opts: { allowSymlinks?: boolean } = {}): Promise<Inputs> {
  let st;
  try {
    st = await stat(input);
  } catch (cause) {
    throw ioError(`cannot read ${input}`, cause);
  }
  const name = basename(await realpath(input));
  if (st.isFile()) {
    return { kind: 'file', name, files: [{ path: name, source: input, size: st.size, mode: modeOf(st.mode) }], excluded: [] };
  }
  if (!st.isDirectory()) throw new ModelsealError('UNSUPPORTED_FILE_TYPE', `${input} is neither a regular file nor a folder`);
  const root = await realpath(input);
  const files: InputFile[] = [];
  const excluded: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const abs = join(dir, e.name);
      const rel = relative(root, abs).split(sep).join('/');
      if (e.name === '.git' || (dir === root && SIDECARS.includes(e.name))) {
        excluded.push(rel);
        continue;
      }
      if (e.isDirectory()) {
        await walk(abs);
      } else if (e.isFile()) {
        const s = await lstat(abs);
        files.push({ path: rel, source: abs, size: s.size, mode: modeOf(s.mode) });
      } else if (e.isSymbolicLink()) {
        if (!opts.allowSymlinks) {
          throw new ModelsealError('UNSUPPORTED_FILE_TYPE', `${rel} is a symbolic link; pass --allow-symlinks to seal the file it points to`);
        }
        // Followed, and only to a regular file inside the folder: the package stores content, never links.
        const target = await realpath(abs).catch((cause) => {
          throw ioError(`${rel} is a dangling symbolic link`, cause);
        });
        if (!(target + sep).startsWith(root + sep)) {
          throw new ModelsealError('UNSAFE_PATH', `${rel} is a symbolic link that points outside the folder`);
        }
        const s = await stat(target);
        if (!s.isFile()) throw new ModelsealError('UNSUPPORTED_FILE_TYPE', `${rel} links to something that is not a regular file`);
        files.push({ path: rel, source: target, size: s.size, mode: modeOf(s.mode) });
      } else {
        throw new ModelsealError('UNSUPPORTED_FILE_TYPE', `${rel} is a device, socket or pipe; only regular files are sealed`);
      }
      if (files.length > LIMITS.maxFiles) {
        throw new ModelsealError('TOO_MANY_FILES', `${input} holds more than ${LIMITS.maxFiles} files`);
      }
    }
  };
  await walk(root);
  if (files.length === 0) throw new ModelsealError('INVALID_ARGUMENT', `${input} holds no files to seal`);
  checkPathSet(files.map((f) => f.path));
  return { kind: 'folder', name, files, excluded };
}
