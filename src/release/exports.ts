/**
 * A publisher's export events for `seal --log <service URL>` (POST /v1/export, docs/API.md): the
 * batch, the bytes the publisher signs, and the signature. No I/O here.
 */
import { signWith, type Signer } from '../crypto/signer.js';
import { canonicalJson, type PublisherEvent } from '../log/events.js';

/** A publisher's export events (and screening overrides), signed by the publisher key. */
export interface ExportSubmission {
  events: PublisherEvent[];
  /** The publisher's public key, SPKI DER in base64. */
  publisher: string;
  /** ECDSA P-256 / SHA-256 over `exportBytes(events)`, base64. */
  signature: string;
}

/** The bytes a publisher signs: a domain-separation line, then the events as canonical JSON. */
export function exportBytes(events: readonly PublisherEvent[]): Buffer {
  return Buffer.from(`modelseal/v1 export\n${canonicalJson(events)}`, 'utf8');
}

/** The submission of `events`, signed by the publisher's `signer` (ECDSA P-256). */
export async function signExports(events: PublisherEvent[], signer: Signer): Promise<ExportSubmission> {
  return {
    events,
    publisher: Buffer.from(signer.publicKey).toString('base64'),
    signature: Buffer.from(await signWith(signer, 'ecdsa-p256-sha256', exportBytes(events))).toString('base64'),
  };
}
