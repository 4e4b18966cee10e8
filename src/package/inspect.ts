/** `inspect`: what a package holds, read from its header and trailer; no key needed. */
import type { ClassificationRecord } from '../format/classification.js';
import { toHex } from '../format/encoding.js';
import { streamOf } from '../format/layout.js';
import { readHead } from './head.js';
import { signerId } from './walk.js';
import { recipientSummary, type RecipientSummary } from './common.js';

export interface InspectResult {
  format: 'modelseal/v1';
  packageId: string;
  created: string;
  model: { name: string; kind: 'file' | 'folder'; rootDigest: string };
  chunkSize: number;
  files: { path: string; size: number; mode: string; chunks: number }[];
  recipients: RecipientSummary[];
  /** k-of-n custody: opening needs recipients of `threshold` of the `groups` key groups. */
  keyGroups?: { threshold: number; groups: number };
  /** The fingerprint the weights carry, as the signed header names it. */
  fingerprint?: {
    id: string;
    recipient: string;
    keyId: string;
    scheme: string;
    params: { support: number; c: number };
    original: string;
  };
  /** What the checkpoint is under export rules, as the signed header records it (docs/FORMAT.md §Classification). */
  classification?: ClassificationRecord;
  signer: string;
  plaintextBytes: number;
  packageBytes: number;
  headerRegionBytes: number;
  /** Whether the signature covers this header and chunk list (the signer's trust is a separate question). */
  signatureValid: true;
}

/** Reads a package's header and signatures (checked, not trusted) and describes it; needs no key. */
export async function inspect(path: string): Promise<InspectResult> {
  const head = await readHead(path);
  const h = head.parsed.header;
  return {
    format: 'modelseal/v1',
    packageId: toHex(h.packageId),
    created: h.created,
    model: { name: h.model.name, kind: h.model.kind, rootDigest: `sha256:${toHex(h.model.rootDigest)}` },
    chunkSize: h.chunkSize,
    files: h.files.map((f, i) => ({
      path: f.path,
      size: f.size,
      mode: f.mode.toString(8),
      chunks: streamOf(head.layout, i + 1).chunkCount,
    })),
    recipients: h.stanzas.map(recipientSummary),
    ...(h.keyGroups ? { keyGroups: { threshold: h.keyGroups.threshold, groups: h.keyGroups.shares.length } } : {}),
    ...(h.fingerprint
      ? { fingerprint: { ...h.fingerprint, original: `sha256:${toHex(h.fingerprint.original)}` } }
      : {}),
    ...(h.classification ? { classification: h.classification } : {}),
    signer: signerId(head.trailer.publicKey),
    plaintextBytes: h.files.reduce((a, f) => a + f.size, 0),
    packageBytes: head.fileSize,
    headerRegionBytes: head.layout.regionBytes,
    signatureValid: true,
  };
}

/**
 * The classification record the package at `path` binds in its signed header (the signature is
 * checked, the signer not trusted), or null for a package sealed without one. Needs no key.
 */
export async function readClassification(path: string): Promise<ClassificationRecord | null> {
  return (await readHead(path)).parsed.header.classification ?? null;
}
