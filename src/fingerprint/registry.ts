/**
 * The publisher's fingerprint registry: one signed JSON line per embedding, appended to
 * `fingerprints/registry.jsonl` in the working folder (docs/FINGERPRINT.md). `trace` reads it to
 * know every recipient that holds a marked copy, and with which code.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ModelsealError } from '../errors.js';
import { fromB64, toB64, utf8 } from '../format/encoding.js';
import { signWith, verifyMessage, type Signer } from '../crypto/signer.js';
import { ioError } from '../io/atomic.js';
import { SCHEME, type CodeParams } from './params.js';

export const DEFAULT_REGISTRY = 'fingerprints/registry.jsonl';

/** One embedding: what was marked, for whom, with which key and code. */
export interface FingerprintRecord {
  v: 1;
  /** `fp-` and 16 hex digits; the fingerprint id carried by the package and the log's export event. */
  id: string;
  time: string;
  recipient: string;
  keyId: string;
  scheme: typeof SCHEME;
  params: CodeParams;
  /** Root digest (`sha256:…`, as in a package) of the checkpoint before and after marking. */
  original: string;
  marked: string;
  /** Package id (hex) when the copy was sealed, else null. */
  package: string | null;
  tensors: number;
  positions: number;
  /** Largest relative RMS change of any tensor. */
  maxRelativeRms: number;
}

export interface SignedRecord extends FingerprintRecord {
  /** SHA-256 of the publisher's SPKI, hex. */
  signer: string;
  /** ECDSA P-256 over the canonical JSON of the record without `signer` and `signature`. */
  signature: string;
}

/** A registry line as read, before its shape is checked: any field may be missing or of any type. */
type LooseRecord = Partial<Record<'v' | 'recipient' | 'keyId' | 'scheme' | 'signature', unknown>> & {
  params?: { support?: unknown; c?: unknown } | null;
};

export function newFingerprintId(): string {
  return 'fp-' + randomBytes(8).toString('hex');
}

function recordBytes(r: FingerprintRecord): Uint8Array {
  const {
    v,
    id,
    time,
    recipient,
    keyId,
    scheme,
    params,
    original,
    marked,
    package: pkg,
    tensors,
    positions,
    maxRelativeRms,
  } = r;
  return utf8.encode(
    JSON.stringify({
      v,
      id,
      time,
      recipient,
      keyId,
      scheme,
      params: { support: params.support, c: params.c },
      original,
      marked,
      package: pkg,
      tensors,
      positions,
      maxRelativeRms,
    }),
  );
}

/** The record signed by the publisher's `signer` (ECDSA P-256). */
export async function signRecord(r: FingerprintRecord, signer: Signer): Promise<SignedRecord> {
  return {
    ...r,
    signer: createHash('sha256').update(signer.publicKey).digest('hex'),
    signature: toB64(await signWith(signer, 'ecdsa-p256-sha256', recordBytes(r))),
  };
}

/** Appends a signed record and flushes it to disk before returning. */
export async function appendRecord(path: string, r: SignedRecord): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  let fd: number;
  try {
    fd = openSync(path, 'a', 0o644);
  } catch (cause) {
    throw ioError(`cannot write the fingerprint registry ${path}`, cause);
  }
  try {
    writeSync(fd, JSON.stringify(r) + '\n');
    fsyncSync(fd);
  } catch (cause) {
    throw ioError(`cannot write the fingerprint registry ${path}`, cause);
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads the registry. With `trusted` (publisher SPKIs), a record whose signature does not verify
 * under one of them is an error: a registry that was edited must not steer an accusation.
 */
export async function readRegistry(path: string, trusted?: readonly Uint8Array[]): Promise<SignedRecord[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw ioError(`cannot read the fingerprint registry ${path}`, cause);
  }
  const out: SignedRecord[] = [];
  for (const [i, line] of text.split('\n').entries()) {
    if (!line.trim()) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch (cause) {
      throw new ModelsealError('INVALID_ARGUMENT', `${path}:${i + 1}: not a JSON record`, { cause });
    }
    // A line of the file is any JSON value until these checks pass.
    const loose = parsed as LooseRecord | null;
    if (
      loose?.v !== 1 ||
      typeof loose.recipient !== 'string' ||
      typeof loose.keyId !== 'string' ||
      loose.scheme !== SCHEME ||
      typeof loose.params?.support !== 'number' ||
      typeof loose.params.c !== 'number'
    ) {
      throw new ModelsealError('INVALID_ARGUMENT', `${path}:${i + 1}: not a ${SCHEME} fingerprint record`);
    }
    const r = parsed as SignedRecord;
    if (
      trusted &&
      !trusted.some((spki) => verifyMessage(spki, recordBytes(r), fromB64(String(loose.signature), 'signature')))
    ) {
      throw new ModelsealError(
        'SIGNATURE_INVALID',
        `${path}:${i + 1}: the record for ${r.recipient} is not signed by a trusted publisher`,
      );
    }
    out.push(r);
  }
  return out;
}
