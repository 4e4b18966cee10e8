/**
 * Key groups (k-of-n custody, docs/FORMAT.md §5): the data key is split with Shamir secret sharing
 * (the audited `shamir-secret-sharing`) into one share per group; share g is sealed with
 * AES-256-GCM under group key g (derived from the data key, KeySchedule.groupKey), nonce zero
 * (each group key seals exactly one share), AAD "modelseal/v1 key group share" ‖ package id ‖
 * uint32be(g). A group's stanzas wrap its group key; k unwrapped group keys open k shares, which
 * combine to the data key, which the key commitment then confirms.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { combine, split } from 'shamir-secret-sharing';
import { SHARE_SEALED_BYTES } from '../format/header.js';
import { u32be, utf8 } from '../format/encoding.js';
import type { KeySchedule } from './keyschedule.js';

const AAD = utf8.encode('modelseal/v1 key group share');
const NONCE = new Uint8Array(12);

function aad(packageId: Uint8Array, g: number): Uint8Array {
  const a = new Uint8Array(AAD.length + 32 + 4);
  a.set(AAD);
  a.set(packageId, AAD.length);
  a.set(u32be(g), AAD.length + 32);
  return a;
}

/** Splits the data key into `groups` shares (any `threshold` reconstruct it), each sealed under its group key. */
export async function sealShares(
  dek: Uint8Array,
  keys: KeySchedule,
  packageId: Uint8Array,
  groups: number,
  threshold: number,
): Promise<Uint8Array[]> {
  const shares = await split(dek, groups, threshold);
  return shares.map((share, g) => {
    const c = createCipheriv('aes-256-gcm', keys.groupKey(g), NONCE);
    c.setAAD(aad(packageId, g));
    const out = Buffer.concat([c.update(share), c.final(), c.getAuthTag()]);
    share.fill(0);
    if (out.length !== SHARE_SEALED_BYTES) throw new Error(`sealed share is ${out.length} bytes`);
    return new Uint8Array(out);
  });
}

/** Opens share `g` with its group key; null when it does not authenticate (wrong group, tampered). */
export function openShare(
  groupKey: Uint8Array,
  packageId: Uint8Array,
  g: number,
  sealed: Uint8Array,
): Uint8Array | null {
  if (groupKey.length !== 32 || sealed.length !== SHARE_SEALED_BYTES) return null;
  const d = createDecipheriv('aes-256-gcm', groupKey, NONCE);
  d.setAAD(aad(packageId, g));
  d.setAuthTag(sealed.subarray(sealed.length - 16));
  try {
    return new Uint8Array(Buffer.concat([d.update(sealed.subarray(0, sealed.length - 16)), d.final()]));
  } catch {
    return null;
  }
}

/** The data key from `threshold` opened shares (any more are ignored). */
export async function combineShares(shares: readonly Uint8Array[], threshold: number): Promise<Uint8Array> {
  return combine(shares.slice(0, threshold));
}
