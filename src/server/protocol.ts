/**
 * The release protocol (docs/API.md): the request a recipient signs, and the re-wrapping of the
 * data key to the recipient's ephemeral X25519 key, bound to the request id. Shared by the client
 * (src/providers/release.ts) and the service (src/server/service.ts); no I/O here.
 */
import { constants, createHash, diffieHellman, hkdfSync, sign, verify, type KeyObject } from 'node:crypto';
import { ModelsealError } from '../errors.js';
import { fromB64, toB64, utf8 } from '../format/encoding.js';
import type { Stanza } from '../format/header.js';
import { signWith, type Signer } from '../crypto/signer.js';
import { canonicalJson, type ExportEvent } from '../log/events.js';
import { aeadUnwrap, aeadWrap } from '../providers/aead.js';
import { newX25519, x25519PublicFromRaw } from '../providers/x25519.js';

export const PROTOCOL = 'modelseal/v1 release-request';

/** A stanza as JSON: the body in base64. */
export interface StanzaJson {
  type: string;
  recipient: string;
  license: string;
  policy: string;
  args: string[];
  body: string;
}

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

export interface SignedRequest {
  request: ReleaseRequest;
  /** Signature by the recipient's key over `requestBytes(request)` (base64). */
  signature: string;
}

export function stanzaToJson(s: Stanza): StanzaJson {
  return {
    type: s.type,
    recipient: s.recipient,
    license: s.license,
    policy: s.policy,
    args: [...s.args],
    body: Buffer.from(s.body).toString('base64'),
  };
}

export function stanzaFromJson(s: StanzaJson): Stanza {
  return {
    type: s.type,
    recipient: s.recipient,
    license: s.license,
    policy: s.policy,
    args: [...s.args],
    body: new Uint8Array(Buffer.from(s.body, 'base64')),
  };
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

const RELEASE_INFO = 'modelseal/v1 release ';

function releaseKey(shared: Uint8Array, serverEph: Uint8Array, clientEph: Uint8Array, id: string): Uint8Array {
  if (shared.every((b) => b === 0))
    throw new ModelsealError('DECRYPTION_FAILED', 'the released key failed authentication');
  return new Uint8Array(
    hkdfSync('sha256', shared, Buffer.concat([serverEph, clientEph]), utf8.encode(RELEASE_INFO + id), 32),
  );
}

/** Service side: the data key wrapped to the client's ephemeral key, bound to the request id. */
export function wrapForRequester(
  dataKey: Uint8Array,
  clientEphemeral: string,
  id: string,
): { ephemeral: string; wrapped: string } {
  const client = fromB64(clientEphemeral, 'ephemeral key', 32);
  const eph = newX25519();
  eph.secret.fill(0);
  const serverRaw = eph.publicRaw;
  const shared = new Uint8Array(diffieHellman({ privateKey: eph.privateKey, publicKey: x25519PublicFromRaw(client) }));
  const key = releaseKey(shared, serverRaw, client, id);
  const wrapped = aeadWrap(key, dataKey, utf8.encode(id));
  key.fill(0);
  return { ephemeral: toB64(serverRaw), wrapped: Buffer.from(wrapped).toString('base64') };
}

/** Client side: a fresh ephemeral key pair for one request. */
export function newEphemeral(): { privateKey: KeyObject; public: string } {
  const { privateKey, secret, publicRaw } = newX25519();
  secret.fill(0);
  return { privateKey, public: toB64(publicRaw) };
}

/** Client side: the data key from the service's answer; null when it does not authenticate. */
export function unwrapFromService(
  answer: { ephemeral: string; wrapped: string },
  eph: { privateKey: KeyObject; public: string },
  id: string,
): Uint8Array | null {
  try {
    const serverRaw = fromB64(answer.ephemeral, 'service ephemeral key', 32);
    const shared = new Uint8Array(
      diffieHellman({ privateKey: eph.privateKey, publicKey: x25519PublicFromRaw(serverRaw) }),
    );
    const key = releaseKey(shared, serverRaw, fromB64(eph.public, 'ephemeral key', 32), id);
    const dek = aeadUnwrap(key, new Uint8Array(Buffer.from(answer.wrapped, 'base64')), utf8.encode(id));
    key.fill(0);
    return dek;
  } catch {
    return null;
  }
}

/** A publisher's export events, for `seal --log <service URL>`: signed by the publisher key. */
export interface ExportSubmission {
  events: ExportEvent[];
  /** The publisher's public key, SPKI DER in base64. */
  publisher: string;
  /** ECDSA P-256 / SHA-256 over `exportBytes(events)`, base64. */
  signature: string;
}

export function exportBytes(events: readonly ExportEvent[]): Buffer {
  return Buffer.from(`modelseal/v1 export\n${canonicalJson(events)}`, 'utf8');
}

/** The export events signed by the publisher's `signer` (ECDSA P-256). */
export async function signExports(events: ExportEvent[], signer: Signer): Promise<ExportSubmission> {
  return {
    events,
    publisher: Buffer.from(signer.publicKey).toString('base64'),
    signature: Buffer.from(await signWith(signer, 'ecdsa-p256-sha256', exportBytes(events))).toString('base64'),
  };
}
