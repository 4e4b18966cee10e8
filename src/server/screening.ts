/**
 * Screening a registered recipient, at every release and at registration: against the lists the
 * service has active (src/compliance), by name, organisation, nationalities, citizenships and
 * country. docs/SERVER.md, "Screening".
 */
import type { PartyScreening, ScreenedParty } from '../compliance/types.js';
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

/**
 * The recipient's screening (the screening caches it per party and snapshots); undefined, after
 * `onError`, when the lists cannot be screened: the release is then denied (fail closed).
 */
export function screenRecipient(
  screening: PartyScreening | undefined,
  r: RecipientRecord,
  onError: (e: unknown) => void,
): LoggedScreening | undefined {
  if (!screening) return NO_LISTS;
  try {
    return screening.screenParty(screenedParty(r));
  } catch (e) {
    onError(e);
    return undefined;
  }
}
