/**
 * The key-provider contract (docs/FORMAT.md §Stanzas): a Recipient wraps the data key for one
 * licensed recipient under a release context; an Identity unwraps a stanza or says "not mine".
 * In the spirit of age's Recipient/Identity and the AWS Encryption SDK keyrings: sync or async,
 * so a KMS, an HSM or the release service fits without touching the format code.
 */
import type { ClassificationSummary } from '../format/classification-json.js';
import type { Stanza } from '../format/header.js';
import { toB64, toHex, utf8 } from '../format/encoding.js';

/** What a wrapped data key is bound to. Every stanza authenticates it (AEAD AAD, or a KMS EncryptionContext). */
export interface ReleaseContext {
  packageId: Uint8Array;
  /** The model root digest (SHA-256, the OMS subject digest). */
  artifactDigest: Uint8Array;
  recipient: string;
  license: string;
  policy: string;
  /**
   * The original model's root digest when the package holds a fingerprinted copy of it (a release
   * stanza's `model`); absent otherwise, and then not in the context's bytes (docs/FORMAT.md §5).
   */
  model?: Uint8Array;
  /**
   * The package's classification as its release stanza binds it; absent otherwise, and then not in
   * the context's bytes (docs/FORMAT.md §5).
   */
  classification?: ClassificationSummary;
}

export interface WrappedKey {
  args: string[];
  body: Uint8Array;
}

export interface Recipient {
  /** Stanza type this recipient writes, e.g. "x25519". */
  readonly type: string;
  /** Recipient id recorded in the stanza and bound into the release context. */
  readonly id: string;
  wrapDataKey(dataKey: Uint8Array, context: ReleaseContext): WrappedKey | Promise<WrappedKey>;
}

export interface Identity {
  /** Human description for messages ("local key 3f2a…", "x25519 identity keys/identity.x25519"). Never secret. */
  readonly description: string;
  /**
   * Returns the data key, or null when the stanza is not for this identity. Throws only when the
   * stanza is this identity's but cannot be unwrapped (tampered, wrong context).
   */
  unwrapDataKey(stanza: Stanza, context: ReleaseContext): Uint8Array | null | Promise<Uint8Array | null>;
}

/** Canonical bytes of a release context, used as AEAD additional data. */
export function releaseContextBytes(c: ReleaseContext): Uint8Array {
  return utf8.encode(`modelseal/v1 release-context\n${JSON.stringify(releaseContextFields(c))}`);
}

/** The release context as string pairs (the shape a KMS EncryptionContext takes). */
export function releaseContextFields(c: ReleaseContext): Record<string, string> {
  return {
    package: toB64(c.packageId),
    artifact: `sha256:${toHex(c.artifactDigest)}`,
    ...(c.model ? { model: `sha256:${toHex(c.model)}` } : {}),
    recipient: c.recipient,
    license: c.license,
    policy: c.policy,
    ...(c.classification ? classificationFields(c.classification) : {}),
  };
}

/** A classification summary as context pairs; empty values left out (a KMS context holds none), the keys say which. */
function classificationFields(c: ClassificationSummary): Record<string, string> {
  return {
    classification: c.record,
    ...(c.usEar ? { classificationUsEar: c.usEar } : {}),
    ...(c.rulePacks.length ? { classificationRulePacks: c.rulePacks.join(',') } : {}),
  };
}

/** The release context of `stanza` in the package of `header`. */
export function contextFor(
  header: { packageId: Uint8Array; model: { rootDigest: Uint8Array } },
  stanza: Pick<Stanza, 'recipient' | 'license' | 'policy' | 'model' | 'classification'>,
): ReleaseContext {
  return {
    packageId: header.packageId,
    artifactDigest: header.model.rootDigest,
    recipient: stanza.recipient,
    license: stanza.license,
    policy: stanza.policy,
    ...(stanza.model ? { model: stanza.model } : {}),
    ...(stanza.classification ? { classification: stanza.classification } : {}),
  };
}
