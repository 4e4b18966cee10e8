/**
 * `pull`: a sealed package from an OCI registry to a file, in constant memory: the manifest resolved
 * (a digest reference checked byte for byte), the package layer streamed to a resumable partial file
 * and checked against its digest, the package verified against the trusted publishers, then renamed.
 */
import { rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { ModelsealError } from '../../errors.js';
import { pathExists } from '../../io/atomic.js';
import { commitOutput } from '../../package/common.js';
import { verifyPackage, type VerifyPackageResult } from '../../package/verify.js';
import { MEDIA_MANIFEST, OciClient, type Descriptor, type FetchedManifest, type TransferProgress } from './client.js';
import type { OciOptions } from './http.js';
import { MEDIA_SEALED_LAYER } from './modelpack.js';
import { formatReference, parseReference, type OciReference } from './reference.js';

/** What `pull` takes beyond the reference and the output. */
export interface PullOptions extends OciOptions {
  /** Publisher keys the package must be signed by; verification is skipped only when this is null. */
  trustedPublishers: readonly Uint8Array[] | null;
  force?: boolean;
  threads?: number;
  onProgress?: TransferProgress;
  onVerifyProgress?: (done: number, total: number) => void;
}

/** What a pull did. */
export interface PullResult {
  /** The manifest pulled: "oci://registry/repo@sha256:…". */
  reference: string;
  tag: string | null;
  manifestDigest: string;
  packageDigest: string;
  packageBytes: number;
  output: string;
  /** Bytes that were already on disk from an interrupted pull. */
  resumedFrom: number;
  verified: VerifyPackageResult | null;
}

/** Resolves a reference to its manifest (by digest when one is given) and the package layer it carries. */
export async function resolvePackage(
  client: OciClient,
  ref: OciReference,
): Promise<{ manifest: FetchedManifest; layer: Descriptor }> {
  const manifest = await client.getManifest(ref.digest ?? ref.tag ?? 'latest');
  const mt = manifest.json.mediaType ?? manifest.mediaType;
  if (mt !== MEDIA_MANIFEST && mt !== 'application/vnd.docker.distribution.manifest.v2+json')
    throw new ModelsealError(
      'REGISTRY_ERROR',
      `${formatReference(ref)} is a ${mt}, not an artifact manifest; name the manifest of the package itself`,
    );
  const layers = manifest.json.layers ?? [];
  // Ours carry the sealed media type; a file pushed by other tools (`oras push f.mseal`) is its only layer.
  const layer = layers.find((l) => l.mediaType === MEDIA_SEALED_LAYER) ?? (layers.length === 1 ? layers[0] : undefined);
  if (!layer || !/^sha256:[a-f0-9]{64}$/.test(layer.digest) || !Number.isSafeInteger(layer.size))
    throw new ModelsealError(
      'REGISTRY_NOT_FOUND',
      `${formatReference(ref)} holds no sealed package layer (${MEDIA_SEALED_LAYER}); push it with modelseal push`,
    );
  return { manifest, layer };
}

/** The partial file of a pull: stable across runs (named by the blob digest), so a new run resumes it. */
export function pullPartialPath(output: string, digest: string): string {
  return join(dirname(resolve(output)), `.${basename(output)}.${digest.slice(7, 23)}.oci-partial`);
}

/** Pulls the package `refText` names to `output`; verified before it is renamed into place. */
export async function pullPackage(refText: string, output: string, o: PullOptions): Promise<PullResult> {
  const ref = parseReference(refText);
  if (!o.force && (await pathExists(output)))
    throw new ModelsealError('OUTPUT_EXISTS', `${output} already exists; choose another output or pass --force`);
  const client = new OciClient(ref, o);
  const { manifest, layer } = await resolvePackage(client, ref);
  const partial = pullPartialPath(output, layer.digest);
  const { size: resumedFrom } = await stat(partial).catch(() => ({ size: 0 }));
  await client.downloadBlob(layer, partial, o.onProgress);
  let verified: VerifyPackageResult | null = null;
  try {
    if (o.trustedPublishers)
      verified = await verifyPackage(partial, {
        trustedPublishers: o.trustedPublishers,
        ...(o.threads !== undefined ? { threads: o.threads } : {}),
        ...(o.onVerifyProgress ? { onProgress: (p) => o.onVerifyProgress!(p.done, p.total) } : {}),
        ...(o.signal ? { signal: o.signal } : {}),
      });
    await commitOutput(partial, output, o.force ?? false);
  } catch (e) {
    // Not kept for a resume: its bytes matched the digest, so they are what was pushed, and that does not verify.
    if (!(e instanceof ModelsealError && e.code === 'OUTPUT_EXISTS')) await rm(partial, { force: true });
    throw e;
  }
  return {
    reference: formatReference({ ...ref, tag: null, digest: manifest.digest }),
    tag: ref.digest ? null : (ref.tag ?? 'latest'),
    manifestDigest: manifest.digest,
    packageDigest: layer.digest,
    packageBytes: layer.size,
    output,
    resumedFrom,
    verified,
  };
}
