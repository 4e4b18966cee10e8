/**
 * The ustar header blocks of a modelseal/v1 package (docs/FORMAT.md §1). Every entry is a regular
 * file with a short ASCII name and fixed metadata, so each block has exactly one encoding: writers
 * place these blocks at the offsets the layout computes, and readers re-encode the block they
 * expect and compare all 512 bytes, so no tar field is left unchecked.
 */
import { ModelsealError } from '../errors.js';
import { ENTRY, padded, reserveBytesFor, TAR_BLOCK } from './layout.js';
import { LIMITS } from './limits.js';

const octal = (n: number, width: number) => n.toString(8).padStart(width, '0') + ' ';

/**
 * The 512-byte ustar header of a regular file `name` (printable ASCII, ≤ 100 bytes) of `size`
 * bytes: mode 0644, uid and gid 0, mtime 0, no user or group name, no prefix.
 */
export function ustarHeader(name: string, size: number): Uint8Array {
  if (!/^[\x21-\x7e]{1,100}$/.test(name)) throw new RangeError(`tar entry name ${JSON.stringify(name)}`);
  if (!Number.isSafeInteger(size) || size < 0 || size >= 8 ** 11) throw new RangeError(`tar entry size ${size}`);
  const b = Buffer.alloc(TAR_BLOCK);
  b.write(name, 0, 'latin1');
  b.write(octal(0o644, 6), 100, 'latin1');
  b.write(octal(0, 6), 108, 'latin1');
  b.write(octal(0, 6), 116, 'latin1');
  b.write(octal(size, 11), 124, 'latin1');
  b.write(octal(0, 11), 136, 'latin1');
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
 * Checks that `block` is exactly the canonical ustar header of regular file `name` and returns
 * its size. Throws MALFORMED_PACKAGE for any other block (HEADER_TOO_LARGE for a header entry over
 * its limit); the checks run in a fixed order so every reader reports the same error.
 */
export function readUstarHeader(block: Uint8Array, name: string, maxSize: number, exactSize?: number): number {
  const b = Buffer.from(block.buffer, block.byteOffset, block.byteLength);
  const found = b.subarray(0, 100).toString('latin1').replace(/\0.*$/s, '');
  if (found !== name) {
    throw new ModelsealError(
      'MALFORMED_PACKAGE',
      `expected tar entry ${name}, found ${JSON.stringify(found).slice(0, 80)}`,
    );
  }
  const sizeField = b.subarray(124, 136).toString('latin1');
  if (!/^[0-7]{11} $/.test(sizeField))
    throw new ModelsealError(
      'MALFORMED_PACKAGE',
      `the tar header of ${name} is not in the canonical form (its size field)`,
    );
  const size = parseInt(sizeField, 8);
  if (!b.equals(ustarHeader(name, size))) {
    throw new ModelsealError(
      'MALFORMED_PACKAGE',
      `the tar header of ${name} is not in the canonical form (docs/FORMAT.md §1)`,
    );
  }
  if (size > maxSize) {
    throw new ModelsealError(
      name === ENTRY.header ? 'HEADER_TOO_LARGE' : 'MALFORMED_PACKAGE',
      `${name} is ${size} bytes; the limit is ${maxSize}`,
    );
  }
  if (exactSize !== undefined && size !== exactSize)
    throw new ModelsealError('MALFORMED_PACKAGE', `${name} is ${size} bytes; the header implies ${exactSize}`);
  return size;
}

/** One whole entry: its ustar header, its data and the zero padding to a block boundary. */
export function tarEntry(name: string, data: Uint8Array): Uint8Array {
  const b = new Uint8Array(TAR_BLOCK + padded(data.length));
  b.set(ustarHeader(name, data.length), 0);
  b.set(data, TAR_BLOCK);
  return b;
}

/**
 * The header region (docs/FORMAT.md §6): the header, the header signature and the zero reserve
 * that fills the region to exactly `regionBytes`. Undefined when the two no longer fit.
 */
export function headerRegion(
  headerBytes: Uint8Array,
  headerSignature: Uint8Array,
  regionBytes: number,
): Uint8Array | undefined {
  const reserve = reserveBytesFor(headerBytes.length, headerSignature.length, regionBytes);
  if (reserve < 0 || reserve > LIMITS.maxReserveBytes) return undefined;
  const region = new Uint8Array(regionBytes);
  const h = tarEntry(ENTRY.header, headerBytes);
  const s = tarEntry(ENTRY.headerSignature, headerSignature);
  region.set(h, 0);
  region.set(s, h.length);
  region.set(ustarHeader(ENTRY.reserve, reserve), h.length + s.length);
  return region;
}
