/**
 * `rewrap`: add or remove recipients of a package without touching its payload. The stanzas live
 * in the header, which sits in a fixed-size region at the start (docs/FORMAT.md §6); the chunk list
 * does not change, so only the header region and the signature at the end are rewritten, in place.
 *
 * In-place writes are made crash-safe with a journal: the old bytes of both places are written to
 * a sibling file and synced before the package is touched, and the journal is removed only after
 * the new bytes are synced. A crash at any moment leaves either the old package or the journal
 * that restores it (`recoverRewrap`, run by every rewrap; readers refuse a package with a journal).
 */
import { closeSync, fstatSync, fsyncSync, ftruncateSync, openSync, readSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ModelsealError } from '../errors.js';
import type { KeySchedule } from '../crypto/keyschedule.js';
import { encodeHeader, encodeHeaderMacInput, type Header, type Stanza } from '../format/header.js';
import { ENTRY, padded, TAR_BLOCK } from '../format/layout.js';
import { LIMITS } from '../format/limits.js';
import { headerRegion, tarEntry } from '../format/tar.js';
import { fromB64, toB64, toHex } from '../format/encoding.js';
import type { Publisher } from '../keystore/keystore.js';
import { contextFor, type Identity, type Recipient } from '../providers/types.js';
import { ioError, pathExists, writeAllAt, writeFileAtomic } from '../io/atomic.js';
import { journalPath, readHead, type PackageHead } from './head.js';
import { unwrapPackageKey } from './unlock.js';
import { signerId } from './walk.js';
import { recipientSummary, signPackage, stanzaBindings, type RecipientSummary } from './common.js';

export interface RewrapOptions {
  /** Identities tried to unwrap the data key (the header MAC needs it, and so does every new stanza). */
  identities: readonly Identity[];
  /** Publisher keys (SPKI DER) accepted as the package's signer. */
  trustedPublishers: readonly Uint8Array[];
  /** The package's publisher: the new signature must come from the same key as the provenance inside. */
  publisher: Publisher;
  add?: readonly Recipient[];
  /** Recipient ids whose stanzas are removed. */
  remove?: readonly string[];
  /**
   * Key replacement: each `from` stanza (a recipient id) is replaced, in place, by one for `to`
   * with the same license and policy (a new KMS key, a replacement HSM key).
   */
  rotate?: readonly { from: string; to: Recipient }[];
  /**
   * Renewal in place: every stanza of provider `type` is wrapped again for the same recipient,
   * made from its id by `resolve` (after a KMS key rotation, the current key version; after an
   * HSM key was replaced under the same label, the new key).
   */
  renew?: { type: string; resolve: (recipientId: string) => Promise<Recipient> };
  /** In a package with key groups: the group the added recipients join. */
  group?: number;
  /** License id bound into added stanzas. Default "none". */
  license?: string;
  /** Policy hash bound into added stanzas. Default "none". */
  policy?: string;
}

export interface RewrapResult {
  path: string;
  packageId: string;
  recipients: RecipientSummary[];
  added: string[];
  removed: string[];
  rotated: { from: string; to: string }[];
  /** Bytes written into the package (header region and signature tail only). */
  bytesWritten: number;
  /** Whether an interrupted earlier rewrap was rolled back first. */
  recovered: boolean;
}

const JOURNAL_TAG = 'modelseal/v1 rewrap journal';

interface Journal {
  journal: typeof JOURNAL_TAG;
  size: number;
  parts: { offset: number; data: string }[];
}

function syncDir(path: string): void {
  const fd = openSync(dirname(path), 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function readAt(fd: number, pos: number, length: number): Uint8Array {
  const b = new Uint8Array(length);
  if (readSync(fd, b, 0, length, pos) !== length)
    throw new ModelsealError('TRUNCATED', 'the package ends early; fetch it again');
  return b;
}

/**
 * Restores a package whose rewrap was interrupted (a journal sits beside it). Returns whether
 * there was anything to restore.
 */
export async function recoverRewrap(pkg: string): Promise<boolean> {
  const jp = journalPath(pkg);
  if (!(await pathExists(jp))) return false;
  let j: Journal;
  try {
    // Any JSON value until these checks pass.
    const parsed = JSON.parse(await readFile(jp, 'utf8')) as Partial<Record<keyof Journal, unknown>> | null;
    if (parsed?.journal !== JOURNAL_TAG || !Number.isSafeInteger(parsed.size) || !Array.isArray(parsed.parts))
      throw new Error('not a rewrap journal');
    j = parsed as Journal;
  } catch (cause) {
    throw new ModelsealError(
      'MALFORMED_PACKAGE',
      `${jp} is not a readable rewrap journal; move it away only if you know the package is intact`,
      { cause },
    );
  }
  const fd = openPackage(pkg, 'r+');
  try {
    for (const p of j.parts) writeAllAt(fd, fromB64(p.data, 'journal'), p.offset);
    ftruncateSync(fd, j.size);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  await rm(jp);
  syncDir(jp);
  return true;
}

function openPackage(pkg: string, flags: 'r' | 'r+'): number {
  try {
    return openSync(pkg, flags);
  } catch (cause) {
    throw ioError(`cannot ${flags === 'r' ? 'read' : 'update'} ${pkg}`, cause);
  }
}

/** Adds, removes, rotates or renews the recipients of package `pkg` in place (see the file's comment). */
export async function rewrap(pkg: string, opts: RewrapOptions): Promise<RewrapResult> {
  const recovered = await recoverRewrap(pkg);
  const head = await readHead(pkg, { trusted: opts.trustedPublishers });
  checkSamePublisher(head.trailer.publicKey, opts.publisher);
  const old = head.parsed.header;
  const kept = keptStanzas(old, opts);
  const { dek, keys } = await unwrapPackageKey(head.parsed, opts.identities);
  let header: Header;
  try {
    header = { ...old, stanzas: await newStanzas(old, kept, opts, dek, keys) };
  } finally {
    dek.fill(0);
  }
  const { region, tail } = await encodeRewrapped(header, keys, opts.publisher, head);
  await writeInPlace(pkg, head.layout.regionBytes, head.layout.signatureOffset, region, tail);
  const remove = opts.remove ?? [];
  return {
    path: pkg,
    packageId: toHex(old.packageId),
    recipients: header.stanzas.map(recipientSummary),
    added: (opts.add ?? []).map((r) => r.id),
    removed: [...remove],
    rotated: [
      ...(opts.rotate ?? []).map((r) => ({ from: r.from, to: r.to.id })),
      ...old.stanzas
        .filter((s) => opts.renew?.type === s.type && !remove.includes(s.recipient))
        .map((s) => ({ from: s.recipient, to: s.recipient })),
    ],
    bytesWritten: region.length + tail.length,
    recovered,
  };
}

/** Rewrap signs with the publisher key that signed the package: its provenance inside is signed by that key too. */
function checkSamePublisher(signer: Uint8Array, publisher: Publisher): void {
  if (!Buffer.from(signer).equals(publisher.spki)) {
    throw new ModelsealError(
      'UNTRUSTED_SIGNER',
      `the package is signed by ${signerId(signer)}; rewrap must be signed by the same publisher key (its provenance ` +
        `inside is), not ${signerId(publisher.spki)}`,
    );
  }
}

/** Checks the requested changes against the package; returns the stanzas that stay (some then rotated or renewed). */
function keptStanzas(old: Header, opts: RewrapOptions): Stanza[] {
  const add = opts.add ?? [];
  const remove = opts.remove ?? [];
  const rotate = opts.rotate ?? [];
  if (old.fingerprint && add.length > 0) {
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `the weights carry ${old.fingerprint.recipient}'s fingerprint (${old.fingerprint.id}): a new recipient needs a ` +
        `copy of their own (seal --fingerprint), or a leak of theirs would be traced to ${old.fingerprint.recipient}`,
    );
  }
  const present = new Set(old.stanzas.map((s) => s.recipient));
  for (const [flag, id] of [...remove.map((id) => ['--remove', id]), ...rotate.map((r) => ['--rotate', r.from])]) {
    if (!present.has(id!))
      throw new ModelsealError(
        'INVALID_ARGUMENT',
        `${flag} ${id}: no such recipient (the package is sealed to ${[...present].join(', ')})`,
      );
  }
  const kept = old.stanzas.filter((s) => !remove.includes(s.recipient));
  const after = new Set(kept.map((s) => s.recipient).filter((id) => !rotate.some((r) => r.from === id)));
  for (const [flag, r] of [
    ...rotate.map((r) => [`--rotate ${r.from}=${r.to.id}`, r.to] as const),
    ...add.map((r) => [`--add ${r.id}`, r] as const),
  ]) {
    if (after.has(r.id)) throw new ModelsealError('INVALID_ARGUMENT', `${flag}: that recipient already has a stanza`);
    after.add(r.id);
  }
  checkKeyGroups(old, kept, opts);
  if (opts.renew && !kept.some((s) => s.type === opts.renew!.type)) {
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `--rotate ${opts.renew.type}: the package has no ${opts.renew.type} stanza`,
    );
  }
  if (kept.length + add.length === 0)
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      'a package needs at least one recipient: add one before removing the last',
    );
  if (kept.length + add.length > LIMITS.maxStanzas)
    throw new ModelsealError('TOO_MANY_STANZAS', `at most ${LIMITS.maxStanzas} recipients per package`);
  return kept;
}

/** In a package with key groups, added recipients name their group and no group may be left empty. */
function checkKeyGroups(old: Header, kept: readonly Stanza[], opts: RewrapOptions): void {
  const kg = old.keyGroups;
  const adding = (opts.add ?? []).length > 0;
  if (!kg) {
    if (opts.group !== undefined)
      throw new ModelsealError('INVALID_ARGUMENT', '--group: this package has no key groups');
    return;
  }
  if (
    adding &&
    (opts.group === undefined || !Number.isInteger(opts.group) || opts.group < 0 || opts.group >= kg.shares.length)
  ) {
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `this package has ${kg.shares.length} key groups: say which one the added recipients join (--group ` +
        `0..${kg.shares.length - 1})`,
    );
  }
  for (let g = 0; g < kg.shares.length; g++) {
    if (!kept.some((s) => s.group === g) && !(adding && opts.group === g)) {
      throw new ModelsealError(
        'INVALID_ARGUMENT',
        `removing those recipients would leave key group ${g} empty, and nobody could open with it; add a ` +
          `replacement (--add … --group ${g}) or use --rotate`,
      );
    }
  }
}

/** The new stanza list: kept stanzas (rotated or renewed ones wrapped again), then the added ones. */
async function newStanzas(
  old: Header,
  kept: readonly Stanza[],
  opts: RewrapOptions,
  dek: Uint8Array,
  keys: KeySchedule,
): Promise<Stanza[]> {
  // Each stanza wraps the data key, or in a package with key groups its group's key.
  const wrapFor = async (r: Recipient, license: string, policy: string, group: number | undefined): Promise<Stanza> => {
    const key = group === undefined ? dek : keys.groupKey(group);
    const bound = stanzaBindings(old, r.type);
    const w = await r.wrapDataKey(key, contextFor(old, { recipient: r.id, license, policy, ...bound }));
    if (group !== undefined) key.fill(0);
    return {
      type: r.type,
      recipient: r.id,
      license,
      policy,
      ...bound,
      ...(group !== undefined ? { group } : {}),
      args: w.args,
      body: w.body,
    };
  };
  const stanzas: Stanza[] = [];
  for (const s of kept) {
    const r =
      opts.rotate?.find((x) => x.from === s.recipient)?.to ??
      (opts.renew?.type === s.type ? await opts.renew.resolve(s.recipient) : undefined);
    if (r && opts.renew?.type === s.type && r.id !== s.recipient)
      throw new ModelsealError('INTERNAL', `renewing ${s.recipient} gave a recipient for ${r.id}`);
    stanzas.push(r ? await wrapFor(r, s.license, s.policy, s.group) : s);
  }
  for (const r of opts.add ?? []) {
    const group = old.keyGroups ? opts.group : undefined;
    stanzas.push(await wrapFor(r, opts.license ?? 'none', opts.policy ?? 'none', group));
  }
  return stanzas;
}

/** The new header region and signature tail; both signatures are made again. */
async function encodeRewrapped(
  header: Header,
  keys: KeySchedule,
  publisher: Publisher,
  head: PackageHead,
): Promise<{ region: Uint8Array; tail: Uint8Array }> {
  const headerBytes = encodeHeader(header, keys.headerMac(encodeHeaderMacInput(header)));
  const { regionBytes } = head.layout;
  const signed = await signPackage(publisher.signer, headerBytes, head.chunkList);
  const region = headerRegion(headerBytes, signed.headerSignature, regionBytes);
  if (!region) {
    throw new ModelsealError(
      'HEADER_TOO_LARGE',
      `the new header (${headerBytes.length} bytes) no longer fits the package's ${regionBytes}-byte header region; ` +
        `reseal it (modelseal reseal)`,
    );
  }
  const tail = new Uint8Array(TAR_BLOCK + padded(signed.trailer.length) + 2 * TAR_BLOCK);
  tail.set(tarEntry(ENTRY.signature, signed.trailer), 0);
  return { region, tail };
}

/**
 * Journals the old bytes of the header region and of everything from the signature on, then writes
 * the new ones in place, syncs, and removes the journal.
 */
async function writeInPlace(
  pkg: string,
  regionBytes: number,
  tailAt: number,
  region: Uint8Array,
  tail: Uint8Array,
): Promise<void> {
  const fd = openPackage(pkg, 'r+');
  try {
    const size = fstatSync(fd).size;
    const journal: Journal = {
      journal: JOURNAL_TAG,
      size,
      parts: [
        { offset: 0, data: toB64(readAt(fd, 0, regionBytes)) },
        { offset: tailAt, data: toB64(readAt(fd, tailAt, size - tailAt)) },
      ],
    };
    const jp = journalPath(pkg);
    await writeFileAtomic(jp, JSON.stringify(journal), { mode: 0o600 });
    syncDir(jp);
    writeAllAt(fd, region, 0);
    writeAllAt(fd, tail, tailAt);
    ftruncateSync(fd, tailAt + tail.length);
    fsyncSync(fd);
    await rm(jp);
    syncDir(jp);
  } finally {
    closeSync(fd);
  }
}
