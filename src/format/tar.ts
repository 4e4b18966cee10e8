/**
 * The ustar header blocks of a modelseal/v1 package (docs/FORMAT.md §1). Every entry is a regular
 * file with a short ASCII name, so one fixed encoding suffices: writers place these blocks at the
 * offsets the layout computes, and readers that seek check them here. Streaming readers parse the
 * same blocks with tar-stream.
 */
import { ModelsealError } from '../errors.js';
import { ENTRY, TAR_BLOCK } from './layout.js';

const octal = (n: number, width: number) => n.toString(8).padStart(width, '0') + ' ';

/** The 512-byte ustar header of a regular file `name` (ASCII, ≤ 100 bytes) of `size` bytes. */
export function ustarHeader(name: string, size: number, mtime: Date): Uint8Array {
  if (!/^[\x21-\x7e]{1,100}$/.test(name)) throw new RangeError(`tar entry name ${JSON.stringify(name)}`);
  if (!Number.isSafeInteger(size) || size < 0 || size >= 8 ** 11) throw new RangeError(`tar entry size ${size}`);
  const b = Buffer.alloc(TAR_BLOCK);
  b.write(name, 0, 'latin1');
  b.write(octal(0o644, 6), 100, 'latin1');
  b.write(octal(0, 6), 108, 'latin1');
  b.write(octal(0, 6), 116, 'latin1');
  b.write(octal(size, 11), 124, 'latin1');
  b.write(octal(Math.floor(mtime.getTime() / 1000), 11), 136, 'latin1');
  b[156] = 0x30; // '0': regular file
  b.write('ustar\u000000', 257, 'latin1');
  b.write(octal(0, 6), 329, 'latin1');
  b.write(octal(0, 6), 337, 'latin1');
  b.write(octal(checksum(b), 6), 148, 'latin1');
  return b;
}

function checksum(b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < TAR_BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : b[i]!;
  return sum;
}

/**
 * Checks that `block` is the ustar header of regular file `name` and returns its size; throws
 * MALFORMED_PACKAGE (or HEADER_TOO_LARGE for the header entry) otherwise.
 */
export function readUstarHeader(block: Uint8Array, name: string, maxSize: number, exactSize?: number): number {
  const b = Buffer.from(block.buffer, block.byteOffset, block.byteLength);
  const field = (from: number, len: number) => b.subarray(from, from + len).toString('latin1').replace(/\0.*$/s, '');
  const stored = parseInt(field(148, 8).trim(), 8);
  const sizeText = field(124, 12).trim();
  const size = /^[0-7]+$/.test(sizeText) ? parseInt(sizeText, 8) : NaN;
  if (stored !== checksum(b) || field(257, 5) !== 'ustar') {
    throw new ModelsealError('MALFORMED_PACKAGE', `the tar header of ${name} is damaged (checksum or magic)`);
  }
  if (field(0, 100) !== name || ![0, 0x30].includes(b[156]!) || field(345, 155) !== '' || !Number.isSafeInteger(size)) {
    throw new ModelsealError('MALFORMED_PACKAGE', `expected tar entry ${name}`);
  }
  if (size > maxSize) {
    throw new ModelsealError(name === ENTRY.header ? 'HEADER_TOO_LARGE' : 'MALFORMED_PACKAGE', `${name} is ${size} bytes; the limit is ${maxSize}`);
  }
  if (exactSize !== undefined && size !== exactSize) throw new ModelsealError('MALFORMED_PACKAGE', `${name} is ${size} bytes; the header implies ${exactSize}`);
  return size;
}
