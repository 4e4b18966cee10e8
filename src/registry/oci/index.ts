/**
 * OCI registries (docs/REGISTRY.md): sealed packages pushed and pulled as CNCF ModelPack artifacts.
 *
 * CONTRACT PLACEHOLDER: brief O replaces the body; the signature is what `mlflow register` uses.
 */
import { ModelsealError } from '../../errors.js';

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

/** Options of the OCI client that every command shares. */
export interface OciOptions {
  /** Speak plain HTTP: refused unless the registry is on a loopback address or this is set explicitly. */
  plainHttp?: boolean;
  /** The Docker config directory (default $DOCKER_CONFIG or ~/.docker). */
  dockerConfig?: string;
}

/** The package a registry reference names, as its manifest describes it (nothing is downloaded but the manifest). */
export function ociPackageInfo(_ref: string, _o: OciOptions = {}): Promise<RegistryPackageInfo> {
  return Promise.reject(new ModelsealError('INTERNAL', 'ociPackageInfo: not built yet'));
}
