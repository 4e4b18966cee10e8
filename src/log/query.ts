/**
 * Questions an auditor asks of a log's events: which entries match a filter (`audit list`), which
 * entry a release request id names (`audit proof`), and what the log says about fingerprinted
 * copies (`trace --log`). Read-only over any LogStore. docs/LOG.md.
 */
import { ModelsealError } from '../errors.js';
import {
  storeEvents,
  type ExportEvent,
  type InferAdmitEvent,
  type InferSettleEvent,
  type KmsGrantEvent,
  type LogEvent,
  type ReleaseEvent,
} from './events.js';
import type { Pseudonymizer } from './pseudonym.js';
import type { LogStore } from './store.js';

/** Which events to keep; every field given must match (an empty filter keeps everything). */
export interface EventFilter {
  /** The model's root digest, with or without its `sha256:` prefix. */
  artifact?: string;
  /** The recipient name; with `pseudonyms`, also where it was logged as a pseudonym. */
  recipient?: string;
  /** Organisation and country of a release's or an inference call's recipient, compared case-insensitively. */
  org?: string;
  country?: string;
  /** The served model's name (`gate --model`): inference entries only. */
  model?: string;
  /** Exports count as allowed, summaries of refused requests as denied; inference settle entries as neither. */
  decision?: 'allow' | 'deny';
  type?: LogEvent['type'];
  /** Under this license, or any of these. */
  license?: string | readonly string[];
  /**
   * Release and inference admit events only, each any of the values given (ISO 3166 alpha-2,
   * case-insensitive): the declared destination, one of the recipient's nationalities, the observed
   * source country. An entry without the field (logged before it existed) does not match a filter on it.
   */
  destination?: string | readonly string[];
  nationality?: string | readonly string[];
  observedCountry?: string | readonly string[];
  /** Release and inference admit events whose screening decision is this one, or any of these. */
  screening?: Screening | readonly Screening[];
  /** Milliseconds since the epoch: events at or after `since` and before `until`. */
  since?: number;
  until?: number;
  /** The service's pseudonym key, to match `recipient` against logged pseudonyms. */
  pseudonyms?: Pseudonymizer;
}

/** A logged event with its entry index. */
export interface IndexedEvent<E extends LogEvent = LogEvent> {
  index: number;
  event: E;
}

/** What `queryEvents` found: the matching events and how many entries are not modelseal events. */
export interface EventQueryResult {
  entries: IndexedEvent[];
  otherEntries: number;
}

type Screening = 'clear' | 'review' | 'hit';

/** The values the filters take: decisions, event types and screening decisions. */
export const EVENT_DECISIONS: readonly string[] = ['allow', 'deny'];
export const EVENT_TYPES: readonly string[] = [
  'export',
  'release',
  'denials',
  'screening-override',
  'kms-grant',
  'trace',
  'infer-admit',
  'infer-settle',
];
export const SCREENING_DECISIONS: readonly string[] = ['clear', 'review', 'hit'];

/** "a, b or c". */
export const oneOf = (values: readonly string[]) => `${values.slice(0, -1).join(', ')} or ${values.at(-1)!}`;

/** A filter value as a list: undefined and an empty list both mean "no filter". */
function anyOf<T extends string>(v: T | readonly T[] | undefined): readonly T[] {
  return v === undefined ? [] : typeof v === 'string' ? [v] : v;
}

/** Filters on fields only release events (and inference admit entries) carry. */
const RELEASE_ONLY = ['destination', 'nationality', 'observedCountry', 'screening'] as const;

function checkFilter(f: EventFilter): void {
  if (f.decision !== undefined && !EVENT_DECISIONS.includes(f.decision))
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `filter.decision ${JSON.stringify(f.decision)}: expected ${oneOf(EVENT_DECISIONS)}`,
    );
  if (f.type !== undefined && !EVENT_TYPES.includes(f.type))
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `filter.type ${JSON.stringify(f.type)}: expected ${oneOf(EVENT_TYPES)}`,
    );
  const badScreening = anyOf(f.screening).find((d) => !SCREENING_DECISIONS.includes(d));
  if (badScreening !== undefined)
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `filter.screening ${JSON.stringify(badScreening)}: expected ${oneOf(SCREENING_DECISIONS)}`,
    );
  for (const k of ['since', 'until'] as const) {
    const t = f[k];
    if (t !== undefined && !Number.isFinite(t))
      throw new ModelsealError('INVALID_ARGUMENT', `filter.${k}: expected a time in milliseconds since the epoch`);
  }
}

/** A predicate over events that keeps those matching `f`; throws INVALID_ARGUMENT on a malformed filter. */
export function eventMatcher(f: EventFilter): (e: LogEvent) => boolean {
  checkFilter(f);
  const same = (a: string | null | undefined, b: string) => (a ?? '').toLowerCase() === b.toLowerCase();
  const inTime = (e: LogEvent) => {
    const t = Date.parse(e.time);
    return (f.since === undefined || t >= f.since) && (f.until === undefined || t < f.until);
  };
  const licenses = anyOf(f.license);
  const releaseOnly = RELEASE_ONLY.some((k) => anyOf(f[k]).length > 0);
  const matchesRelease = releaseMatcher(f);
  const onAdmit = !!(f.artifact || f.org || f.country) || licenses.length > 0 || releaseOnly;
  const matchesInference = inferenceMatcher(
    f,
    onAdmit,
    (e) =>
      (!f.artifact || e.artifact === sha256Ref(f.artifact)) &&
      (!f.org || same(e.org, f.org)) &&
      (!f.country || same(e.country, f.country)) &&
      (licenses.length === 0 || (e.license !== null && licenses.includes(e.license))) &&
      (!releaseOnly || matchesRelease(e)),
  );
  return (e) => {
    if (f.model && e.type !== 'infer-admit' && e.type !== 'infer-settle') return false;
    // A summary of refused requests names only a source: it matches the filters on type, decision and time.
    if (e.type === 'denials')
      return (
        (!f.type || f.type === 'denials') &&
        (!f.decision || f.decision === 'deny') &&
        !f.artifact &&
        !f.recipient &&
        !f.org &&
        !f.country &&
        licenses.length === 0 &&
        !releaseOnly &&
        inTime(e)
      );
    // An operator's screening override names a party and its organisation, no model, license or decision.
    if (e.type === 'screening-override')
      return (
        (!f.type || f.type === e.type) &&
        !f.decision &&
        !f.artifact &&
        !f.country &&
        !f.license &&
        (!f.recipient || e.recipient === f.recipient) &&
        (!f.org || same(e.org, f.org)) &&
        inTime(e)
      );
    // A KMS grant names a package's model, recipient and license, as an export does.
    if (e.type === 'kms-grant')
      return (
        (!f.type || f.type === e.type) &&
        (!f.decision || f.decision === 'allow') &&
        (!f.artifact || namesModel(e, f.artifact)) &&
        (!f.recipient || e.recipient === f.recipient) &&
        !f.org &&
        !f.country &&
        (licenses.length === 0 || licenses.includes(e.license)) &&
        !releaseOnly &&
        inTime(e)
      );
    // A trace names the original model and the recipients it accused; it decides nothing.
    if (e.type === 'trace')
      return (
        (!f.type || f.type === e.type) &&
        !f.decision &&
        (!f.artifact || e.original === sha256Ref(f.artifact)) &&
        (!f.recipient || e.accused.some((a) => a.recipient === f.recipient)) &&
        !f.org &&
        !f.country &&
        licenses.length === 0 &&
        !releaseOnly &&
        inTime(e)
      );
    if (e.type === 'infer-admit' || e.type === 'infer-settle') return matchesInference(e);
    const r = e.type === 'release' ? e : null;
    return (
      (!f.type || e.type === f.type) &&
      (!f.decision || (r ? r.decision === f.decision : f.decision === 'allow')) &&
      (!f.artifact || namesModel(e, f.artifact)) &&
      (!f.recipient || (f.pseudonyms ? f.pseudonyms.matches(e.recipient, f.recipient) : e.recipient === f.recipient)) &&
      (!f.org || (r !== null && same(r.org, f.org))) &&
      (!f.country || (r !== null && same(r.country, f.country))) &&
      (licenses.length === 0 || (e.license !== null && licenses.includes(e.license))) &&
      (!releaseOnly || (r !== null && matchesRelease(r))) &&
      inTime(e)
    );
  };
}

/** A digest with its `sha256:` prefix, given with or without it. */
const sha256Ref = (digest: string) => (digest.startsWith('sha256:') ? digest : `sha256:${digest}`);

/**
 * Whether `e` concerns model `digest` (with or without `sha256:`): its artifact, or for a release of
 * a fingerprinted copy the original model its stanza names.
 */
function namesModel(e: ExportEvent | ReleaseEvent | KmsGrantEvent, digest: string): boolean {
  const d = sha256Ref(digest);
  return e.artifact === d || (e.type === 'release' && e.model === d);
}

/**
 * The filters over inference entries. A settle entry carries only the call's id, recipient and model:
 * the filters on what its admit entry records (`onAdmit`: model digest, organisation, country,
 * license, the compliance fields) are answered by that admit entry, so the predicate must see the
 * log in order.
 * A settle decides nothing: it matches no decision filter.
 */
function inferenceMatcher(
  f: EventFilter,
  onAdmit: boolean,
  admitFilters: (e: InferAdmitEvent) => boolean,
): (e: InferAdmitEvent | InferSettleEvent) => boolean {
  const admitted = new Set<string>(); // ids of allowed admits that matched, awaiting their settle
  const named = (recipient: string | null) =>
    !f.recipient || (f.pseudonyms ? f.pseudonyms.matches(recipient, f.recipient) : recipient === f.recipient);
  const common = (e: InferAdmitEvent | InferSettleEvent, t: number) =>
    (!f.type || f.type === e.type) &&
    named(e.recipient) &&
    (!f.model || e.model === f.model) &&
    (f.since === undefined || t >= f.since) &&
    (f.until === undefined || t < f.until);
  return (e) => {
    if (e.type === 'infer-admit') {
      const matches = admitFilters(e);
      if (matches && e.decision === 'allow') admitted.add(e.id);
      return matches && (!f.decision || f.decision === e.decision) && common(e, Date.parse(e.time));
    }
    const ofAdmit = admitted.delete(e.id);
    return (ofAdmit || !onAdmit) && !f.decision && common(e, Date.parse(e.time));
  };
}

/** The filters only releases and inference admits can match, each "any of" its values; absent fields match none. */
function releaseMatcher(f: EventFilter): (r: ReleaseEvent | InferAdmitEvent) => boolean {
  const upper = (v: string | readonly string[] | undefined) => anyOf(v).map((c) => c.toUpperCase());
  const destinations = upper(f.destination);
  const nationalities = upper(f.nationality);
  const observed = upper(f.observedCountry);
  const screenings = anyOf(f.screening);
  const has = (want: readonly string[], got: string | null | undefined) =>
    want.length === 0 || (!!got && want.includes(got.toUpperCase()));
  return (r) =>
    has(destinations, r.destination) &&
    (nationalities.length === 0 || (r.nationalities ?? []).some((n) => nationalities.includes(n.toUpperCase()))) &&
    // An unknown observed country is logged as "": it matches no country.
    has(observed, r.observed?.country) &&
    (screenings.length === 0 || (r.screening !== undefined && screenings.includes(r.screening.decision)));
}

/** The events of `store` (up to its committed size) that match `filter`, in log order. */
export async function queryEvents(store: LogStore, filter: EventFilter = {}): Promise<EventQueryResult> {
  const keep = eventMatcher(filter);
  const entries: IndexedEvent[] = [];
  let otherEntries = 0;
  for await (const { index, event } of storeEvents(store)) {
    if (event === null) otherEntries++;
    else if (keep(event)) entries.push({ index, event });
  }
  return { entries, otherEntries };
}

/**
 * The index of the release entry logged for request `requestId` (32 hex digits), or of the admit
 * entry of the inference call with that id; undefined when there is none.
 */
export async function findByRequestId(store: LogStore, requestId: string): Promise<number | undefined> {
  if (!/^[0-9a-f]{32}$/.test(requestId))
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `request id ${JSON.stringify(requestId)}: expected 32 lowercase hex digits`,
    );
  for await (const { index, event } of storeEvents(store)) {
    if (event?.type === 'release' && event.request === requestId) return index;
    if (event?.type === 'infer-admit' && event.id === requestId) return index;
  }
  return undefined;
}

/** A fingerprinted copy as the registry records it: its id, the package it was sealed in, its root digest. */
export interface MarkedCopy {
  id: string;
  package: string | null;
  marked: string;
}

/** Whether `event` concerns `copy`: its export (by fingerprint id or package), or a release of its package or copy. */
function concerns(event: ExportEvent | ReleaseEvent, copy: MarkedCopy): boolean {
  // A null on either side (a copy never sealed, a request that named no package) matches nothing.
  const samePackage = copy.package !== null && event.package === copy.package;
  if (event.type === 'export') return event.fingerprint === copy.id || samePackage;
  return samePackage || (event.artifact !== null && event.artifact === copy.marked);
}

/**
 * The log's story of each holder's fingerprinted copies (keyed as `holders`): every export and
 * release event that concerns one of its copies, in log order. Summaries of refused requests name
 * no copy and are never included.
 */
export async function copyEvents(
  store: LogStore,
  holders: ReadonlyMap<string, readonly MarkedCopy[]>,
): Promise<Map<string, IndexedEvent<ExportEvent | ReleaseEvent>[]>> {
  const out = new Map<string, IndexedEvent<ExportEvent | ReleaseEvent>[]>([...holders.keys()].map((k) => [k, []]));
  for await (const { index, event } of storeEvents(store)) {
    if (!event || (event.type !== 'export' && event.type !== 'release')) continue;
    for (const [holder, copies] of holders) {
      if (copies.some((c) => concerns(event, c))) out.get(holder)!.push({ index, event });
    }
  }
  return out;
}
