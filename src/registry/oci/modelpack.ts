/**
 * A sealed package as a CNCF ModelPack artifact (modelpack/model-spec, specs-go/v1): the manifest's
 * artifactType and config media type from the spec, the config filled from the package's signed
 * classification record, one sealed layer, and modelseal's annotations (docs/REGISTRY.md).
 */
import type { InspectResult } from '../../package/inspect.js';
import { MEDIA_MANIFEST, type Descriptor } from './client.js';

/** model-spec ArtifactTypeModelManifest. */
export const ARTIFACT_MODEL = 'application/vnd.cncf.model.manifest.v1+json';
/** model-spec MediaTypeModelConfig. */
export const MEDIA_MODEL_CONFIG = 'application/vnd.cncf.model.config.v1+json';
/**
 * The sealed layer: model-spec's raw weight type with the `+encrypted` suffix that ocicrypt gave the
 * ecosystem for "ciphertext of that type" — listed and copied as a weight layer, never unpacked as one.
 */
export const MEDIA_SEALED_LAYER = 'application/vnd.cncf.model.weight.v1.raw+encrypted';
/** The referrer carrying model.sig (a Sigstore bundle v0.3, the OpenSSF model-signing format). */
export const ARTIFACT_MODEL_SIG = 'application/vnd.dev.sigstore.bundle.v0.3+json';
/** The referrer carrying the export's log receipt (a C2SP tlog-proof). */
export const ARTIFACT_RECEIPT = 'application/vnd.dev.modelseal.receipt.v1';
/** OCI image-spec's empty descriptor, the config of artifacts that have none. */
export const EMPTY_CONFIG: Descriptor = {
  mediaType: 'application/vnd.oci.empty.v1+json',
  digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
  size: 2,
};

/** modelseal's manifest annotations (docs/REGISTRY.md, "Annotations"). */
export const ANNOTATIONS = {
  packageDigest: 'dev.modelseal.package.digest',
  packageId: 'dev.modelseal.package.id',
  modelDigest: 'dev.modelseal.model.digest',
  modelName: 'dev.modelseal.model.name',
  publisher: 'dev.modelseal.publisher',
  releaseUrl: 'dev.modelseal.release.url',
  classification: 'dev.modelseal.classification',
  format: 'dev.modelseal.format',
} as const;

/** "8.0B"-style paramSize (model-spec config): one decimal, a scale prefix. */
export function paramSize(n: number): string {
  const scales: [number, string][] = [
    [1e15, 'Q'],
    [1e12, 'T'],
    [1e9, 'B'],
    [1e6, 'M'],
    [1e3, 'K'],
  ];
  for (const [v, p] of scales) if (n >= v) return `${(n / v).toFixed(1)}${p}`;
  return String(n);
}

/** The architecture the classification record read from config.json (model_type, else architectures[0]). */
function architectureOf(a: Record<string, unknown> | null | undefined): string | undefined {
  if (!a) return undefined;
  if (typeof a.model_type === 'string') return a.model_type;
  const archs = a.architectures;
  return Array.isArray(archs) && typeof archs[0] === 'string' ? archs[0] : undefined;
}

/** The US-EAR classification of the record ("" when none). */
export function earClassification(info: InspectResult): string {
  return info.classification?.determinations.find((d) => d.regime === 'US-EAR')?.classification ?? '';
}

/** The ModelPack config of a package: what its signed classification record knows. */
export function modelConfig(info: InspectResult, packageDigest: string): Uint8Array {
  const facts = info.classification?.facts;
  const arch = architectureOf(facts?.architecture);
  const config = {
    descriptor: { createdAt: info.created, name: info.model.name },
    config: {
      ...(arch ? { architecture: arch } : {}),
      ...(facts ? { format: facts.format, paramSize: paramSize(facts.parameters) } : {}),
    },
    modelfs: { type: 'layers', diff_ids: [packageDigest] },
  };
  return new TextEncoder().encode(JSON.stringify(config));
}

/** What the manifest of a pushed package says of it. */
export interface ManifestFacts {
  info: InspectResult;
  packageDigest: string;
  fileName: string;
  releaseUrl: string | null;
  config: Descriptor;
  annotations: Record<string, string>;
}

/** The manifest annotations of a package (no secret: all of it is in the package's public header). */
export function packageAnnotations(
  f: Omit<ManifestFacts, 'config' | 'annotations' | 'fileName'>,
): Record<string, string> {
  const c = earClassification(f.info);
  return {
    'org.opencontainers.image.created': f.info.created,
    'org.opencontainers.image.title': f.info.model.name,
    [ANNOTATIONS.format]: f.info.format,
    [ANNOTATIONS.packageDigest]: f.packageDigest,
    [ANNOTATIONS.packageId]: f.info.packageId,
    [ANNOTATIONS.modelDigest]: f.info.model.rootDigest,
    [ANNOTATIONS.modelName]: f.info.model.name,
    [ANNOTATIONS.publisher]: f.info.signer,
    ...(f.releaseUrl ? { [ANNOTATIONS.releaseUrl]: f.releaseUrl } : {}),
    ...(c ? { [ANNOTATIONS.classification]: c } : {}),
  };
}

/** The artifact manifest: ModelPack artifactType and config, the sealed layer. */
export function packageManifest(f: ManifestFacts): Uint8Array {
  const layer: Descriptor = {
    mediaType: MEDIA_SEALED_LAYER,
    digest: f.packageDigest,
    size: f.info.packageBytes,
    annotations: { 'org.opencontainers.image.title': f.fileName, 'org.cncf.model.filepath': f.fileName },
  };
  const m = {
    schemaVersion: 2,
    mediaType: MEDIA_MANIFEST,
    artifactType: ARTIFACT_MODEL,
    config: { ...f.config, mediaType: MEDIA_MODEL_CONFIG },
    layers: [layer],
    annotations: { ...f.annotations },
  };
  return new TextEncoder().encode(JSON.stringify(m));
}

/** A referrer manifest: one file (model.sig, a receipt) about `subject`. */
export function referrerManifest(
  artifactType: string,
  file: Descriptor & { name: string },
  subject: Descriptor,
): Uint8Array {
  const m = {
    schemaVersion: 2,
    mediaType: MEDIA_MANIFEST,
    artifactType,
    config: EMPTY_CONFIG,
    layers: [
      {
        mediaType: file.mediaType,
        digest: file.digest,
        size: file.size,
        annotations: { 'org.opencontainers.image.title': file.name },
      },
    ],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations: { 'org.opencontainers.image.created': new Date().toISOString() },
  };
  return new TextEncoder().encode(JSON.stringify(m));
}
