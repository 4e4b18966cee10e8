/**
 * Where an opened package goes besides a path: a stream (stdout), through a scratch file so that
 * not one byte is written before the whole package authenticated; and the release receipt beside
 * the output.
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ModelsealError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { open, type OpenOptions, type OpenResult } from './open.js';

/** What `openToStream` opened: as `open` reports it, less the paths, which a stream does not have. */
export type StreamOpenResult = Omit<OpenResult, 'output' | 'provenance'>;

/**
 * Opens a single-file package and copies the verified file to `out`, which stays open. The file
 * is opened into a scratch folder under the system's temporary folder first (removed afterwards,
 * also on failure), so `out` receives nothing unless every byte authenticated. A folder package
 * is refused (INVALID_ARGUMENT): a stream holds one file.
 */
export async function openToStream(
  opts: Omit<OpenOptions, 'output' | 'force'>,
  out: Writable | NodeJS.WritableStream,
): Promise<StreamOpenResult> {
  const scratch = await mkdtemp(join(tmpdir(), 'modelseal-'));
  try {
    const { output, provenance: _provenance, ...r } = await open({ ...opts, output: join(scratch, 'out') });
    if (r.kind !== 'file')
      throw new ModelsealError('INVALID_ARGUMENT', '-o - works only for a single-file package; this one is a folder');
    await pipeline(createReadStream(output), out, { end: false });
    return r;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Where the release receipt of an output goes: beside it, as `<output>.release.tlog-proof`. */
export function releaseReceiptPath(output: string): string {
  return `${output}.release.tlog-proof`;
}

/**
 * Writes the release receipt (C2SP tlog-proof) beside `output`, atomically; call it once the output
 * is complete. Without `overwrite` an existing receipt is an error. Returns the receipt's path.
 */
export async function writeReleaseReceipt(
  output: string,
  receipt: string,
  opts: { overwrite?: boolean } = {},
): Promise<string> {
  const path = releaseReceiptPath(output);
  await writeFileAtomic(path, receipt, { overwrite: opts.overwrite ?? false });
  return path;
}
