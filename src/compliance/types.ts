/**
 * The shapes the compliance wing shares: list entities as every import format normalises them,
 * screening queries and results (with their explanations), what the release service learns of a
 * recipient's screening, and what it observes of a request's source address. docs/SCREENING.md,
 * docs/GEOFENCING.md.
 */
import type { LoggedObservation, LoggedScreening } from '../log/events.js';

/** The FollowTheMoney schemata a list entity may have; CSL types map onto them (docs/SCREENING.md). */
export type EntitySchema = 'Person' | 'Company' | 'Organization' | 'LegalEntity' | 'Vessel' | 'Airplane';

/** One listed party, normalised from any import format. Strings are NFC; countries ISO 3166 alpha-2, upper case. */
export interface ListEntity {
  /** Unique within its snapshot: the list's own id (CSL `id`/`_id`, FtM `id`, the own CSV's `id`). */
  id: string;
  schema: EntitySchema;
  /** The primary name first, then further names of the same weight (FtM `name` values). At least one. */
  names: string[];
  /** Strong aliases (CSL `alt_names`, FtM `alias`, `previousName`): a match on one can be a hit. */
  aliases: string[];
  /** Weak aliases (FtM `weakAlias`): a match on one alone gives review, never hit. */
  weakAliases: string[];
  /** Countries of any kind: address, nationality, citizenship, jurisdiction. */
  countries: string[];
  /** Dates of birth or incorporation, "YYYY", "YYYY-MM" or "YYYY-MM-DD". */
  dob: string[];
  /** Identifiers: registration, tax, passport, IMO numbers, as printed. */
  ids: string[];
  /** The list the entity comes from within its source (CSL `source` such as "SDN"; FtM datasets). */
  list: string;
  /** Sanctions programmes, when the list names them. */
  programs: string[];
}

export type ScreeningType = 'person' | 'company' | 'organization' | 'vessel' | 'any';

export interface ScreeningQuery {
  /** The caller's id for the query (batch files); the CLI numbers queries without one. */
  id?: string;
  name: string;
  type?: ScreeningType;
  countries?: string[];
  /** "YYYY", "YYYY-MM" or "YYYY-MM-DD". */
  dob?: string;
  ids?: string[];
}

/** Why an entity scored what it did: which of its names, the aligned tokens, the features and their weights. */
export interface MatchExplanation {
  /** The entity's name that matched best, as listed. */
  matched: string;
  nameKind: 'name' | 'alias' | 'weakAlias';
  /** Query token against entity token (normalised), their similarity 0–1, and the token's weight. */
  tokens: { query: string; entity: string; similarity: number; weight: number }[];
  /** Each feature that moved the score (name similarity, dob, country, id, number, weak alias…) and by how much. */
  features: { feature: string; value: number; detail?: string }[];
}

export type ScreeningDecision = 'clear' | 'review' | 'hit';

export interface ScreeningMatch {
  entity: { id: string; name: string; schema: EntitySchema; source: string };
  /** 0–1. */
  score: number;
  decision: 'review' | 'hit';
  explanation: MatchExplanation;
}

export interface ScreeningResult {
  id: string;
  query: ScreeningQuery;
  decision: ScreeningDecision;
  /** Every entity scoring at least the review threshold, best first, up to the limit. */
  matches: ScreeningMatch[];
}

/** An index over loaded entities that screens queries (src/compliance/match). */
export interface Screener {
  screen(query: ScreeningQuery, options?: { limit?: number }): ScreeningResult;
}

/** What the release service records of a recipient's screening at a release (src/log/events.ts). */
export type RecipientScreening = LoggedScreening;

/** What the service observed of a request's source (src/compliance/geo; src/log/events.ts). */
export type GeoObservation = LoggedObservation;

/** The party a release or a registration screens: the recipient's name (slug), organisation and countries. */
export interface ScreenedParty {
  name: string;
  org: string;
  /** Nationalities, citizenships and country: qualifiers for the matcher. */
  countries: string[];
}

/**
 * The screening the release service asks at every release and registration: against the snapshots
 * active now, cached per party and snapshot digests (src/compliance/lists).
 */
export interface PartyScreening {
  screenParty(party: ScreenedParty): RecipientScreening;
  /** The full results for the party's queries (name, organisation), with every match and its explanation. */
  explainParty(party: ScreenedParty): ScreeningResult[];
}

export function unknownObservation(address: string): GeoObservation {
  return { address, country: '', network: '', database: '', ageDays: 0, stale: false };
}
