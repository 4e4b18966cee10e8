/**
 * The stages of seal after the payload: the provenance (model.sig), the recipient stanzas, and the
 * package's tail — the provenance's chunks, the tar framing of every segment, the header region,
 * the chunk list and the publisher's signature — written around the payload already in place.
 */
import { createHash } from 'node:crypto';
import { ModelsealError } from '../errors.js';
import { encryptChunk } from '../crypto/chunk.js';
import { sealShares } from '../crypto/keygroups.js';
import type { KeySchedule } from '../crypto/keyschedule.js';
import type { Header, Stanza } from '../format/header.js';
import {
  chunkOffset,
  chunkPlainLength,
  ENTRY,
  packageSize,
  padded,
  segmentsOf,
  streamOf,
  TAR_BLOCK,
  type PackageLayout,
} from '../format/layout.js';
import { LIMITS } from '../format/limits.js';
import { headerRegion, tarEntry, ustarHeader } from '../format/tar.js';
import { utf8 } from '../format/encoding.js';
import { SIDECARS, type Inputs } from '../formats/checkpoint.js';
import { writeAllAt } from '../io/atomic.js';
import { signModel, type ManifestEntry } from '../provenance/oms.js';
import type { Recipient } from '../providers/types.js';
import type { Publisher } from '../keystore/keystore.js';
import { signPackage, stanzaBindings } from './common.js';

/** The provenance step: the OMS bundle (model.sig) over the sealed files, as it is stored in the package. */
export async function provenanceOf(
  inputs: Inputs,
  manifest: readonly ManifestEntry[],
  publisher: Publisher,
): Promise<Uint8Array> {
  const bundle = utf8.encode(
    await signModel({
      modelName: inputs.name,
      entries: manifest,
      ignorePaths: inputs.kind === 'folder' ? SIDECARS : [],
      singleFile: inputs.kind === 'file',
      signer: publisher.signer,
    }),
  );
  if (bundle.length > LIMITS.maxProvenanceBytes) {
    throw new ModelsealError(
      'TOO_MANY_FILES',
      `the provenance of ${inputs.files.length} files is ${bundle.length} bytes, over the ` +
        `${LIMITS.maxProvenanceBytes}-byte limit; seal fewer files per package`,
    );
  }
  return bundle;
}

/** Who the data key is wrapped for: recipients, or k-of-n key groups; and the terms bound to each. */
export interface Wrapping {
  recipients: readonly Recipient[];
  keyGroups?: { threshold: number; groups: readonly (readonly Recipient[])[] } | undefined;
  license: string;
  policy: string;
  terms?: ReadonlyMap<string, { license: string; policy: string }> | undefined;
}

/**
 * Sets the header's stanzas (and key-group shares). Without key groups every stanza wraps the data
 * key; with them, each wraps its group's key and the shares seal the data key.
 */
export async function wrapKeys(header: Header, w: Wrapping, dek: Uint8Array, keys: KeySchedule): Promise<void> {
  const kg = w.keyGroups;
  const wraps = kg
    ? kg.groups.flatMap((rs, g) => rs.map((r) => ({ r, group: g })))
    : w.recipients.map((r) => ({ r, group: undefined }));
  const stanzas: Stanza[] = [];
  for (const { r, group } of wraps) {
    const t = w.terms?.get(r.id) ?? { license: w.license, policy: w.policy };
    const bound = stanzaBindings(header, r.type);
    const ctx = {
      packageId: header.packageId,
      artifactDigest: header.model.rootDigest,
      recipient: r.id,
      ...t,
      ...bound,
    };
    const key = group === undefined ? dek : keys.groupKey(group);
    const wrapped = await r.wrapDataKey(key, ctx);
    if (group !== undefined) key.fill(0);
    stanzas.push({
      type: r.type,
      recipient: r.id,
      ...t,
      ...bound,
      ...(group !== undefined ? { group } : {}),
      args: wrapped.args,
      body: wrapped.body,
    });
  }
  if (kg)
    header.keyGroups = {
      threshold: kg.threshold,
      shares: await sealShares(dek, keys, header.packageId, kg.groups.length, kg.threshold),
    };
  header.stanzas = stanzas;
}

/** Everything the tail needs: the final layout and header, and the payload's chunk digests. */
export interface Tail {
  out: number;
  layout: PackageLayout;
  region: number;
  keys: KeySchedule;
  headerBytes: Uint8Array;
  provenance: Uint8Array;
  payloadDigests: Uint8Array;
  publisher: Publisher;
}

/** Writes the provenance, the framing, the header region, chunk list and signature; returns the package size. */
export async function writeTail(t: Tail): Promise<number> {
  const { layout, out } = t;
  const write = (data: Uint8Array, pos: number) => writeAllAt(out, data, pos);
  const chunkDigests = new Uint8Array(layout.totalChunks * 32);
  chunkDigests.set(t.payloadDigests);
  writeProvenance(t, chunkDigests);
  // Tar headers and padding around every segment, then the header region, chunk list and signature.
  for (const stream of layout.streams) {
    for (const seg of segmentsOf(stream)) {
      write(ustarHeader(seg.entryName, seg.size), seg.offset);
      write(new Uint8Array(padded(seg.size) - seg.size), seg.offset + TAR_BLOCK + seg.size);
    }
  }
  const signed = await signPackage(t.publisher.signer, t.headerBytes, chunkDigests);
  const regionBytes = headerRegion(t.headerBytes, signed.headerSignature, t.region);
  if (!regionBytes) throw new ModelsealError('INTERNAL', 'the header outgrew the region sized for it');
  write(regionBytes, 0);
  write(tarEntry(ENTRY.chunks, chunkDigests), layout.chunksEntry.offset);
  write(tarEntry(ENTRY.signature, signed.trailer), layout.signatureOffset);
  const size = packageSize(layout, signed.trailer.length);
  write(new Uint8Array(2 * TAR_BLOCK), size - 2 * TAR_BLOCK);
  return size;
}

/** The provenance's chunks, on this thread (at most 16 MiB), with their digests in the chunk list. */
function writeProvenance(t: Tail, chunkDigests: Uint8Array): void {
  const chunkSize = t.layout.chunkSize;
  const bundle = t.provenance;
  const prov = streamOf(t.layout, 0);
  for (const seg of segmentsOf(prov)) {
    const key = t.keys.payloadKey(0, seg.segment);
    for (let c = seg.firstChunk; c < seg.firstChunk + seg.chunkCount; c++) {
      const sealed = encryptChunk(
        key,
        c,
        c === prov.chunkCount - 1,
        bundle.subarray(c * chunkSize, c * chunkSize + chunkPlainLength(bundle.length, chunkSize, c)),
      );
      writeAllAt(t.out, sealed, chunkOffset(seg, chunkSize, c));
      chunkDigests.set(createHash('sha256').update(sealed).digest(), 32 * (prov.firstListedChunk + c));
    }
  }
}
