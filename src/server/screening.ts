/**
 * Screening a registered recipient, at every release and at registration: against the lists the
 * service has active (src/compliance), by name, organisation, nationalities, citizenships and
 * country. docs/SERVER.md, "Screening".
 */
import type { PartyScreening, ScreenedParty, ScreeningResult } from '../compliance/types.js';
import type { LoggedScreening } from '../log/events.js';
import { recipientNationalities, type RecipientRecord } from './recipients.js';

/** What a service without screening lists records: clear, against no lists. */
export const NO_LISTS: LoggedScreening = { decision: 'clear', lists: [], stale: [], best: null };

/** The party screened for a recipient: its name, organisation, and every country it is tied to. */
export function screenedParty(
  r: Pick<RecipientRecord, 'name' | 'org' | 'country' | 'nationalities' | 'citizenships'>,
): ScreenedParty {
  return { name: r.name, org: r.org, countries: [...new Set([...recipientNationalities(r), r.country])] };
}

/** Every listed party the results flag, "<source>:<entity id>", sorted, once each. */
export function flaggedEntities(results: readonly ScreeningResult[]): string[] {
  return [...new Set(results.flatMap((r) => r.matches.map((m) => `${m.entity.source}:${m.entity.id}`)))].sort();
}

const RANK = { clear: 0, review: 1, hit: 2 } as const;

/**
 * The recipient's screening (the screening caches it per party and snapshots), marked `overridden`
 * when its registration's override covers it: no worse a decision than the one overridden, and every
 * party flagged now among those the override named. Undefined, after `onError`, when the lists
 * cannot be screened: the release is then denied (fail closed).
 */
export function screenRecipient(
  screening: PartyScreening | undefined,
  r: RecipientRecord,
  onError: (e: unknown) => void,
): LoggedScreening | undefined {
  if (!screening) return NO_LISTS;
  try {
    const party = screenedParty(r);
    const s = screening.screenParty(party);
    const o = r.screeningOverride;
    // Records written before overrides named their parties have no `entities`: they cover nothing.
    if (s.decision === 'clear' || !o?.entities || RANK[s.decision] > RANK[o.screening.decision]) return s;
    const covered = new Set(o.entities);
    return flaggedEntities(screening.explainParty(party)).every((e) => covered.has(e))
      ? { ...s, overridden: o.log }
      : s;
  } catch (e) {
    onError(e);
    return undefined;
  }
}
