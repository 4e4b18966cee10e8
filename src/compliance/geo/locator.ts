/**
 * Offline geolocation of request sources: a MaxMind-format (mmdb) country database, read with
 * mmdb-lib, and optionally an ASN database that marks hosting and anonymiser networks. Everything a
 * location rested on is named in the observation: the database's digest, its age, whether it is
 * past its maximum age. docs/GEOFENCING.md.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { Reader, type Response } from 'mmdb-lib';
import { ModelsealError } from '../../errors.js';
import type { GeoObservation } from '../types.js';
import { canonicalAddress, NON_PUBLIC } from './address.js';
import { networkKind } from './network-kinds.js';

/** The CC0 country database the locator uses when none is named (an optional dependency). */
export const DEFAULT_GEO_PACKAGE = '@ip-location-db/geo-whois-asn-country-mmdb';
export const DEFAULT_GEO_MAX_AGE_DAYS = 30;
const DAY_MS = 86_400_000;

/** One opened database, as `serve` reports it at start. */
export interface GeoDatabaseInfo {
  path: string;
  /** "sha256:<hex>" of the file. */
  digest: string;
  /** The mmdb metadata's database_type, e.g. "GeoLite2-Country". */
  type: string;
  /** When it was built (the metadata's build_epoch). */
  built: Date;
}

/** Options of {@link GeoLocator.open}. */
export interface GeoLocatorOptions {
  /** The country database (mmdb). */
  country: string;
  /** An ASN database (mmdb, GeoLite2-ASN layout), for the observation's `network`. */
  asn?: string;
  /** Age in days past which the country database is stale (default 30). */
  maxAgeDays?: number;
  now?: () => Date;
}

/** Record shapes the locator reads: MaxMind GeoIP2/GeoLite2 and ip-location-db. */
interface GeoRecord {
  country?: { iso_code?: unknown };
  registered_country?: { iso_code?: unknown };
  country_code?: unknown;
  autonomous_system_number?: unknown;
}

type Db = Reader<Response>;

/** Addresses of long-lived public services, looked up to check a database holds the data it should. */
const PROBES = ['8.8.8.8', '1.1.1.1', '9.9.9.9', '193.0.14.129', '2001:4860:4860::8888', '2606:4700:4700::1111'];

const countryOf = (r: GeoRecord | null): string => {
  const code = r?.country?.iso_code ?? r?.country_code ?? r?.registered_country?.iso_code;
  return typeof code === 'string' && /^[A-Z]{2}$/.test(code) ? code : '';
};
const asnOf = (r: GeoRecord | null): number | undefined =>
  typeof r?.autonomous_system_number === 'number' ? r.autonomous_system_number : undefined;

/** The record of `address` (canonical); none for an IPv6 address in an IPv4-only database. */
const lookup = (reader: Db, address: string): GeoRecord | null =>
  reader.metadata.ipVersion === 4 && address.includes(':') ? null : (reader.get(address) as GeoRecord | null);

/** Reads and checks one mmdb file: GEO_DATABASE_INVALID naming it when it is not one, or lacks the data. */
async function openDatabase(path: string, kind: 'country' | 'ASN'): Promise<{ reader: Db; info: GeoDatabaseInfo }> {
  const invalid = (why: string, cause?: unknown) =>
    new ModelsealError(
      'GEO_DATABASE_INVALID',
      `${path}: ${why}; give a MaxMind-format ${kind} database (.mmdb), or --geoip none (docs/GEOFENCING.md)`,
      cause === undefined ? undefined : { cause },
    );
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (cause) {
    throw invalid('cannot be read', cause);
  }
  let reader: Db;
  try {
    reader = new Reader<Response>(bytes);
  } catch (cause) {
    throw invalid('is not a MaxMind DB file', cause);
  }
  const m = reader.metadata;
  const type = typeof m.databaseType === 'string' ? m.databaseType : '';
  const has = kind === 'country' ? (r: GeoRecord | null) => countryOf(r) !== '' : (r: GeoRecord | null) => !!asnOf(r);
  const named = kind === 'country' ? /country|city|enterprise/i.test(type) : /asn|isp/i.test(type);
  let found: boolean;
  try {
    found = PROBES.some((ip) => (m.ipVersion === 6 || !ip.includes(':')) && has(lookup(reader, ip)));
  } catch (cause) {
    throw invalid('cannot be searched (a damaged file?)', cause);
  }
  if (!found && !named) throw invalid(`holds no ${kind} data (database type ${JSON.stringify(type)})`);
  const built = m.buildEpoch instanceof Date ? m.buildEpoch : new Date(Number(m.buildEpoch) * 1000);
  if (Number.isNaN(built.getTime())) throw invalid('has no build time in its metadata');
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  return { reader, info: { path, digest, type, built } };
}

/** Locates addresses in a country database (and an ASN database), offline. */
export class GeoLocator {
  readonly country: GeoDatabaseInfo;
  readonly asn: GeoDatabaseInfo | null;
  readonly maxAgeDays: number;
  readonly #countries: Db;
  readonly #asns: Db | null;
  readonly #now: () => Date;

  private constructor(
    country: { reader: Db; info: GeoDatabaseInfo },
    asn: { reader: Db; info: GeoDatabaseInfo } | null,
    maxAgeDays: number,
    now: () => Date,
  ) {
    this.country = country.info;
    this.#countries = country.reader;
    this.asn = asn?.info ?? null;
    this.#asns = asn?.reader ?? null;
    this.maxAgeDays = maxAgeDays;
    this.#now = now;
  }

  /** Opens the databases; GEO_DATABASE_INVALID naming a file that is not one, INVALID_ARGUMENT for a bad age. */
  static async open(o: GeoLocatorOptions): Promise<GeoLocator> {
    const maxAgeDays = o.maxAgeDays ?? DEFAULT_GEO_MAX_AGE_DAYS;
    if (!(Number.isFinite(maxAgeDays) && maxAgeDays > 0))
      throw new ModelsealError('INVALID_ARGUMENT', `the maximum age of a geolocation database must be > 0 days`);
    const country = await openDatabase(o.country, 'country');
    const asn = o.asn !== undefined ? await openDatabase(o.asn, 'ASN') : null;
    return new GeoLocator(country, asn, maxAgeDays, o.now ?? (() => new Date()));
  }

  /** The country database's age in whole days, now. */
  get ageDays(): number {
    return Math.max(0, Math.floor((this.#now().getTime() - this.country.built.getTime()) / DAY_MS));
  }

  /** Whether the country database is past its maximum age. */
  get stale(): boolean {
    return this.ageDays > this.maxAgeDays;
  }

  /**
   * What the databases say of `address`: its country ("" when unknown, or in a private, loopback,
   * link-local, shared or documentation range), the network kind, the database's digest and age.
   * An `address` that is not an IP address (a hidden hop: "unknown") is located nowhere.
   */
  locate(address: string): GeoObservation {
    const a = canonicalAddress(address);
    const located = a !== null && !NON_PUBLIC.has(a);
    const ageDays = this.ageDays;
    return {
      address: a ?? address,
      country: located ? countryOf(lookup(this.#countries, a)) : '',
      network: located && this.#asns ? networkKind(asnOf(lookup(this.#asns, a))) : '',
      database: this.country.digest,
      ageDays,
      stale: ageDays > this.maxAgeDays,
    };
  }
}

/** The path of the CC0 country database when its package is installed; null when it is not. */
export function defaultCountryDatabase(): string | null {
  try {
    return createRequire(import.meta.url).resolve(`${DEFAULT_GEO_PACKAGE}/geo-whois-asn-country.mmdb`);
  } catch {
    return null;
  }
}
