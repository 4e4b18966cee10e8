/**
 * Rewrap over many packages: find the packages named (files, or folders searched for *.mseal),
 * then rewrap or recover them one at a time, each either fully rewrapped or untouched.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelsealError } from '../errors.js';
import { fsReason } from '../keystore/secretfile.js';
import { recoverRewrap, rewrap, type RewrapOptions, type RewrapResult } from './rewrap.js';

/** The packages `paths` name, sorted: files as given, folders searched for *.mseal (hidden files skipped). */
export async function findPackages(paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) {
    const st = await stat(p).catch((cause: unknown) =>
      Promise.reject(new ModelsealError('IO', `cannot read ${p}: ${fsReason(cause)}`, { cause })),
    );
    if (!st.isDirectory()) {
      out.push(p);
      continue;
    }
    const entries = await readdir(p, { recursive: true, withFileTypes: true }).catch((cause: unknown) =>
      Promise.reject(
        new ModelsealError(
          'IO',
          `cannot search ${p} for packages: ${fsReason(cause)} in ${(cause as NodeJS.ErrnoException).path ?? p}`,
          { cause },
        ),
      ),
    );
    for (const e of entries) {
      if (e.isFile() && e.name.endsWith('.mseal') && !e.name.startsWith('.')) out.push(join(e.parentPath, e.name));
    }
  }
  return out.sort();
}

export interface RewrapAllOptions {
  /** Checked before each package: once aborted, the packages not yet started stay untouched (INTERRUPTED). */
  signal?: AbortSignal;
  /** Called after each package, with its 0-based position. */
  onRewrapped?: (i: number, path: string, result: RewrapResult) => void;
}

/**
 * Rewraps `packages` one after the other with the same change. Each package is either fully
 * rewrapped or untouched; an interruption stops between packages and says how many were done.
 */
export async function rewrapAll(
  packages: readonly string[],
  change: RewrapOptions,
  opts: RewrapAllOptions = {},
): Promise<RewrapResult[]> {
  const results: RewrapResult[] = [];
  for (const [i, p] of packages.entries()) {
    if (opts.signal?.aborted)
      throw new ModelsealError(
        'INTERRUPTED',
        `interrupted after ${i} of ${packages.length} packages; each package is either fully rewrapped or untouched`,
      );
    const r = await rewrap(p, change);
    results.push(r);
    opts.onRewrapped?.(i, p, r);
  }
  return results;
}

/** Restores every package of `packages` whose earlier rewrap was interrupted; returns those restored. */
export async function recoverAll(packages: readonly string[]): Promise<string[]> {
  const recovered: string[] = [];
  for (const p of packages) if (await recoverRewrap(p)) recovered.push(p);
  return recovered;
}
