/**
 * The data key of a package: the stanzas are tried against the caller's identities, a key group's
 * shares are combined, and the key is accepted only if it matches the header's key commitment and
 * authenticates the header MAC (docs/FORMAT.md §5). Open, random access and rewrap all unlock here.
 */
import { ModelsealError } from '../errors.js';
import { combineShares, openShare } from '../crypto/keygroups.js';
import { KeySchedule } from '../crypto/keyschedule.js';
import type { Header, ParsedHeader, Stanza } from '../format/header.js';
import { contextFor, type Identity } from '../providers/types.js';

type Debug = (m: string) => void;

/** A data key that matched the commitment and the header MAC, with the stanza and identity that gave it. */
export interface UnwrappedKey {
  dek: Uint8Array;
  keys: KeySchedule;
  stanza: Stanza;
  identity: Identity;
}

/** The one message of every authentication failure; what failed goes to the debug callback and `cause`. */
export const authFailed = (cause?: unknown): ModelsealError =>
  new ModelsealError(
    'DECRYPTION_FAILED',
    'the package failed authentication: it is damaged or was tampered with; nothing was written',
    cause === undefined ? undefined : { cause },
  );

/**
 * Finds a stanza one of `identities` opens and checks the key commitment and header MAC. Public so that random access
 * shares it.
 */
export async function unlockPackage(
  parsed: ParsedHeader,
  identities: readonly Identity[],
  debug?: Debug,
): Promise<{ keys: KeySchedule; stanza: Stanza; identity: Identity }> {
  const { dek, ...rest } = await unwrapPackageKey(parsed, identities, debug);
  dek.fill(0);
  return rest;
}

/** As unlockPackage, and also returns the data key itself (for rewrap); the caller must wipe it. */
export async function unwrapPackageKey(
  parsed: ParsedHeader,
  identities: readonly Identity[],
  debug?: Debug,
): Promise<UnwrappedKey> {
  const search = new KeySearch(parsed, debug);
  for (const stanza of parsed.header.stanzas) {
    if (search.groupOpened(stanza)) continue;
    for (const identity of identities) {
      const key = await search.unwrap(stanza, identity);
      if (!key) continue;
      const r = await search.accept(key, stanza, identity);
      if (r) return r;
      if (search.groupOpened(stanza)) break; // its group's share is taken: on to the next stanza
    }
  }
  return search.fail(identities);
}

/**
 * The state of one search through the stanzas: why the stanzas that were ours failed, a provider
 * that was unreachable, and in a package with key groups the shares opened so far.
 */
class KeySearch {
  readonly header: Header;
  /** A stanza that was ours did not authenticate; the first such failure is kept as the cause. */
  broken = false;
  brokenCause: unknown;
  unavailable: ModelsealError | undefined;
  /** Key groups: the shares opened so far, by group, and the first stanza that gave one. */
  readonly shares = new Map<number, Uint8Array>();
  first: { stanza: Stanza; identity: Identity } | undefined;

  constructor(
    readonly parsed: ParsedHeader,
    readonly debug: Debug | undefined,
  ) {
    this.header = parsed.header;
  }

  /** Whether the stanza's key group already gave its share (so asking its provider again is wasted). */
  groupOpened(stanza: Stanza): boolean {
    return this.header.keyGroups !== undefined && this.shares.has(stanza.group!);
  }

  /** The stanza's key unwrapped by `identity`, or null when it is not theirs, broken, or unreachable now. */
  async unwrap(stanza: Stanza, identity: Identity): Promise<Uint8Array | null> {
    try {
      return await identity.unwrapDataKey(stanza, contextFor(this.header, stanza));
    } catch (e) {
      if (e instanceof ModelsealError && e.code === 'DECRYPTION_FAILED') {
        this.debug?.(`stanza for ${stanza.recipient} did not unwrap with ${identity.description}: ${e.message}`);
        this.broken = true;
        this.brokenCause ??= e;
        return null;
      }
      if (e instanceof ModelsealError && e.code === 'PROVIDER_UNAVAILABLE') {
        // A KMS or HSM we cannot reach now: another stanza may still open the package.
        this.debug?.(`${identity.description}: ${e.message}`);
        this.unavailable ??= e;
        return null;
      }
      throw e;
    }
  }

  /**
   * Uses an unwrapped key: the data key itself, or a key group's key that opens its share. Returns
   * the unlocked package once the data key is known and checks out; undefined to keep searching.
   */
  async accept(key: Uint8Array, stanza: Stanza, identity: Identity): Promise<UnwrappedKey | undefined> {
    const kg = this.header.keyGroups;
    if (!kg) {
      const r = this.check(key, stanza, identity);
      if (!r) this.broken = true;
      return r;
    }
    const share = openShare(key, this.header.packageId, stanza.group!, kg.shares[stanza.group!]!);
    key.fill(0);
    if (!share) {
      this.debug?.(`the share of key group ${stanza.group} did not open with the key of ${stanza.recipient}`);
      this.broken = true;
      return undefined;
    }
    this.shares.set(stanza.group!, share);
    this.first ??= { stanza, identity };
    if (this.shares.size < kg.threshold) return undefined;
    let dek: Uint8Array;
    try {
      dek = await combineShares([...this.shares.values()], kg.threshold);
    } catch (e) {
      // Shares that cannot be combined (e.g. two with one x-coordinate): a forged header.
      this.debug?.(`key group shares do not combine: ${e instanceof Error ? e.message : String(e)}`);
      throw authFailed(e);
    } finally {
      for (const x of this.shares.values()) x.fill(0);
    }
    const r = this.check(dek, this.first.stanza, this.first.identity);
    if (r) return r;
    throw authFailed();
  }

  /** The key commitment, then the header MAC: a key that fails either is wiped. */
  check(dek: Uint8Array, stanza: Stanza, identity: Identity): UnwrappedKey | undefined {
    const keys = new KeySchedule(dek, this.header.packageId);
    if (!keys.commits(this.header.commitment)) {
      dek.fill(0);
      this.debug?.(`key commitment mismatch for the stanza of ${stanza.recipient}`);
      return undefined;
    }
    if (!keys.checkHeaderMac(this.parsed.macInput, this.parsed.mac)) {
      dek.fill(0);
      this.debug?.('header MAC mismatch');
      throw authFailed();
    }
    return { dek, keys, stanza, identity };
  }

  /** The error when no stanza gave a key: a broken stanza first, then an unreachable provider, then none of ours. */
  fail(identities: readonly Identity[]): never {
    if (this.broken) throw authFailed(this.brokenCause);
    if (this.unavailable) throw this.unavailable;
    const recipients = this.header.stanzas.map((s) => s.recipient);
    const kg = this.header.keyGroups;
    if (kg) {
      const opened = [...this.shares.keys()];
      const groups = kg.shares.map(
        (_, g) =>
          `group ${g}: ${this.header.stanzas
            .filter((s) => s.group === g)
            .map((s) => s.recipient)
            .join(' or ')}`,
      );
      throw new ModelsealError(
        'NO_MATCHING_IDENTITY',
        `opening needs ${kg.threshold} of ${kg.shares.length} key groups, and your identities open ` +
          `${opened.length}${opened.length ? ` (group ${opened.join(', ')})` : ''}; ${groups.join('; ')}`,
        { details: { threshold: kg.threshold, opened, recipients } },
      );
    }
    const names = recipients.join(', ');
    throw new ModelsealError(
      'NO_MATCHING_IDENTITY',
      identities.length === 0
        ? `no identity to open this package with: run \`modelseal init\` or pass --identity <key file> (it is sealed ` +
            `to ${names})`
        : `none of your identities (${identities.map((i) => i.description).join('; ')}) opens this package; it is ` +
            `sealed to ${names}`,
      { details: { recipients } },
    );
  }
}
