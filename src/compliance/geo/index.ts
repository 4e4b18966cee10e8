/**
 * Geofencing: where a request came from (the client behind trusted proxies) and where that is
 * (an offline country database). The release service asks {@link SourceLocator.locate} for every
 * request. docs/GEOFENCING.md.
 */
import { unknownObservation, type GeoObservation } from '../types.js';
import { AddressRanges } from './address.js';
import { clientAddress, type ClientAddress, type ForwardedHeader, type ForwardingHeaders } from './forwarded.js';
import type { GeoLocator } from './locator.js';

export { AddressRanges, canonicalAddress, NON_PUBLIC } from './address.js';
export {
  clientAddress,
  parseForwarded,
  parseXForwardedFor,
  type ClientAddress,
  type ForwardedHeader,
  type ForwardingHeaders,
  type Hop,
} from './forwarded.js';
export {
  defaultCountryDatabase,
  DEFAULT_GEO_MAX_AGE_DAYS,
  DEFAULT_GEO_PACKAGE,
  GeoLocator,
  type GeoDatabaseInfo,
  type GeoLocatorOptions,
} from './locator.js';
export { NETWORK_KINDS, networkKind } from './network-kinds.js';

/** Where one request came from: the client address and what the databases say of it. */
export interface SourceObservation {
  client: ClientAddress;
  observed: GeoObservation;
}

/** Finds and locates the client of each request (the rightmost untrusted hop behind trusted proxies). */
export class SourceLocator {
  readonly locator: GeoLocator | null;
  readonly trusted: AddressRanges;
  readonly header: ForwardedHeader;

  /** `locator` null: no geolocation (every observation unknown); `trusted`: the proxies' CIDR ranges. */
  constructor(o: { locator?: GeoLocator | null; trustedProxies?: readonly string[]; header?: ForwardedHeader } = {}) {
    this.locator = o.locator ?? null;
    this.trusted = new AddressRanges(o.trustedProxies ?? [], '--trusted-proxy');
    this.header = o.header ?? 'any';
  }

  /** The client of a request from TCP peer `peer` with these headers, and its observation. */
  locate(peer: string, headers: ForwardingHeaders = {}): SourceObservation {
    const client = clientAddress(peer, headers, this.trusted, this.header);
    const observed =
      this.locator && client.locatable ? this.locator.locate(client.address) : this.#unknown(client.address);
    return { client, observed };
  }

  #unknown(address: string): GeoObservation {
    const o = unknownObservation(address);
    if (!this.locator) return o;
    const ageDays = this.locator.ageDays;
    return { ...o, database: this.locator.country.digest, ageDays, stale: ageDays > this.locator.maxAgeDays };
  }
}
