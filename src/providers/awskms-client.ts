/**
 * The AWS KMS client the aws-kms provider, signer and grants talk to: a small interface of the KMS
 * calls modelseal makes (the SDK's aggregated `KMS` class fits it as is), so a caller can pass its
 * own configured client, a KMS-compatible service's or an in-process one for tests. By default the
 * SDK client is built from the environment; the SDK is loaded only when a KMS key is used.
 */
import type * as KmsSdk from '@aws-sdk/client-kms';
import { ModelsealError } from '../errors.js';

/** Called AWS's way (PascalCase fields). Only what modelseal sends and reads is declared. */
export interface KmsClient {
  describeKey(input: { KeyId: string }): Promise<{
    KeyMetadata?: { Arn?: string; KeyState?: string; KeyUsage?: string; KeySpec?: string };
  }>;
  encrypt(input: {
    KeyId: string;
    Plaintext: Uint8Array;
    EncryptionContext: Record<string, string>;
  }): Promise<{ CiphertextBlob?: Uint8Array }>;
  decrypt(input: {
    KeyId: string;
    CiphertextBlob: Uint8Array;
    EncryptionContext: Record<string, string>;
  }): Promise<{ Plaintext?: Uint8Array }>;
  getPublicKey(input: { KeyId: string }): Promise<{
    KeyId?: string;
    PublicKey?: Uint8Array;
    KeySpec?: string;
    /** The older name of KeySpec, which AWS still sends (and some KMS-compatible services alone). */
    CustomerMasterKeySpec?: string;
    KeyUsage?: string;
    SigningAlgorithms?: string[];
  }>;
  sign(input: {
    KeyId: string;
    Message: Uint8Array;
    MessageType: 'RAW' | 'DIGEST';
    SigningAlgorithm: 'ECDSA_SHA_256';
  }): Promise<{ Signature?: Uint8Array }>;
  /**
   * `kms grant`: a grant that lets one principal use the key only with one exact EncryptionContext.
   * The three grant calls are optional: a client without them cannot make grants.
   */
  createGrant?(input: {
    KeyId: string;
    GranteePrincipal: string;
    Operations: KmsGrantOperation[];
    Constraints: { EncryptionContextEquals: Record<string, string> };
    Name: string;
  }): Promise<{ GrantId?: string; GrantToken?: string }>;
  listGrants?(input: { KeyId: string; GrantId?: string; Marker?: string; Limit?: number }): Promise<{
    Grants?: {
      GrantId?: string;
      Name?: string;
      GranteePrincipal?: string;
      Operations?: string[];
      Constraints?: {
        EncryptionContextEquals?: Record<string, string>;
        EncryptionContextSubset?: Record<string, string>;
      };
    }[];
    NextMarker?: string;
    Truncated?: boolean;
  }>;
  revokeGrant?(input: { KeyId: string; GrantId: string }): Promise<unknown>;
}

/** The grant operations `kms grant` may give (a package's data key only ever needs Decrypt). */
export const KMS_GRANT_OPERATIONS = ['Decrypt', 'DescribeKey'] as const;
export type KmsGrantOperation = (typeof KMS_GRANT_OPERATIONS)[number];

export interface AwsKmsOptions {
  /** KMS endpoint URL (KMS-compatible services, tests); default: the SDK's (AWS_ENDPOINT_URL_KMS, or AWS). */
  endpoint?: string;
  /** Region; default: the SDK's (AWS_REGION, the profile). */
  region?: string;
  /** Attempts per call, with the SDK's exponential backoff on throttling and transient errors. Default 8. */
  maxAttempts?: number;
  /** The client to call; default: an SDK client built from the settings above and the environment. */
  client?: KmsClient;
}

export const AWS_KMS = 'aws-kms';

let sdk: Promise<typeof KmsSdk> | undefined;
/** The AWS SDK's KMS module, loaded on first use. */
export function loadSdk(): Promise<typeof KmsSdk> {
  // The SDK warns on Node 20 that its releases after January 2027 will need Node 22; package.json
  // pins a release that supports Node 20 (the project's Node, see README), so the warning is noise
  // on every command's stderr. This is the SDK's own switch for it.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  return (sdk ??= import('@aws-sdk/client-kms'));
}

/** The SDK's client for these settings (with `config`, which `awsKmsStatus` reads). */
export async function sdkClient(opts: AwsKmsOptions): Promise<KmsSdk.KMS> {
  const { KMS } = await loadSdk();
  return new KMS({
    ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
    ...(opts.region ? { region: opts.region } : {}),
    maxAttempts: opts.maxAttempts ?? 8,
    retryMode: 'standard',
  });
}

/** `opts.client`, or the SDK's client for the settings. */
export async function kmsClient(opts: AwsKmsOptions): Promise<KmsClient> {
  return opts.client ?? (await sdkClient(opts));
}

interface AwsError {
  name?: string;
  message?: string;
  $metadata?: { requestId?: string; httpStatusCode?: number };
}

/** Maps an AWS SDK failure to a ModelsealError that says what happened and what to do. Never includes key material. */
export function kmsError(e: unknown, op: string, keyArn: string): ModelsealError {
  const a = (e ?? {}) as AwsError;
  const name = a.name ?? 'Error';
  const rid = a.$metadata?.requestId ? `, request id ${a.$metadata.requestId}` : '';
  const what = `AWS KMS ${op} with ${keyArn} failed (${name}${rid})`;
  const details = {
    provider: AWS_KMS,
    key: keyArn,
    awsError: name,
    ...(a.$metadata?.requestId ? { requestId: a.$metadata.requestId } : {}),
  };
  const fail = (code: 'DECRYPTION_FAILED' | 'PROVIDER_UNAVAILABLE', message: string) =>
    new ModelsealError(code, message, { cause: e, details });
  switch (name) {
    case 'InvalidCiphertextException':
    case 'IncorrectKeyException':
      // The stanza does not decrypt under this key with this release context: tampered or moved.
      return fail(
        'DECRYPTION_FAILED',
        `${what}: the stanza was not made for this package, recipient, license or policy`,
      );
    case 'AccessDeniedException':
      return fail(
        'PROVIDER_UNAVAILABLE',
        `${what}: your AWS identity may not ${op} with this key; check the key policy and IAM permissions`,
      );
    case 'KMSInvalidStateException':
    case 'DisabledException':
      return fail(
        'PROVIDER_UNAVAILABLE',
        `${what}: the key is disabled or pending deletion; enable it, or rewrap the package to another key`,
      );
    case 'NotFoundException':
      return fail(
        'PROVIDER_UNAVAILABLE',
        `${what}: no such key in this account and region; check AWS_REGION and the key id`,
      );
    case 'ThrottlingException':
      return fail(
        'PROVIDER_UNAVAILABLE',
        `${what}: still throttled after retries with backoff; try again later or raise the KMS request quota`,
      );
    default:
      if (/region is missing/i.test(a.message ?? ''))
        return fail(
          'PROVIDER_UNAVAILABLE',
          `AWS KMS ${op}: no AWS region configured; set AWS_REGION or a profile region`,
        );
      if (/credential/i.test(`${name} ${a.message ?? ''}`))
        return fail(
          'PROVIDER_UNAVAILABLE',
          `${what}: no usable AWS credentials; set them in the environment or ~/.aws (AWS_PROFILE)`,
        );
      return fail('PROVIDER_UNAVAILABLE', `${what}: ${a.message ?? 'the KMS service did not answer'}`);
  }
}
