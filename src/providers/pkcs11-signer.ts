/**
 * A signing key in an HSM (any PKCS#11 token): an EC P-256 private key signs packages with
 * CKM_ECDSA over a SHA-256 digest computed here (the token returns r ‖ s, turned into DER); an
 * Ed25519 key (CKK_EC_EDWARDS, CKM_EDDSA) signs log checkpoints. The public key is read from the
 * token's public key object with the same label (CKA_EC_PARAMS + CKA_EC_POINT → SPKI). As for
 * wrapping keys, a private key the token would let out (CKA_EXTRACTABLE true) is refused.
 */
import { createHash } from 'node:crypto';
import type * as Pkcs11Module from 'pkcs11js';
import { ModelsealError } from '../errors.js';
import { ecdsaRawToDer, signerPublicKey, type Signer, type SignerAlgorithm } from '../crypto/signer.js';
import { ModuleHandle, PKCS11, type Pkcs11Options, type TokenSession } from './pkcs11.js';

// PKCS#11 3.0 values pkcs11js does not name.
const CKK_EC_EDWARDS = 0x40;
const CKM_EDDSA = 0x1057;

const P256_OID = Buffer.from('06082a8648ce3d030107', 'hex');
const ED25519_OID = Buffer.from('06032b6570', 'hex');
/** PKCS#11 3.0 also lets a token name the curve: PrintableString "edwards25519" (SoftHSM2 does). */
const ED25519_NAME = Buffer.concat([Buffer.from([0x13, 12]), Buffer.from('edwards25519', 'latin1')]);
const SPKI_P256 = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');
const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex');

/** The point of CKA_EC_POINT: a DER OCTET STRING by the standard, the bare point on some tokens. */
function ecPoint(v: Buffer, size: number): Buffer {
  if (v.length === size) return v;
  if (v.length === size + 2 && v[0] === 0x04 && v[1] === size) return v.subarray(2);
  throw new Error(`CKA_EC_POINT of ${v.length} bytes, not a ${size}-byte point`);
}

/** SPKI DER of a token's EC public key, from its curve parameters and point. */
function spkiOf(params: Buffer, point: Buffer): { algorithm: SignerAlgorithm; spki: Uint8Array } {
  if (params.equals(P256_OID)) {
    const p = ecPoint(point, 65);
    if (p[0] !== 0x04) throw new Error('CKA_EC_POINT is not an uncompressed P-256 point');
    return { algorithm: 'ecdsa-p256-sha256', spki: new Uint8Array(Buffer.concat([SPKI_P256, p])) };
  }
  if (params.equals(ED25519_OID) || params.equals(ED25519_NAME))
    return { algorithm: 'ed25519', spki: new Uint8Array(Buffer.concat([SPKI_ED25519, ecPoint(point, 32)])) };
  throw new Error(`the key's curve (CKA_EC_PARAMS ${params.toString('hex')}) is neither P-256 nor Ed25519`);
}

const attrs = (token: TokenSession, session: Buffer, handle: Buffer, types: number[]): Buffer[] =>
  token.p
    .C_GetAttributeValue(
      session,
      handle,
      types.map((type) => ({ type })),
    )
    .map((a) => a.value);

/** The private key labelled `label`, checked to stay in the token and to be an EC or Ed25519 key. */
function privateKey(token: TokenSession, session: Buffer, label: string): Buffer {
  const { b } = token;
  const handle = token.findOne(session, b.CKO_PRIVATE_KEY, label, 'private key');
  const [extractable, keyType] = attrs(token, session, handle, [b.CKA_EXTRACTABLE, b.CKA_KEY_TYPE]);
  if (extractable?.[0] !== 0)
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `the signing key ${JSON.stringify(label)} on token ${token.token} can leave the HSM (CKA_EXTRACTABLE must be ` +
        `false); generate a non-extractable key`,
      { details: { provider: PKCS11, token: token.token, key: label } },
    );
  const type = keyType && keyType.length >= 4 ? keyType.readUInt32LE(0) : -1;
  if (type !== b.CKK_EC && type !== CKK_EC_EDWARDS)
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `the key ${JSON.stringify(label)} on token ${token.token} is not an EC (P-256) or Ed25519 key`,
    );
  return handle;
}

export class Pkcs11Signer implements Signer {
  private constructor(
    readonly algorithm: SignerAlgorithm,
    readonly publicKey: Uint8Array,
    /** `pkcs11:<token>/<label>`. */
    readonly keyId: string,
    private readonly token: TokenSession,
    private readonly label: string,
  ) {}

  /**
   * Opens the token and reads the key pair labelled `label`: a non-extractable private key and its
   * public key object (same label), P-256 or Ed25519.
   */
  static async open(tokenLabel: string, label: string, opts: Pkcs11Options): Promise<Pkcs11Signer> {
    const token = (await ModuleHandle.get(opts.module)).session(tokenLabel, opts.pin);
    const { algorithm, spki } = token.run(`reading signing key ${label}`, (s) => {
      privateKey(token, s, label);
      const pub = token.findOne(s, token.b.CKO_PUBLIC_KEY, label, 'public key');
      const [params, point] = attrs(token, s, pub, [token.b.CKA_EC_PARAMS, token.b.CKA_EC_POINT]);
      try {
        return spkiOf(params!, point!);
      } catch (e) {
        throw new ModelsealError(
          'INVALID_ARGUMENT',
          `the public key ${JSON.stringify(label)} on token ${tokenLabel}: ${(e as Error).message}`,
          { cause: e, details: { provider: PKCS11, token: tokenLabel, key: label } },
        );
      }
    });
    signerPublicKey(spki, algorithm, `the public key ${JSON.stringify(label)} on token ${tokenLabel}`);
    return new Pkcs11Signer(algorithm, spki, `${PKCS11}:${tokenLabel}/${label}`, token, label);
  }

  /** ECDSA: DER over SHA-256(message), the digest made here; Ed25519: the pure signature of `message`. */
  async sign(message: Uint8Array): Promise<Uint8Array> {
    const ed = this.algorithm === 'ed25519';
    const input = ed ? Buffer.from(message) : createHash('sha256').update(message).digest();
    const out = this.token.run(`signing with ${this.label}`, (s) => {
      const { p, b } = this.token;
      const mechanism: Pkcs11Module.Mechanism = { mechanism: ed ? CKM_EDDSA : b.CKM_ECDSA };
      p.C_SignInit(s, mechanism, privateKey(this.token, s, this.label));
      return p.C_Sign(s, input, Buffer.alloc(64));
    });
    if (out.length !== 64)
      throw new ModelsealError('PROVIDER_UNAVAILABLE', `token signature of ${out.length} bytes, not 64`, {
        details: { provider: PKCS11, key: this.keyId },
      });
    return ed ? new Uint8Array(out) : ecdsaRawToDer(out);
  }
}
