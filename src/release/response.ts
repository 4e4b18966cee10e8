/**
 * The release service's answers (docs/API.md): its info, and the decision with the data key
 * re-wrapped to the requester's ephemeral X25519 key, bound to the request id. No I/O here.
 */
import { diffieHellman, hkdfSync, type KeyObject } from 'node:crypto';
import { ModelsealError } from '../errors.js';
import { fromB64, toB64, utf8 } from '../format/encoding.js';
import { aeadUnwrap, aeadWrap } from '../crypto/aead.js';
import { newX25519, x25519PublicFromRaw } from '../crypto/x25519.js';

/** GET /v1/info. */
export interface ServiceInfo {
  origin: string;
  logKey: string;
  /** The recipient string of the service's own key: packages for it are wrapped to this. */
  wrap: string;
  /** The policy-set hash in force. */
  policySet: string;
  /** Whether the policy files on disk validate ("invalid": the last good set, `policySet`, stays in force). */
  policy?: { status: 'ok' | 'invalid'; since: string; error?: string };
  /** With `serve --retain`: whether every record the period's log entries rest on is kept (docs/SERVER.md). */
  retention?: RetentionStatus;
}

/** A record the period's entries rest on that is not kept (or is damaged). */
export interface MissingRecord {
  kind: 'policy-set' | 'snapshot' | 'recipient';
  /** As logged: a policy-set hash, "<source>@sha256:<hex>", a recipient name or pseudonym. */
  id: string;
  /** The first entry (index) of the period that rests on it. */
  entry: number;
  /** "missing", or why the kept record is not usable. */
  problem: string;
}

/** What the retention check found (GET /v1/info `retention`). */
export interface RetentionStatus {
  period: string;
  /** The start of the period (ISO 8601): entries logged at or after it are covered. */
  since: string;
  /** Every record the period's entries rest on is kept. */
  complete: boolean;
  missing: MissingRecord[];
  /** Why the check could not be made (the log could not be read); `complete` is then false. */
  error?: string;
}

/** The answer to POST /v1/release: the logged decision, its receipt, and the key when allowed. */
export interface ReleaseAnswer {
  decision: 'allow' | 'deny';
  requestId: string;
  reason?: string;
  message?: string;
  policies?: string[];
  receipt?: string;
  key?: { ephemeral: string; wrapped: string };
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
