import { ModelsealError } from '../errors.js';
import { LIMITS } from './limits.js';
import { utf8 } from './encoding.js';

/**
 * Checks that `path` is a safe, portable relative POSIX path: it can never name anything
 * outside the folder it is joined to. Rules (docs/FORMAT.md §Names): non-empty components
 * separated by '/', no '.' or '..', no leading '/', no backslash, no control characters,
 * no NUL, length limits per path and per component.
 */
export function checkRelativePath(path: string): void {
  const fail = (why: string): never => {
    throw new ModelsealError('UNSAFE_PATH', `unsafe file name ${JSON.stringify(path.slice(0, 200))}: ${why}`, {
      details: { path: path.slice(0, 200) },
    });
  };
  if (typeof path !== 'string' || path.length === 0) fail('empty');
  // A lone surrogate has no UTF-8 form: encoding would silently turn it into U+FFFD.
  if (/[\uD800-\uDFFF]/u.test(path)) fail('not valid Unicode (a lone surrogate); rename the file');
  if (utf8.encode(path).length > LIMITS.maxPathBytes)
    fail(
      `longer than ${LIMITS.maxPathBytes} bytes ` +
        '(so that open can create it inside an output folder of up to 3000 bytes)',
    );
  // eslint-disable-next-line no-control-regex -- the point: a package path holds no control characters
  if (/[\u0000-\u001f\u007f\\]/.test(path)) fail('contains a control character or a backslash');
  if (path.startsWith('/')) fail('absolute paths are not allowed');
  if (/^[A-Za-z]:/.test(path)) fail('drive-letter paths are not allowed');
  for (const part of path.split('/')) {
    if (part === '') fail('empty path component (leading, trailing or doubled "/")');
    if (part === '.' || part === '..') fail('"." and ".." components are not allowed');
    if (utf8.encode(part).length > LIMITS.maxComponentBytes)
      fail(`a component is longer than ${LIMITS.maxComponentBytes} bytes`);
  }
}

/**
 * Checks a whole file list: every path safe, no duplicates (also after case folding, so that a
 * case-insensitive file system cannot merge two entries), and no file that is also a folder of another.
 */
export function checkPathSet(paths: readonly string[]): void {
  const seen = new Set<string>();
  const files = new Set<string>();
  for (const p of paths) {
    checkRelativePath(p);
    const key = p.normalize('NFC').toLowerCase();
    if (seen.has(key)) {
      throw new ModelsealError(
        'UNSAFE_PATH',
        `duplicate file name ${JSON.stringify(p)} (names must differ beyond case and Unicode normalisation)`,
      );
    }
    seen.add(key);
    files.add(key);
  }
  for (const key of files) {
    const parts = key.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (files.has(dir)) throw new ModelsealError('UNSAFE_PATH', `${JSON.stringify(dir)} is both a file and a folder`);
    }
  }
}
