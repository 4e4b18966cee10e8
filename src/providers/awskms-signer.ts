/**
 * A publisher key in AWS KMS: an asymmetric ECC_NIST_P256 SIGN_VERIFY key signs packages (header
 * and trailer signatures, model.sig, registry records, export submissions) with KMS `Sign`,
 * ECDSA_SHA_256. KMS answers DER signatures, the form packages carry. Messages up to 4096 bytes go
 * as MessageType RAW (KMS hashes them); longer ones (a model.sig of many files) as their SHA-256,
 * MessageType DIGEST: the same signature either way.
 */
import { createHash } from 'node:crypto';
import { ModelsealError } from '../errors.js';
import { signerPublicKey, verifyMessage, type Signer } from '../crypto/signer.js';
import { AWS_KMS, kmsClient, kmsError, type AwsKmsOptions, type KmsClient } from './awskms-client.js';

/** KMS takes at most 4096 bytes of RAW message. */
const MAX_RAW = 4096;

export class AwsKmsSigner implements Signer {
  readonly algorithm = 'ecdsa-p256-sha256' as const;

  private constructor(
    /** The key as GetPublicKey names it: its ARN (AWS), or its id (some KMS-compatible services). */
    readonly keyId: string,
    readonly publicKey: Uint8Array,
    private readonly client: KmsClient,
  ) {}

  /**
   * Resolves a key id, ARN or alias with GetPublicKey and checks it is an ECC_NIST_P256 signing key
   * that offers ECDSA_SHA_256; the signer then names the key by its ARN.
   */
  static async resolve(key: string, opts: AwsKmsOptions = {}): Promise<AwsKmsSigner> {
    const client = await kmsClient(opts);
    let r: Awaited<ReturnType<KmsClient['getPublicKey']>>;
    try {
      r = await client.getPublicKey({ KeyId: key });
    } catch (e) {
      throw kmsError(e, 'GetPublicKey', key);
    }
    const arn = r.KeyId ?? key;
    const spec = r.KeySpec ?? r.CustomerMasterKeySpec;
    if (
      spec !== 'ECC_NIST_P256' ||
      r.KeyUsage !== 'SIGN_VERIFY' ||
      !(r.SigningAlgorithms ?? []).includes('ECDSA_SHA_256')
    ) {
      throw new ModelsealError(
        'INVALID_ARGUMENT',
        `AWS KMS key ${arn} is ${spec ?? 'of unknown spec'} for ${r.KeyUsage ?? 'unknown use'}; a publisher key is ` +
          `an ECC_NIST_P256 SIGN_VERIFY key (ECDSA_SHA_256)`,
        { details: { provider: AWS_KMS, key: arn } },
      );
    }
    if (!r.PublicKey?.length)
      throw new ModelsealError('PROVIDER_UNAVAILABLE', `AWS KMS GetPublicKey ${arn}: no public key returned`);
    const publicKey = new Uint8Array(r.PublicKey);
    signerPublicKey(publicKey, 'ecdsa-p256-sha256', `the public key of AWS KMS key ${arn}`);
    return new AwsKmsSigner(arn, publicKey, client);
  }

  /** DER ECDSA P-256 over SHA-256(message), made by KMS and checked against the key's public key. */
  async sign(message: Uint8Array): Promise<Uint8Array> {
    const raw = message.length <= MAX_RAW;
    let signature: Uint8Array | undefined;
    try {
      signature = (
        await this.client.sign({
          KeyId: this.keyId,
          Message: raw ? message : new Uint8Array(createHash('sha256').update(message).digest()),
          MessageType: raw ? 'RAW' : 'DIGEST',
          SigningAlgorithm: 'ECDSA_SHA_256',
        })
      ).Signature;
    } catch (e) {
      throw kmsError(e, 'Sign', this.keyId);
    }
    // A signature that does not verify would make a package no one can open: refuse it here.
    if (!signature || !verifyMessage(this.publicKey, message, signature))
      throw new ModelsealError(
        'PROVIDER_UNAVAILABLE',
        `AWS KMS Sign with ${this.keyId} returned no signature that verifies under the key's public key`,
        { details: { provider: AWS_KMS, key: this.keyId } },
      );
    return new Uint8Array(signature);
  }
}
