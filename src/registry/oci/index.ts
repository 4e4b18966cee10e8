/**
 * OCI registries (docs/REGISTRY.md): sealed packages pushed and pulled as CNCF ModelPack artifacts,
 * over a small distribution-spec client (client.ts, http.ts, auth.ts).
 */
import { OciClient } from './client.js';
import type { OciOptions } from './http.js';
import { ANNOTATIONS } from './modelpack.js';
import { resolvePackage } from './pull.js';
import { formatReference, parseReference } from './reference.js';
import { ModelsealError } from '../../errors.js';

export type { OciOptions } from './http.js';
export { parseReference, formatReference, isLoopback, type OciReference } from './reference.js';
export { pushPackage, type PushOptions, type PushResult } from './push.js';
export { pullPackage, pullPartialPath, type PullOptions, type PullResult } from './pull.js';
export { OciClient, fallbackTag, type Descriptor } from './client.js';
export { ANNOTATIONS as OCI_ANNOTATIONS, MEDIA_SEALED_LAYER, ARTIFACT_MODEL, MEDIA_MODEL_CONFIG } from './modelpack.js';

/** What a registry says of a sealed package it holds (read from its manifest's annotations and config). */
export interface RegistryPackageInfo {
  /** The reference resolved to its manifest digest: "oci://<registry>/<repo>@sha256:<hex>". */
  reference: string;
  /** SHA-256 of the package file, "sha256:<hex>" (the sealed layer's digest). */
  packageDigest: string;
  /** The model's root digest, "sha256:<hex>". */
  modelDigest: string;
  /** The US-EAR classification the package binds ("" when none). */
  classification: string;
  /** The release service URL a recipient asks for the key, or null. */
  releaseUrl: string | null;
  /** The publisher key id, "sha256:<hex of its SPKI>". */
  publisher: string;
}

/** The package a registry reference names, as its manifest describes it (nothing is downloaded but the manifest). */
export async function ociPackageInfo(ref: string, o: OciOptions = {}): Promise<RegistryPackageInfo> {
  const r = parseReference(ref);
  const { manifest, layer } = await resolvePackage(new OciClient(r, o), r);
  const a = manifest.json.annotations ?? {};
  const need = (k: string) => {
    const v = a[k];
    if (!v)
      throw new ModelsealError(
        'REGISTRY_ERROR',
        `${ref}: the manifest has no ${k} annotation; it was not pushed by modelseal push (push the package again)`,
      );
    return v;
  };
  if (need(ANNOTATIONS.packageDigest) !== layer.digest)
    throw new ModelsealError('REGISTRY_ERROR', `${ref}: the manifest's package digest is not its layer's digest`);
  return {
    reference: formatReference({ ...r, tag: null, digest: manifest.digest }),
    packageDigest: layer.digest,
    modelDigest: need(ANNOTATIONS.modelDigest),
    classification: a[ANNOTATIONS.classification] ?? '',
    releaseUrl: a[ANNOTATIONS.releaseUrl] ?? null,
    publisher: need(ANNOTATIONS.publisher),
  };
}
