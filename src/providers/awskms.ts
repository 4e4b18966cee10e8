/**
 * `aws-kms`: the data key wrapped by an AWS KMS key (or any KMS-compatible service), with the
 * release context as the KMS EncryptionContext. KMS itself then refuses a stanza moved to another
 * package, recipient, license or policy, and records the context in CloudTrail. Decrypt always
 * names the key the stanza was made for; it never lets the ciphertext pick the key.
 *
 * Stanza: type "aws-kms", recipient "aws-kms:<key ARN>", args [key ARN], body = KMS CiphertextBlob.
 * Configuration is the AWS SDK's: region, credentials and profile from the environment and the
 * shared config files; `endpoint` (or AWS_ENDPOINT_URL_KMS) for KMS-compatible services; or a
 * `client` of the caller's (awskms-client.ts). The SDK is loaded only when a KMS key is used.
 */
import { ModelsealError } from '../errors.js';
import type { Stanza } from '../format/header.js';
import { releaseContextFields, type Identity, type Recipient, type ReleaseContext, type WrappedKey } from './types.js';
import { AWS_KMS, kmsClient, kmsError, sdkClient, type AwsKmsOptions, type KmsClient } from './awskms-client.js';

export { AWS_KMS, type AwsKmsOptions, type KmsClient } from './awskms-client.js';
const PREFIX = `${AWS_KMS}:`;

export class AwsKmsRecipient implements Recipient {
  readonly type = AWS_KMS;
  readonly id: string;

  private constructor(
    readonly keyArn: string,
    private readonly client: KmsClient,
  ) {
    this.id = PREFIX + keyArn;
  }

  /**
   * Resolves a key ARN, key id or alias (`alias/name`, or its ARN) to the key's ARN, and checks
   * that the key can encrypt: the stanza names the key itself, so an alias moved later does not
   * change which key a package needs.
   */
  static async resolve(key: string, opts: AwsKmsOptions = {}): Promise<AwsKmsRecipient> {
    const client = await kmsClient(opts);
    let meta;
    try {
      meta = (await client.describeKey({ KeyId: key })).KeyMetadata;
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
    try {
      const r = await this.client.encrypt({
        KeyId: this.keyArn,
        Plaintext: dataKey,
        EncryptionContext: releaseContextFields(context),
      });
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
  #client: Promise<KmsClient> | undefined;

  constructor(
    private readonly opts: AwsKmsOptions = {},
    /** Key ARNs this identity may use; default: any key the stanza names (KMS still checks your permissions). */
    private readonly allowed?: ReadonlySet<string>,
  ) {
    const at = opts.endpoint ? ` at ${opts.endpoint}` : '';
    const keys = allowed ? ` (keys ${[...allowed].join(', ')})` : '';
    this.description = `AWS KMS${at}${keys}`;
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
    const client = await (this.#client ??= kmsClient(this.opts));
    let plaintext: Uint8Array | undefined;
    try {
      // KeyId is always the stanza's key: KMS must not pick the key from the ciphertext.
      plaintext = (
        await client.decrypt({
          CiphertextBlob: stanza.body,
          KeyId: keyArn,
          EncryptionContext: releaseContextFields(context),
        })
      ).Plaintext;
    } catch (e) {
      throw kmsError(e, 'Decrypt', keyArn);
    }
    if (plaintext?.length !== 32)
      throw new ModelsealError('DECRYPTION_FAILED', `AWS KMS Decrypt with ${keyArn} returned no 32-byte data key`);
    return new Uint8Array(plaintext);
  }
}

/** Whether KMS answers with these settings: one ListKeys call, no retries, 5 s at most. */
export async function awsKmsStatus(opts: AwsKmsOptions): Promise<{ ok: boolean; detail: string }> {
  const client = await sdkClient({ ...opts, maxAttempts: 1 });
  try {
    const r = await client.listKeys({ Limit: 1 }, { abortSignal: AbortSignal.timeout(5000) });
    return {
      ok: true,
      detail: `answered (region ${await client.config.region()}${r.Keys?.length ? '' : ', no keys listed'})`,
    };
  } catch (e) {
    return { ok: false, detail: kmsError(e, 'ListKeys', '(any key)').message };
  }
}
