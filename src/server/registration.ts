/**
 * Screening a recipient before it is registered (`recipient issue|register`): a review or hit
 * refuses, unless the operator overrides it with a reason, which is logged — the match, the reason
 * and who decided — before anything is written; if the log cannot take it, nothing is registered.
 * docs/SERVER.md, "Screening".
 */
import { ActiveLists, migrateDeniedParties } from '../compliance/lists/index.js';
import type { PartyScreening } from '../compliance/types.js';
import { ModelsealError } from '../errors.js';
import type { LoggedScreening, ScreeningOverrideEvent } from '../log/events.js';
import { checkRecipientAttributes, type RecipientAttributesInput, type ScreeningOverride } from './recipients.js';
import { flaggedEntities, screenedParty } from './screening.js';

/**
 * The screening of the data directory `data`'s active lists as they are now (no watching), for the
 * CLI's registrations; the old denied-party list is migrated first. Library callers pass their own
 * PartyScreening to {@link screenRegistration}.
 */
export async function openPartyScreening(data: string): Promise<PartyScreening> {
  await migrateDeniedParties(data);
  const lists = await ActiveLists.open(data, { trigger: () => () => undefined });
  lists.close();
  return lists;
}

/** The operator's decision to register a flagged party anyway. */
export interface RegistrationOverride {
  reason: string;
  /** Who decided (default in the CLI: the operating-system user). */
  decidedBy: string;
}

/** Where an override is recorded: a local log or a release service's (src/package/exportlog.ts). */
export interface OverrideLog {
  readonly origin: string;
  /** Appends the event; resolves to its index, or throws when the log did not take it. */
  record(event: ScreeningOverrideEvent): Promise<number>;
}

export interface RegistrationScreeningOptions {
  screening: PartyScreening;
  override?: RegistrationOverride;
  /** Opens the log an override goes to: called only when there is one to record. */
  log?: () => Promise<OverrideLog>;
  /** The key store's publisher key id, "sha256:…", named in the override event. */
  publisher: string;
  now?: Date;
}

const describe = (s: LoggedScreening) =>
  s.best ? `"${s.best.name}" (${s.best.source} ${s.best.entity}, score ${s.best.score})` : 'a listed party';

/**
 * Screens the party `name` with `attrs` before it is registered. Clear: undefined. Review or hit
 * without an override: SCREENING_REVIEW or SCREENING_HIT naming the best match, with every match
 * in `details.results`. With an override: the override, once the log has recorded it.
 */
export async function screenRegistration(
  name: string,
  attrs: RecipientAttributesInput,
  o: RegistrationScreeningOptions,
): Promise<ScreeningOverride | undefined> {
  const a = checkRecipientAttributes(attrs);
  const party = screenedParty({ name, ...a });
  const screening = o.screening.screenParty(party);
  if (screening.decision === 'clear') return undefined;
  const results = o.screening.explainParty(party);
  if (!o.override) {
    const hit = screening.decision === 'hit';
    throw new ModelsealError(
      hit ? 'SCREENING_HIT' : 'SCREENING_REVIEW',
      `${name} (${a.org}) ${hit ? 'matches' : 'resembles'} ${describe(screening)} on a screening list; nothing was ` +
        `registered. ${hit ? 'Do not transfer to it' : 'Review the matches'}; to register it anyway, record your ` +
        `decision with --override-screening "<reason>"`,
      { details: { screening, results } },
    );
  }
  const reason = o.override.reason.trim();
  const decidedBy = o.override.decidedBy.trim();
  if (!reason || !decidedBy)
    throw new ModelsealError('INVALID_ARGUMENT', '--override-screening needs a reason, and --decided-by a name');
  const time = (o.now ?? new Date()).toISOString();
  const event: ScreeningOverrideEvent = {
    v: 1,
    type: 'screening-override',
    time,
    recipient: name,
    org: a.org,
    countries: [...party.countries].sort(),
    screening,
    entities: flaggedEntities(results),
    reason,
    decidedBy,
    publisher: o.publisher,
  };
  if (!o.log) throw new ModelsealError('LOG_UNAVAILABLE', 'an override must be logged: give the log (--log)');
  const log = await o.log();
  let index: number;
  try {
    index = await log.record(event);
  } catch (cause) {
    throw new ModelsealError(
      'LOG_UNAVAILABLE',
      `the log ${log.origin} did not record the screening override, so ${name} was not registered; retry when it ` +
        'takes entries',
      { cause },
    );
  }
  return { time, reason, decidedBy, screening, entities: event.entities, log: { origin: log.origin, index } };
}
