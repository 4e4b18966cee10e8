/**
 * `aws-kms`: the data key wrapped by an AWS KMS key (or any KMS-compatible service), with the
 * release context as the KMS EncryptionContext. KMS itself then refuses a stanza moved to another
 * package, recipient, license or policy, and records the context in CloudTrail. Decrypt always
 * names the key the stanza was made for; it never lets the ciphertext pick the key.
 *
 * Stanza: type "aws-kms", recipient "aws-kms:<key ARN>", args [key ARN], body = KMS CiphertextBlob.
 * Configuration is the AWS SDK's: region, credentials and profile from the environment and the
 * shared config files; `endpoint` (or AWS_ENDPOINT_URL_KMS) for KMS-compatible services. The SDK
 * is loaded only when a KMS key is used, so other commands do not pay for it.
 */
import type { KMSClient } from '@aws-sdk/client-kms';
import { ModelsealError } from '../errors.js';
import type { Stanza } from '../format/header.js';
import { releaseContextFields, type Identity, type Recipient, type ReleaseContext, type WrappedKey } from './types.js';

export const AWS_KMS = 'aws-kms';
const PREFIX = `${AWS_KMS}:`;

export interface AwsKmsOptions {
  /** KMS endpoint URL (KMS-compatible services, tests); default: the SDK's (AWS_ENDPOINT_URL_KMS, or AWS). */
  endpoint?: string;
  /** Region; default: the SDK's (AWS_REGION, the profile). */
  region?: string;
  /** Attempts per call, with the SDK's exponential backoff on throttling and transient errors. Default 8. */
  maxAttempts?: number;
}

let sdk: Promise<typeof import('@aws-sdk/client-kms')> | undefined;
function loadSdk(): Promise<typeof import('@aws-sdk/client-kms')> {
  // The SDK warns on Node 20 that its releases after January 2027 will need Node 22; package.json
  // pins a release that supports Node 20 (the project's Node, see README), so the warning is noise
  // on every command's stderr. This is the SDK's own switch for it.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  return (sdk ??= import('@aws-sdk/client-kms'));
}

async function clientFor(opts: AwsKmsOptions): Promise<KMSClient> {
  const { KMSClient } = await loadSdk();
  return new KMSClient({
    ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
    ...(opts.region ? { region: opts.region } : {}),
    maxAttempts: opts.maxAttempts ?? 8,
    retryMode: 'standard',
  });
}

interface AwsError {
  name?: string;
  message?: string;
  $metadata?: { requestId?: string; httpStatusCode?: number };
}

/** Maps an AWS SDK failure to a ModelsealError that says what happened and what to do. Never includes key material. */
function kmsError(e: unknown, op: string, keyArn: string): ModelsealError {
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
  switch (name) {
    case 'InvalidCiphertextException':
    case 'IncorrectKeyException':
      // The stanza does not decrypt under this key with this release context: tampered or moved.
      return new ModelsealError(
        'DECRYPTION_FAILED',
        `${what}: the stanza was not made for this package, recipient, license or policy`,
        { cause: e, details },
      );
    case 'AccessDeniedException':
      return new ModelsealError(
        'PROVIDER_UNAVAILABLE',
        `${what}: your AWS identity may not ${op} with this key; check the key policy and IAM permissions`,
        { cause: e, details },
      );
    case 'KMSInvalidStateException':
    case 'DisabledException':
      return new ModelsealError(
        'PROVIDER_UNAVAILABLE',
        `${what}: the key is disabled or pending deletion; enable it, or rewrap the package to another key`,
        { cause: e, details },
      );
    case 'NotFoundException':
      return new ModelsealError(
        'PROVIDER_UNAVAILABLE',
        `${what}: no such key in this account and region; check AWS_REGION and the key id`,
        { cause: e, details },
      );
    case 'ThrottlingException':
      return new ModelsealError(
        'PROVIDER_UNAVAILABLE',
        `${what}: still throttled after retries with backoff; try again later or raise the KMS request quota`,
        { cause: e, details },
      );
    default:
      if (/region is missing/i.test(a.message ?? '')) {
        return new ModelsealError(
          'PROVIDER_UNAVAILABLE',
          `AWS KMS ${op}: no AWS region configured; set AWS_REGION or a profile region`,
          { cause: e, details },
        );
      }
      if (/credential/i.test(`${name} ${a.message ?? ''}`)) {
        return new ModelsealError(
          'PROVIDER_UNAVAILABLE',
          `${what}: no usable AWS credentials; set them in the environment or ~/.aws (AWS_PROFILE)`,
          { cause: e, details },
        );
      }
      return new ModelsealError('PROVIDER_UNAVAILABLE', `${what}: ${a.message ?? 'the KMS service did not answer'}`, {
        cause: e,
        details,
      });
  }
}

export class AwsKmsRecipient implements Recipient {
  readonly type = AWS_KMS;
  readonly id: string;

  private constructor(
    readonly keyArn: string,
    private readonly client: KMSClient,
  ) {
    this.id = PREFIX + keyArn;
  }

  /**
   * Resolves a key ARN, key id or alias (`alias/name`, or its ARN) to the key's ARN, and checks
   * that the key can encrypt: the stanza names the key itself, so an alias moved later does not
   * change which key a package needs.
   */
  static async resolve(key: string, opts: AwsKmsOptions = {}): Promise<AwsKmsRecipient> {
    const client = await clientFor(opts);
    const { DescribeKeyCommand } = await loadSdk();
    let meta;
    try {
      meta = (await client.send(new DescribeKeyCommand({ KeyId: key }))).KeyMetadata;
    } catch (e) {
      throw kmsError(e, 'DescribeKey', key);
    }
    if (!meta?.Arn)
      throw new ModelsealError('PROVIDER_UNAVAILABLE', `AWS KMS DescribeKey ${key}: no key metadata returned`);
    if (meta.KeyState !== 'Enabled') {
      throw new ModelsealError(
        'PROVIDER_UNAVAILABLE',
        `AWS KMS key ${meta.Arn} is ${meta.KeyState}; enable it or choose another key`,
        { details: { provider: AWS_KMS, key: meta.Arn } },
      );
    }
    if (
      (meta.KeyUsage ?? 'ENCRYPT_DECRYPT') !== 'ENCRYPT_DECRYPT' ||
      (meta.KeySpec ?? 'SYMMETRIC_DEFAULT') !== 'SYMMETRIC_DEFAULT'
    ) {
      throw new ModelsealError(
        'INVALID_ARGUMENT',
        `AWS KMS key ${meta.Arn} is ${meta.KeySpec} for ${meta.KeyUsage}; a symmetric ENCRYPT_DECRYPT key is needed`,
      );
    }
    return new AwsKmsRecipient(meta.Arn, client);
  }

  async wrapDataKey(dataKey: Uint8Array, context: ReleaseContext): Promise<WrappedKey> {
    const { EncryptCommand } = await loadSdk();
    try {
      const r = await this.client.send(
        new EncryptCommand({
          KeyId: this.keyArn,
          Plaintext: dataKey,
          EncryptionContext: releaseContextFields(context),
        }),
      );
      if (!r.CiphertextBlob?.length) throw new Error('empty CiphertextBlob');
      return { args: [this.keyArn], body: new Uint8Array(r.CiphertextBlob) };
    } catch (e) {
      throw kmsError(e, 'Encrypt', this.keyArn);
    }
  }
}

/** Opens aws-kms stanzas with whatever AWS credentials the environment gives, optionally only for some keys. */
export class AwsKmsIdentity implements Identity {
  readonly description: string;
  #client: Promise<KMSClient> | undefined;

  constructor(
    private readonly opts: AwsKmsOptions = {},
    /** Key ARNs this identity may use; default: any key the stanza names (KMS still checks your permissions). */
    private readonly allowed?: ReadonlySet<string>,
  ) {
    this.description = `AWS KMS${opts.endpoint ? ` at ${opts.endpoint}` : ''}${allowed ? ` (keys ${[...allowed].join(', ')})` : ''}`;
  }

  async unwrapDataKey(stanza: Stanza, context: ReleaseContext): Promise<Uint8Array | null> {
    if (stanza.type !== AWS_KMS || !stanza.recipient.startsWith(PREFIX)) return null;
    const keyArn = stanza.recipient.slice(PREFIX.length);
    if (this.allowed && !this.allowed.has(keyArn)) return null;
    if (stanza.args.length !== 1 || stanza.args[0] !== keyArn) {
      throw new ModelsealError(
        'DECRYPTION_FAILED',
        'an aws-kms stanza names two different keys; the package was tampered with',
      );
    }
    const client = await (this.#client ??= clientFor(this.opts));
    const { DecryptCommand } = await loadSdk();
    let plaintext: Uint8Array | undefined;
    try {
      // KeyId is always the stanza's key: KMS must not pick the key from the ciphertext.
      plaintext = (
        await client.send(
          new DecryptCommand({
            CiphertextBlob: stanza.body,
            KeyId: keyArn,
            EncryptionContext: releaseContextFields(context),
          }),
        )
      ).Plaintext;
    } catch (e) {
      throw kmsError(e, 'Decrypt', keyArn);
    }
    if (!plaintext || plaintext.length !== 32)
      throw new ModelsealError('DECRYPTION_FAILED', `AWS KMS Decrypt with ${keyArn} returned no 32-byte data key`);
    return new Uint8Array(plaintext);
  }
}

/** Whether KMS answers with these settings: one ListKeys call, no retries, 5 s at most. */
export async function awsKmsStatus(opts: AwsKmsOptions): Promise<{ ok: boolean; detail: string }> {
  const client = await clientFor({ ...opts, maxAttempts: 1 });
  const { ListKeysCommand } = await loadSdk();
  try {
    const r = await client.send(new ListKeysCommand({ Limit: 1 }), { abortSignal: AbortSignal.timeout(5000) });
    return {
      ok: true,
      detail: `answered (region ${await client.config.region()}${r.Keys?.length ? '' : ', no keys listed'})`,
    };
  } catch (e) {
    return { ok: false, detail: kmsError(e, 'ListKeys', '(any key)').message };
  }
}
