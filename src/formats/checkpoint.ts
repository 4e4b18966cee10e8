/**
 * A checkpoint's file layout: the files to seal from a file or a folder, refusing anything that is not a regular file.
 */
import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import { basename, join, relative, sep } from 'node:path';
import { ModelsealError } from '../errors.js';
import { checkPathSet } from '../format/paths.js';
import { LIMITS } from '../format/limits.js';
import { decodeUtf8 } from '../format/encoding.js';
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

/** A directory entry's name, which must be valid UTF-8. */
function fileName(bytes: Uint8Array, dir: string): string {
  try {
    return decodeUtf8(bytes, 'file name');
  } catch (cause) {
    const shown = Buffer.from(bytes)
      .toString('latin1')
      .replace(/[^\x20-\x7e]/g, '?');
    throw new ModelsealError(
      'UNSAFE_PATH',
      `a file name in ${dir} is not valid UTF-8 ("${shown}"): rename it; package names are Unicode`,
      { cause, details: { folder: dir } },
    );
  }
}

function modeOf(m: number): number {
  return m & 0o111 ? 0o755 : 0o644;
}

/**
 * `sealing`: a root-level model.sig is an error (open would write the provenance over it);
 * otherwise (verify, trace: an opened folder) it is left out like `.git`.
 */
export async function collectInputs(
  input: string,
  opts: { allowSymlinks?: boolean; sealing?: boolean } = {},
): Promise<Inputs> {
  let st;
  try {
    st = await stat(input);
  } catch (cause) {
    throw ioError(`cannot read ${input}`, cause);
  }
  const name = basename(await realpath(input));
  if (st.isFile()) {
    return {
      kind: 'file',
      name,
      files: [{ path: name, source: input, size: st.size, mode: modeOf(st.mode) }],
      excluded: [],
    };
  }
  if (!st.isDirectory())
    throw new ModelsealError('UNSUPPORTED_FILE_TYPE', `${input} is neither a regular file nor a folder`);
  const root = await realpath(input);
  const files: InputFile[] = [];
  const excluded: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    // Names as bytes: one that is not valid UTF-8 must not become U+FFFD silently (two such
    // files would even merge into one name).
    const raw = await readdir(dir, { withFileTypes: true, encoding: 'buffer' });
    const entries = raw
      .map((e) => ({ e, name: fileName(e.name, dir) }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const { e, name: entryName } of entries) {
      const abs = join(dir, entryName);
      const rel = relative(root, abs).split(sep).join('/');
      const sidecar = dir === root && SIDECARS.includes(entryName.normalize('NFC').toLowerCase());
      if (entryName === '.git' || (sidecar && !opts.sealing)) {
        excluded.push(rel);
        continue;
      }
      if (sidecar) {
        throw new ModelsealError(
          'INVALID_ARGUMENT',
          `${abs}: open writes the package's signed provenance as ${entryName} at the top of the opened folder, so ` +
            `the input cannot hold one there. If it is the provenance of an earlier open, check it (modelseal verify ` +
            `${input}) and remove it; to keep it with the weights, rename it (e.g. ${entryName}.orig) or move it ` +
            `into a subfolder`,
          { details: { path: rel } },
        );
      }
      if (e.isDirectory()) {
        await walk(abs);
      } else if (e.isFile()) {
        const s = await lstat(abs);
        files.push({ path: rel, source: abs, size: s.size, mode: modeOf(s.mode) });
      } else if (e.isSymbolicLink()) {
        if (!opts.allowSymlinks) {
          throw new ModelsealError(
            'UNSUPPORTED_FILE_TYPE',
            `${rel} is a symbolic link; pass --allow-symlinks to seal the file it points to`,
          );
        }
        // Followed, and only to a regular file inside the folder: the package stores content, never links.
        const target = await realpath(abs).catch((cause: unknown) => {
          throw ioError(`${rel} is a dangling symbolic link`, cause);
        });
        if (!(target + sep).startsWith(root + sep)) {
          throw new ModelsealError('UNSAFE_PATH', `${rel} is a symbolic link that points outside the folder`);
        }
        const s = await stat(target);
        if (!s.isFile())
          throw new ModelsealError('UNSUPPORTED_FILE_TYPE', `${rel} links to something that is not a regular file`);
        files.push({ path: rel, source: target, size: s.size, mode: modeOf(s.mode) });
      } else {
        throw new ModelsealError(
          'UNSUPPORTED_FILE_TYPE',
          `${rel} is a device, socket or pipe; only regular files are sealed`,
        );
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
