/**
 * Edits of a sealed package's bytes for tests: a new header (forged, re-signed by another key, or
 * left with the old signature), a replaced entry. What an attacker could do with a package in hand.
 */
import { createHash } from 'node:crypto';
import { encodeHeader, parseHeader, type Header } from '../../src/format/header.js';
import { computeLayout, ENTRY, initialRegionBytes, padded, TAR_BLOCK } from '../../src/format/layout.js';
import { headerRegion, tarEntry } from '../../src/format/tar.js';
import {
  encodeHeaderSignature,
  encodeSignature,
  headerSignedMessage,
  signedMessage,
} from '../../src/format/signature.js';
import type { LocalSigner, Signer as KeySigner } from '../../src/crypto/signer.js';

/** A publisher (or any holder of a signer): `reheader` signs synchronously, so its key must be local. */
export interface Signer {
  signer: KeySigner;
}

/** Whether `s` holds its key in this process (what `localSigner` makes), so it can sign synchronously. */
function isLocal(s: KeySigner): s is LocalSigner {
  return 'signSync' in s && typeof s.signSync === 'function';
}

/** signPackage's two signatures (docs/FORMAT.md §7), made synchronously with a local key. */
function signPackageSync(publisher: Signer, headerBytes: Uint8Array, chunkList: Uint8Array) {
  const s = publisher.signer;
  if (!isLocal(s)) throw new Error('reheader signs with a local publisher key only');
  const sha256 = (b: Uint8Array) => new Uint8Array(createHash('sha256').update(b).digest());
  const [headerDigest, chunksDigest] = [sha256(headerBytes), sha256(chunkList)];
  return {
    headerSignature: encodeHeaderSignature({
      publicKey: s.publicKey,
      headerDigest,
      signature: s.signSync(headerSignedMessage(headerDigest)),
    }),
    trailer: encodeSignature({
      publicKey: s.publicKey,
      headerDigest,
      chunksDigest,
      signature: s.signSync(signedMessage(headerDigest, chunksDigest)),
    }),
  };
}

const sizeAt = (b: Uint8Array, at: number) =>
  parseInt(Buffer.from(b.subarray(at + 124, at + 135)).toString('latin1'), 8);

/** Offsets of the header region's entries, read from the tar blocks. */
export function regionOf(pkg: Uint8Array) {
  const headerSize = sizeAt(pkg, 0);
  const headerSigAt = TAR_BLOCK + padded(headerSize);
  const headerSigSize = sizeAt(pkg, headerSigAt);
  const reserveAt = headerSigAt + TAR_BLOCK + padded(headerSigSize);
  const regionBytes = reserveAt + TAR_BLOCK + padded(sizeAt(pkg, reserveAt));
  const headerBytes = pkg.subarray(TAR_BLOCK, TAR_BLOCK + headerSize);
  return {
    headerBytes,
    headerSigAt,
    headerSigSize,
    reserveAt,
    regionBytes,
    layout: computeLayout(parseHeader(headerBytes).header, regionBytes),
  };
}

/**
 * The package with its header replaced by `edit`'s, its MAC from `mac` (a publisher, who knows the
 * data key) or else the old one kept, and both signatures made again by `signer`, or with `signer`
 * undefined left as they were.
 */
export function reheader(
  pkg: Uint8Array,
  edit: (h: Header) => void,
  signer?: Signer,
  mac?: (h: Header) => Uint8Array,
): Buffer {
  const { headerBytes, headerSigAt, headerSigSize, regionBytes, layout } = regionOf(pkg);
  const parsed = parseHeader(headerBytes);
  edit(parsed.header);
  const newHeader = encodeHeader(parsed.header, mac?.(parsed.header) ?? parsed.mac);
  const chunkList = pkg.subarray(
    layout.chunksEntry.offset + TAR_BLOCK,
    layout.chunksEntry.offset + TAR_BLOCK + layout.chunksEntry.size,
  );
  const oldHeaderSig = pkg.subarray(headerSigAt + TAR_BLOCK, headerSigAt + TAR_BLOCK + headerSigSize);
  const signed = signer ? signPackageSync(signer, newHeader, chunkList) : undefined;
  const headerSig = signed?.headerSignature ?? oldHeaderSig;
  // A header that outgrew the region gets a larger one (what follows then moves: fine for a hostile package).
  const region =
    headerRegion(newHeader, headerSig, regionBytes) ??
    headerRegion(newHeader, headerSig, initialRegionBytes(newHeader.length))!;
  const body = pkg.subarray(regionBytes, signed ? layout.signatureOffset : pkg.length);
  if (!signed) return Buffer.concat([region, body]);
  return Buffer.concat([region, body, tarEntry(ENTRY.signature, signed.trailer), Buffer.alloc(2 * TAR_BLOCK)]);
}

/**
 * The package with entry data at `at` (its tar block) replaced by `data`, padding and later bytes
 * kept in place when the padded size allows.
 */
export function replaceEntry(pkg: Uint8Array, at: number, name: string, data: Uint8Array): Buffer {
  const oldSize = sizeAt(pkg, at);
  const entry = tarEntry(name, data);
  return Buffer.concat([pkg.subarray(0, at), entry, pkg.subarray(at + TAR_BLOCK + padded(oldSize))]);
}

/** Writes the tar checksum of the block at `at` the way ustarHeader does (after a field was edited). */
export function fixChecksum(b: Buffer, at: number): void {
  let sum = 0;
  for (let i = 0; i < TAR_BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : b[at + i]!;
  b.write(sum.toString(8).padStart(6, '0') + ' \0', at + 148, 'latin1');
}
