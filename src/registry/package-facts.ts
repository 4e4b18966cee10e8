/**
 * What a registry records of a sealed package file: its digest, the model it holds, its
 * classification, its release service and publisher, read from the signed header (no key needed).
 * The same facts `ociPackageInfo` reads from an OCI manifest, for a package on disk.
 */
import { createHash } from 'node:crypto';
import { open as openFile } from 'node:fs/promises';
import { toHex } from '../format/encoding.js';
import { ioError } from '../io/atomic.js';
import { classificationSummary } from '../package/classification.js';
import { readHead } from '../package/head.js';
import { signerId } from '../package/walk.js';
import { RELEASE } from '../release/stanza.js';

/** A sealed package as the registries describe it. */
export interface SealedPackageFacts {
  /** The package id (hex), as its export log entries name it. */
  packageId: string;
  /** SHA-256 of the package file, "sha256:<hex>". */
  packageDigest: string;
  /** The package file's size in bytes. */
  packageBytes: number;
  /** The model's name and root digest ("sha256:<hex>"). */
  modelName: string;
  modelDigest: string;
  /** The US-EAR classification the header binds ("" when none or unclassified). */
  classification: string;
  /** Whether the package was sealed with a classification record at all. */
  classified: boolean;
  /** The release service URL a recipient asks for the key (the first release stanza's), or null. */
  releaseUrl: string | null;
  /** The publisher key id, "sha256:<hex of its SPKI>". */
  publisher: string;
  /** The publisher key (SPKI DER), as the package's trailer carries it: informative, not a trust anchor. */
  publisherSpki: Uint8Array;
  /** The recipients the package is sealed for, with their licenses. */
  recipients: { type: string; recipient: string; license: string }[];
}

/** SHA-256 of a file ("sha256:<hex>"), read through one reused buffer. */
export async function fileDigest(path: string): Promise<string> {
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(4 << 20);
  try {
    const fh = await openFile(path, 'r');
    try {
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        h.update(buf.subarray(0, bytesRead));
      }
    } finally {
      await fh.close();
    }
  } catch (cause) {
    throw ioError(`cannot read ${path}`, cause);
  }
  return `sha256:${h.digest('hex')}`;
}

/** The release service URL of the first release stanza that names one, or null. */
export function releaseUrlOf(stanzas: readonly { type: string; args: readonly string[] }[]): string | null {
  return stanzas.find((s) => s.type === RELEASE && s.args.length > 0)?.args[0] ?? null;
}

/** Reads the facts of the package at `path`: its structure and signatures are checked, the signer not trusted. */
export async function sealedPackageFacts(path: string): Promise<SealedPackageFacts> {
  const head = await readHead(path);
  const h = head.parsed.header;
  return {
    packageId: toHex(h.packageId),
    packageDigest: await fileDigest(path),
    packageBytes: head.fileSize,
    modelName: h.model.name,
    modelDigest: `sha256:${toHex(h.model.rootDigest)}`,
    classification: h.classification ? classificationSummary(h.classification).usEar : '',
    classified: h.classification !== undefined,
    releaseUrl: releaseUrlOf(h.stanzas),
    publisher: signerId(head.trailer.publicKey),
    publisherSpki: head.trailer.publicKey,
    recipients: h.stanzas.map((s) => ({ type: s.type, recipient: s.recipient, license: s.license })),
  };
}
