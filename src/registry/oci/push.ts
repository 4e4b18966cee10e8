/** `push`: a sealed package to an OCI registry as a ModelPack artifact, with model.sig and the receipt as referrers. */
import { open as openFile, readFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { ModelsealError } from '../../errors.js';
import { ioError } from '../../io/atomic.js';
import { readHead } from '../../package/head.js';
import { inspect } from '../../package/inspect.js';
import { OciClient, sha256Digest, type Descriptor, type TransferProgress } from './client.js';
import type { OciOptions } from './http.js';
import {
  ARTIFACT_MODEL_SIG,
  ARTIFACT_RECEIPT,
  modelConfig,
  packageAnnotations,
  packageManifest,
  referrerManifest,
} from './modelpack.js';
import { formatReference, parseReference } from './reference.js';
import { fileDigest, releaseUrlOf } from '../package-facts.js';

/** What `push` takes beyond the package and the reference. */
export interface PushOptions extends OciOptions {
  /** Extra manifest annotations (`--annotation k=v`); they cannot replace modelseal's own. */
  annotations?: Record<string, string>;
  /** A model.sig (OMS bundle) to attach as a referrer, e.g. from an earlier `open`. */
  signature?: string;
  /** The export's log receipt (.tlog-proof) to attach as a referrer. */
  receipt?: string;
  /** Repository of the same registry to mount the package blob from (no upload when it is there). */
  mountFrom?: string;
  onProgress?: TransferProgress;
}

/** What a push did. */
export interface PushResult {
  /** The pushed manifest: "oci://registry/repo@sha256:…". */
  reference: string;
  tag: string | null;
  manifestDigest: string;
  packageDigest: string;
  packageBytes: number;
  /** How the package blob got there. */
  blob: 'exists' | 'mounted' | 'uploaded';
  referrers: { artifactType: string; digest: string; file: string }[];
  annotations: Record<string, string>;
}

/** Pushes `pkg` to `refText` (`oci://host/repo[:tag]`; default tag "latest"); returns the manifest digest. */
export async function pushPackage(pkg: string, refText: string, o: PushOptions = {}): Promise<PushResult> {
  const ref = parseReference(refText);
  if (ref.digest) throw new ModelsealError('INVALID_ARGUMENT', `${refText}: push to a tag, not a digest`);
  const tag = ref.tag ?? 'latest';
  const info = await inspect(pkg); // structure and signatures checked (not the signer's trust)
  const head = await readHead(pkg);
  const packageDigest = await fileDigest(pkg);
  const size = (await stat(pkg)).size;
  const client = new OciClient(ref, o);
  const fh = await openFile(pkg, 'r');
  let blob: PushResult['blob'];
  try {
    const read = async (pos: number, buf: Uint8Array) => (await fh.read(buf, 0, buf.length, pos)).bytesRead;
    blob = await client.putBlob(packageDigest, size, read, {
      ...(o.mountFrom ? { mountFrom: o.mountFrom } : {}),
      ...(o.onProgress ? { onProgress: o.onProgress } : {}),
    });
  } finally {
    await fh.close();
  }
  const config = await client.putBytes(modelConfig(info, packageDigest));
  const releaseUrl = releaseUrlOf(head.parsed.header.stanzas);
  const own = packageAnnotations({ info, packageDigest, releaseUrl });
  const annotations = { ...o.annotations, ...own };
  const manifest = packageManifest({
    info,
    packageDigest,
    fileName: basename(pkg),
    releaseUrl,
    config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
    annotations,
  });
  const { digest } = await client.putManifest(tag, manifest);
  const subject: Descriptor = {
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest,
    size: manifest.length,
  };
  const referrers = await pushReferrers(client, subject, o);
  return {
    reference: formatReference({ ...ref, tag: null, digest }),
    tag,
    manifestDigest: digest,
    packageDigest,
    packageBytes: size,
    blob,
    referrers,
    annotations,
  };
}

/** Attaches model.sig and the receipt (when given) to the manifest `subject`. */
async function pushReferrers(client: OciClient, subject: Descriptor, o: PushOptions): Promise<PushResult['referrers']> {
  const out: PushResult['referrers'] = [];
  const files: [string | undefined, string, string][] = [
    [o.signature, ARTIFACT_MODEL_SIG, ARTIFACT_MODEL_SIG],
    [o.receipt, ARTIFACT_RECEIPT, 'application/vnd.dev.modelseal.receipt.v1+tlog-proof'],
  ];
  if (files.some(([f]) => f)) await client.putBytes(new TextEncoder().encode('{}')); // the empty config
  for (const [file, artifactType, mediaType] of files) {
    if (!file) continue;
    let bytes: Uint8Array;
    try {
      bytes = await readFile(file);
    } catch (cause) {
      throw ioError(`cannot read ${file}`, cause);
    }
    const blob = await client.putBytes(bytes);
    const m = referrerManifest(artifactType, { ...blob, mediaType, name: basename(file) }, subject);
    const d = {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: sha256Digest(m),
      size: m.length,
      artifactType,
    };
    out.push({ artifactType, digest: await client.putReferrer(m, d, subject.digest), file });
  }
  return out;
}
