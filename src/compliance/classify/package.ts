/**
 * The classification record a sealed package carries: `seal` binds it into the signed header, so it
 * is read here without a key (the header signature is checked, as `inspect` does). The record is
 * returned as sealed: a newer rule pack never silently changes it.
 */
import { createHash } from 'node:crypto';
import { ModelsealError } from '../../errors.js';
import type { ClassificationRecord } from '../../format/classification.js';
import { toHex } from '../../format/encoding.js';
import type { Header } from '../../format/header.js';
import { readHead } from '../../package/head.js';

/** What names a sealed package in a datasheet. */
export interface PackageDigests {
  packageId: string;
  /** SHA-256 of the signed header bytes (the signature covers them). */
  headerDigest: string;
  /** The model's root digest as sealed (OMS root over every file). */
  modelRootDigest: string;
}

/** The record in a parsed header, or an UNCLASSIFIED_PACKAGE error naming the package. */
export function recordOfHeader(header: Header, path: string): ClassificationRecord {
  const record = (header as Header & { classification?: ClassificationRecord }).classification;
  if (record === undefined)
    throw new ModelsealError(
      'UNCLASSIFIED_PACKAGE',
      `${path} was sealed without a classification record: classify the checkpoint it was sealed from ` +
        '(`modelseal classify <checkpoint>`), and seal it again to bind the record',
      { details: { package: path } },
    );
  return record;
}

/** The classification record bound into the package at `path`, and the digests that name the package. */
export async function readPackageClassification(
  path: string,
): Promise<{ record: ClassificationRecord; digests: PackageDigests }> {
  const head = await readHead(path);
  const h = head.parsed.header;
  const record = recordOfHeader(h, path);
  return {
    record,
    digests: {
      packageId: toHex(h.packageId),
      headerDigest: `sha256:${createHash('sha256').update(head.headerBytes).digest('hex')}`,
      modelRootDigest: `sha256:${toHex(h.model.rootDigest)}`,
    },
  };
}
