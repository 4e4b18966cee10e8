/** The real CC0 country database, and public addresses whose country in it is stable (checked there). */
import { defaultCountryDatabase } from '../../src/compliance/geo/index.js';

/** The CC0 database's path; a clear failure when the optional dependency is missing. */
export function realDatabase(): string {
  const path = defaultCountryDatabase();
  if (!path)
    throw new Error(
      'the CC0 country database (@ip-location-db/geo-whois-asn-country-mmdb, an optional dependency) is not ' +
        'installed: run npm install',
    );
  return path;
}

/** Public addresses and their country in the CC0 database (looked up there; stable for years). */
export const KNOWN = {
  '8.8.8.8': 'US', // Google Public DNS
  '9.9.9.9': 'US', // Quad9 (registered in the US)
  '2001:4860:4860::8888': 'US', // Google Public DNS over IPv6
  '193.99.144.80': 'DE', // heise.de, Hanover
  '194.25.2.129': 'DE', // Deutsche Telekom resolver
  '217.218.155.155': 'IR', // TCI resolver, Tehran
  '175.45.176.1': 'KP', // Star JV, 175.45.176.0/22: the country's one IPv4 block
} as const;
