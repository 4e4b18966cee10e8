/**
 * The modelseal/v1 key schedule (docs/FORMAT.md §Key schedule): every key used on a package is
 * derived from its one random data key (DEK) by HKDF-SHA-256 with the package id as salt.
 */
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { ModelsealError } from '../errors.js';
import { u32be, utf8 } from '../format/encoding.js';

export const DATA_KEY_BYTES = 32;

const INFO_COMMITMENT = utf8.encode('modelseal/v1 key commitment');
const INFO_HEADER_MAC = utf8.encode('modelseal/v1 header mac');
const INFO_PAYLOAD = utf8.encode('modelseal/v1 payload');
const INFO_GROUP = utf8.encode('modelseal/v1 key group');

function hkdf(dek: Uint8Array, salt: Uint8Array, info: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', dek, salt, info, 32));
}

export function newDataKey(): Uint8Array {
  return new Uint8Array(randomBytes(DATA_KEY_BYTES));
}

export function newPackageId(): Uint8Array {
  return new Uint8Array(randomBytes(32));
}

/** All keys of one package. Holds secrets: never log or serialise it. */
export class KeySchedule {
  readonly commitment: Uint8Array;
  readonly #dek: Uint8Array;
  readonly #salt: Uint8Array;
  readonly #macKey: Uint8Array;

  constructor(dek: Uint8Array, packageId: Uint8Array) {
    if (dek.length !== DATA_KEY_BYTES) throw new ModelsealError('INVALID_ARGUMENT', 'data key: expected 32 bytes');
    if (packageId.length !== 32) throw new ModelsealError('INVALID_ARGUMENT', 'package id: expected 32 bytes');
    this.#dek = Uint8Array.from(dek); // a copy: callers wipe theirs as soon as the schedule exists
    this.#salt = packageId;
    this.commitment = hkdf(dek, packageId, INFO_COMMITMENT);
    this.#macKey = hkdf(dek, packageId, INFO_HEADER_MAC);
  }

  /** True when `commitment` (from a header) was derived from this data key; constant time. */
  commits(commitment: Uint8Array): boolean {
    return commitment.length === 32 && timingSafeEqual(commitment, this.commitment);
  }

  headerMac(macInput: Uint8Array): Uint8Array {
    return new Uint8Array(createHmac('sha256', this.#macKey).update(macInput).digest());
  }

  checkHeaderMac(macInput: Uint8Array, mac: Uint8Array): boolean {
    return mac.length === 32 && timingSafeEqual(this.headerMac(macInput), mac);
  }

  /** The key of key group `g`: it seals that group's share, and the group's stanzas wrap it. */
  groupKey(g: number): Uint8Array {
    const info = new Uint8Array(INFO_GROUP.length + 4);
    info.set(INFO_GROUP);
    info.set(u32be(g), INFO_GROUP.length);
    return hkdf(this.#dek, this.#salt, info);
  }

  /** AES-256-GCM key for one segment of one stream (stream 0 = provenance, i+1 = file i). */
  payloadKey(stream: number, segment: number): Uint8Array {
    const info = new Uint8Array(INFO_PAYLOAD.length + 8);
    info.set(INFO_PAYLOAD);
    info.set(u32be(stream), INFO_PAYLOAD.length);
    info.set(u32be(segment), INFO_PAYLOAD.length + 4);
    return hkdf(this.#dek, this.#salt, info);
  }
}
