/**
 * Who is calling the gateway (docs/GATE.md, "Identity"): a registered recipient, by its API key
 * (`Authorization: Bearer <key>`) and/or by the client certificate of a mutual-TLS connection, whose
 * SHA-256 must be a registered recipient's fingerprint. Both given: they must name the same recipient.
 * The records are re-read at each call, so a revoked key or recipient is refused on its next request.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { RecipientRecord, RecipientRegistry } from '../server/recipients.js';
import { ApiKeyStore, apiKeyId } from './keys.js';
import type { ApiKeyRecord, ApiKeys } from './types.js';

/** An identified caller: its recipient record, and the key and certificate it presented. */
export interface Caller {
  recipient: RecipientRecord;
  key: ApiKeyRecord | null;
  /** SHA-256 (hex) of the verified client certificate's DER, when one was presented. */
  certificate: string | null;
}

/** Why a caller is not identified: the denial reason logged, and what the client is told. */
export interface Unidentified {
  reason:
    | 'no-credentials'
    | 'unknown-key'
    | 'revoked-key'
    | 'expired-key'
    | 'unknown-certificate'
    | 'unknown-identity'
    | 'revoked-identity';
  /** The key id and certificate fingerprint presented, for the log (never the key's secret). */
  key: string | null;
  certificate: string | null;
  recipient: RecipientRecord | null;
}

/** The bearer token of a request; null without one. */
export function bearerToken(req: IncomingMessage): string | null {
  const h = req.headers.authorization;
  if (typeof h !== 'string') return null;
  const m = /^Bearer +([\x21-\x7e]{1,512})\s*$/i.exec(h);
  return m ? m[1]! : null;
}

/** The fingerprint of the client certificate the TLS layer verified against the client CA; null when none. */
export function clientCertificate(req: IncomingMessage): string | null {
  const socket = req.socket as Partial<TLSSocket>;
  if (!socket.encrypted || !socket.authorized || typeof socket.getPeerCertificate !== 'function') return null;
  const cert = socket.getPeerCertificate();
  // An empty object when the client sent none.
  if (!(cert.raw as Buffer | undefined)) return null;
  return createHash('sha256').update(cert.raw).digest('hex');
}

/**
 * The record of a presented key when it is valid; else why not, as the log records it (the caller
 * is told only that the key is not valid, or that its recipient is revoked).
 */
async function checkKey(
  token: string,
  keys: ApiKeys,
  recipients: RecipientRegistry,
  now: Date,
): Promise<ApiKeyRecord | Pick<Unidentified, 'reason' | 'key' | 'recipient'>> {
  if (!(keys instanceof ApiKeyStore))
    return (await keys.verify(token, now)) ?? { reason: 'unknown-key', key: apiKeyId(token), recipient: null };
  const c = await keys.check(token, now);
  if (c.ok) return c.record;
  if (c.reason === 'unknown') return { reason: 'unknown-key', key: c.id, recipient: null };
  const recipient = (await recipients.get(c.record.recipient)) ?? null;
  const reason = REFUSED[c.reason];
  return { reason, key: c.id, recipient };
}

const REFUSED = {
  revoked: 'revoked-key',
  expired: 'expired-key',
  'recipient-unknown': 'unknown-identity',
  'recipient-revoked': 'revoked-identity',
} as const;

/** Identifies the caller of `req` (docs/GATE.md, "Identity"). */
export async function identify(
  req: IncomingMessage,
  keys: ApiKeys,
  recipients: RecipientRegistry,
  now: Date,
): Promise<Caller | Unidentified> {
  const token = bearerToken(req);
  const certificate = clientCertificate(req);
  const none = { key: null, certificate, recipient: null };
  if (token === null && certificate === null) return { reason: 'no-credentials', ...none };
  let key: ApiKeyRecord | null = null;
  if (token !== null) {
    const checked = await checkKey(token, keys, recipients, now);
    if ('reason' in checked) return { ...none, ...checked };
    key = checked;
  }
  let name = key?.recipient;
  if (certificate !== null) {
    const byCert = (await recipients.list()).find((r) => r.fingerprint === certificate);
    if (!byCert || (name !== undefined && byCert.name !== name))
      return { reason: 'unknown-certificate', ...none, key: key?.id ?? null };
    name = byCert.name;
  }
  const recipient = name === undefined ? undefined : await recipients.get(name);
  if (!recipient) return { reason: 'unknown-identity', ...none, key: key?.id ?? null };
  if (recipient.revoked) return { reason: 'revoked-identity', key: key?.id ?? null, certificate, recipient };
  return { recipient, key, certificate };
}

/** Whether `identify` found a caller. */
export function isCaller(c: Caller | Unidentified): c is Caller {
  return !('reason' in c);
}
