/**
 * The evidence pack's container (docs/AUDIT.md, "Layout"): a ustar file whose first entry is the
 * signed manifest and whose other entries follow in the manifest's order, each with the one
 * canonical header src/format/tar.ts makes, then two zero blocks and nothing else. A reader knows
 * which entry comes next from the manifest, so any changed byte is reported against a file.
 */
import { createHash } from 'node:crypto';
import { ModelsealError } from '../../errors.js';
import { padded, TAR_BLOCK } from '../../format/layout.js';
import { readUstarHeader, tarEntry } from '../../format/tar.js';

/** The first line of the manifest, and the version of the layout. */
export const EVIDENCE_VERSION = 'modelseal evidence v1';
export const MANIFEST = 'manifest';
/** Bounds a reader holds a pack to, before it hashes anything. */
export const EVIDENCE_LIMITS = { manifestBytes: 16 << 20, fileBytes: 256 << 20, files: 100_000 } as const;

/** A pack file name: "/"-separated ASCII segments of letters, digits and "._@-", each led by a letter or digit. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]*(\/[A-Za-z0-9][A-Za-z0-9._@-]*)*$/;

/** EVIDENCE_INVALID naming the file in the pack that failed. */
export function evidenceInvalid(file: string, message: string, cause?: unknown): ModelsealError {
  return new ModelsealError('EVIDENCE_INVALID', `${file}: ${message}`, {
    ...(cause !== undefined ? { cause } : {}),
    details: { file },
  });
}

/** Whether `name` may name a file of a pack (at most 100 bytes: one ustar name field). */
export function isPackName(name: string): boolean {
  return name.length <= 100 && NAME.test(name);
}

export const sha256Hex = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** The pack's bytes: the manifest, then each file in order, then the two zero blocks of a tar end. */
export function writePack(manifest: string, files: ReadonlyMap<string, Buffer>): Buffer {
  const parts: Uint8Array[] = [tarEntry(MANIFEST, Buffer.from(manifest, 'utf8'))];
  for (const [name, data] of files) parts.push(tarEntry(name, data));
  parts.push(new Uint8Array(2 * TAR_BLOCK));
  return Buffer.concat(parts);
}

/** Reads the entry `name` at `at`, its header and zero padding checked: its data and the offset after it. */
export function readEntry(
  pack: Buffer,
  at: number,
  name: string,
  max: number,
  exactSize?: number,
): { data: Buffer; next: number } {
  if (at + TAR_BLOCK > pack.length) throw evidenceInvalid(name, 'the archive ends before this file');
  let size: number;
  try {
    size = readUstarHeader(pack.subarray(at, at + TAR_BLOCK), name, max, exactSize);
  } catch (cause) {
    throw evidenceInvalid(name, `its tar header is not the one this file has (${(cause as Error).message})`, cause);
  }
  const start = at + TAR_BLOCK;
  const next = start + padded(size);
  if (next > pack.length) throw evidenceInvalid(name, 'the archive ends inside this file');
  if (pack.subarray(start + size, next).some((b) => b !== 0))
    throw evidenceInvalid(name, 'its tar padding is not zero');
  return { data: pack.subarray(start, start + size), next };
}

/** Checks that the archive ends at `at` with exactly two zero blocks. */
export function checkEnd(pack: Buffer, at: number): void {
  if (pack.length !== at + 2 * TAR_BLOCK || pack.subarray(at).some((b) => b !== 0))
    throw evidenceInvalid('(end of archive)', 'expected exactly two zero blocks after the last file of the manifest');
}
