/**
 * Files that hold a secret the user typed once (a key store passphrase, a PKCS#11 PIN). A file that
 * cannot be read is a usage error naming the file and why; one that others can read gets a warning.
 */
import { readFile, stat } from 'node:fs/promises';
import { ModelsealError } from '../errors.js';

const WHY: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'it is a directory',
  ENOTDIR: 'a part of the path is not a directory',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'the path is too long',
  EEXIST: 'it already exists',
  ENOSPC: 'no space left on the device',
  EROFS: 'the file system is read-only',
  ENOTEMPTY: 'the folder is not empty',
  EBUSY: 'it is busy',
  EMFILE: 'too many open files',
};

/** Why a file operation failed, in words, from its errno code. */
export function fsReason(cause: unknown): string {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  return code ? `${WHY[code] ?? 'I/O error'} (${code})` : 'I/O error';
}

/**
 * Reads a secret from `path` (one trailing newline dropped). `option` names where the path came
 * from (`--passphrase-file`, `MODELSEAL_PASSPHRASE_FILE`...). `warn` receives a warning when the
 * file is readable by its group or by others. Throws INVALID_ARGUMENT when it cannot be read.
 */
export async function readSecretFile(path: string, option: string, warn: (message: string) => void): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `${option} ${path}: ${fsReason(cause)}; give a readable file that holds the secret`,
      { cause },
    );
  }
  const st = await stat(path).catch(() => undefined);
  if (st?.isFile() && st.mode & 0o044) {
    warn(
      `${option} ${path} is readable by ${st.mode & 0o004 ? 'everyone' : 'its group'} (mode ` +
        `${(st.mode & 0o777).toString(8).padStart(4, '0')}): run chmod 600 ${path}`,
    );
  }
  return text.replace(/\r?\n$/, '');
}
