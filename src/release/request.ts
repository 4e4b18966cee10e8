/**
 * The release request (docs/API.md): what a recipient asks the release service for, the canonical
 * bytes it signs, the request id, and signing and verifying them. No I/O here.
 */
import { constants, createHash, sign, verify, type KeyObject } from 'node:crypto';
import { canonicalJson } from '../log/events.js';
import type { StanzaJson } from './stanza.js';

/** The domain-separation line that starts the signed bytes of a request. */
export const PROTOCOL = 'modelseal/v1 release-request';

/** A request for the data key of one package (POST /v1/release). */
export interface ReleaseRequest {
  v: 1;
  /** Package id (hex) and model root digest ("sha256:…") from the package header. */
  package: string;
  artifact: string;
  /** The package's release stanza for this recipient. */
  stanza: StanzaJson;
  /** The recipient's ephemeral X25519 public key (base64url, 32 bytes): the data key comes back wrapped to it. */
  ephemeral: string;
  /** 16 random bytes (base64url): a request is accepted once. */
  nonce: string;
  /** When the request was made (ISO 8601): accepted within the service's clock skew. */
  time: string;
  /** Where the weights go (ISO 3166 alpha-2), as the recipient declares. */
  destination: string;
  /** The registered recipient making the request. */
  recipient: string;
}

/** A request and the recipient's signature over it, as sent. */
export interface SignedRequest {
  request: ReleaseRequest;
  /** Signature by the recipient's key over `requestBytes(request)` (base64). */
  signature: string;
}

/** The bytes a recipient signs: a domain-separation line, then the request as canonical JSON. */
export function requestBytes(r: ReleaseRequest): Buffer {
  return Buffer.from(`${PROTOCOL}\n${canonicalJson(r)}`, 'utf8');
}

/** The request id: the first 16 bytes of SHA-256 over the signed bytes, hex. */
export function requestId(r: ReleaseRequest, bytes = requestBytes(r)): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 32);
}

/** Signs with RSA-PSS (SHA-256), ECDSA (SHA-256) or Ed25519, by the key's type. */
export function signRequest(r: ReleaseRequest, key: KeyObject): string {
  return sign(algorithm(key), requestBytes(r), signingOptions(key)).toString('base64');
}

/** Whether `signature` is the signature of `key` over the request; false for any malformed input. */
export function verifyRequest(r: ReleaseRequest, signature: string, key: KeyObject, bytes = requestBytes(r)): boolean {
  try {
    return verify(algorithm(key), bytes, signingOptions(key), Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}

function algorithm(key: KeyObject): string | null {
  return key.asymmetricKeyType === 'ed25519' ? null : 'sha256';
}

function signingOptions(key: KeyObject) {
  return key.asymmetricKeyType === 'rsa' ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } : { key };
}
