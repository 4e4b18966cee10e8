/**
 * `reseal`: a new package with a fresh data key, for when a removed recipient may already hold the
 * old one (rewrap --remove only stops future releases: whoever unwrapped the old data key can still
 * decrypt the old payload). Opens the package into a private scratch folder beside the output,
 * seals that again for the kept recipients (each with its license and policy) plus the added ones,
 * and removes the scratch folder whatever happens. The fingerprint tag and the classification record
 * of the old header carry over.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { ModelsealError } from '../errors.js';
import type { Identity, Recipient } from '../providers/types.js';
import { parseX25519Recipient, X25519Recipient } from '../providers/x25519.js';
import { readHead } from './head.js';
import { open } from './open.js';
import { seal, type SealResult } from './seal.js';
import { SIDECARS } from '../formats/checkpoint.js';
import type { Progress } from './common.js';
import type { RewrapOptions } from './rewrap.js';

/** Who opens the package, who signs, and the change of recipients, as for rewrap. */
export interface ResealOptions extends RewrapOptions {
  output: string;
  chunkSize?: number;
  force?: boolean;
  threads?: number;
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
}

/** The Recipient that writes stanzas like `recipient`: from its public id, or a provider we hold. */
function recipientFor(id: string, type: string, providers: readonly Identity[]): Recipient {
  if (type === 'x25519') return new X25519Recipient(parseX25519Recipient(id));
  const held = providers.find(
    (p): p is Identity & Recipient => 'id' in p && (p as unknown as Recipient).id === id && 'wrapDataKey' in p,
  );
  if (held) return held;
  throw new ModelsealError(
    'INVALID_ARGUMENT',
    `cannot reseal for ${id}: no ${type} provider for it here; remove it (--remove ${id}) and add its replacement ` +
      `(--add)`,
  );
}

/** Seals package `pkg` again into `opts.output` with a fresh data key, for the kept and added recipients. */
export async function reseal(pkg: string, opts: ResealOptions): Promise<SealResult & { removed: string[] }> {
  const head = await readHead(pkg, { trusted: opts.trustedPublishers });
  const h = head.parsed.header;
  const remove = opts.remove ?? [];
  for (const id of remove) {
    if (!h.stanzas.some((s) => s.recipient === id))
      throw new ModelsealError('INVALID_ARGUMENT', `--remove ${id}: no such recipient in ${pkg}`);
  }
  const kept = h.stanzas.filter((s) => !remove.includes(s.recipient));
  const added = opts.add ?? [];
  if (h.fingerprint && added.length > 0) {
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `the weights carry ${h.fingerprint.recipient}'s fingerprint (${h.fingerprint.id}): a new recipient needs a ` +
        `copy of their own (seal --fingerprint)`,
    );
  }
  const terms = new Map(kept.map((s) => [s.recipient, { license: s.license, policy: s.policy }]));
  const kg = h.keyGroups;
  let recipients: Recipient[] = [];
  let keyGroups: { threshold: number; groups: Recipient[][] } | undefined;
  if (kg) {
    // The same groups and threshold, each group with its kept recipients (and the added ones, if it is theirs).
    const groups: Recipient[][] = kg.shares.map(() => []);
    for (const s of kept) groups[s.group!]!.push(recipientFor(s.recipient, s.type, opts.identities));
    if (added.length > 0) {
      if (opts.group === undefined || !groups[opts.group])
        throw new ModelsealError(
          'INVALID_ARGUMENT',
          `this package has ${groups.length} key groups: say which one the added recipients join (--group ` +
            `0..${groups.length - 1})`,
        );
      groups[opts.group]!.push(...added);
    }
    const empty = groups.findIndex((g) => g.length === 0);
    if (empty >= 0)
      throw new ModelsealError(
        'INVALID_ARGUMENT',
        `key group ${empty} would have no recipient; add one (--add … --group ${empty})`,
      );
    keyGroups = { threshold: kg.threshold, groups };
  } else {
    recipients = [...kept.map((s) => recipientFor(s.recipient, s.type, opts.identities)), ...added];
    if (recipients.length === 0)
      throw new ModelsealError('INVALID_ARGUMENT', 'a package needs at least one recipient: add one (--add)');
  }

  // Plaintext never leaves the output's file system, and only under a private (0700) folder.
  const scratch = await mkdtemp(join(dirname(resolve(opts.output)), '.modelseal-reseal-'));
  try {
    const plain = join(scratch, h.model.name);
    await open({
      input: pkg,
      output: plain,
      identities: opts.identities,
      trustedPublishers: opts.trustedPublishers,
      threads: opts.threads,
      signal: opts.signal,
    });
    // The old provenance open just verified and wrote: the new package gets its own.
    if (h.model.kind === 'folder') await rm(join(plain, SIDECARS[0]!));
    const r = await seal({
      input: plain,
      output: opts.output,
      recipients,
      ...(keyGroups ? { keyGroups } : {}),
      terms,
      publisher: opts.publisher,
      license: opts.license,
      policy: opts.policy,
      chunkSize: opts.chunkSize ?? h.chunkSize,
      ...(h.fingerprint ? { keepFingerprint: h.fingerprint } : {}),
      // The same weights: the old record still says what they are.
      ...(h.classification ? { classification: h.classification } : {}),
      force: opts.force,
      threads: opts.threads,
      onProgress: opts.onProgress,
      signal: opts.signal,
    });
    return { ...r, removed: [...remove] };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
