/**
 * IP addresses as the geofence sees them: canonical text (IPv4-mapped IPv6 unwrapped, as Node
 * reports IPv4 peers on a dual-stack socket), CIDR ranges, and the ranges no database can place
 * (private, loopback, link-local, CGNAT, unique-local, documentation...). docs/GEOFENCING.md.
 */
import { BlockList, isIP } from 'node:net';
import { ModelsealError } from '../../errors.js';

/**
 * The canonical text of an IP address: IPv4 dotted, IPv6 compressed lower case, an IPv4-mapped
 * IPv6 address (::ffff:1.2.3.4) as its IPv4 address, a zone (%eth0) dropped. Null when not an address.
 */
export function canonicalAddress(text: string): string | null {
  const a = text.trim().replace(/%[0-9A-Za-z._~-]+$/, '');
  const family = isIP(a);
  if (family === 4) return a.split('.').map(Number).join('.');
  if (family !== 6) return null;
  // The URL parser compresses IPv6 (RFC 5952) and writes the mapped IPv4 part in hex.
  const v6 = new URL(`http://[${a}]`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(v6);
  if (!mapped) return v6;
  const hi = parseInt(mapped[1]!, 16);
  const lo = parseInt(mapped[2]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** A set of CIDR ranges, IPv4 and IPv6 (an IPv4-mapped address is checked as its IPv4 address). */
export class AddressRanges {
  readonly #list = new BlockList();
  readonly ranges: readonly string[];

  /** Parses `cidrs` ("10.0.0.0/8", "2001:db8::/32", or one address); INVALID_ARGUMENT naming a bad one. */
  constructor(cidrs: readonly string[], what = 'range') {
    const canonical: string[] = [];
    for (const cidr of cidrs) {
      const [addr = '', bits, more] = cidr.trim().split('/');
      const a = canonicalAddress(addr);
      const family = a === null ? 0 : isIP(a);
      const max = family === 4 ? 32 : 128;
      // An IPv4-mapped range (::ffff:10.0.0.0/104) is the IPv4 range it maps.
      const mapped = family === 4 && addr.includes(':') ? 96 : 0;
      const prefix = bits === undefined ? max : /^\d{1,3}$/.test(bits) ? Number(bits) - mapped : NaN;
      if (a === null || more !== undefined || !(prefix >= 0 && prefix <= max))
        throw new ModelsealError(
          'INVALID_ARGUMENT',
          `${what} ${JSON.stringify(cidr)} is not an address or CIDR range: expected e.g. 10.0.0.0/8, ` +
            '192.168.1.10 or fd00::/8',
        );
      this.#list.addSubnet(a, prefix, family === 4 ? 'ipv4' : 'ipv6');
      canonical.push(`${a}/${prefix}`);
    }
    this.ranges = canonical;
  }

  /** Whether `address` (any form {@link canonicalAddress} takes) is in one of the ranges. */
  has(address: string): boolean {
    const a = canonicalAddress(address);
    if (a === null) return false;
    return this.#list.check(a, isIP(a) === 4 ? 'ipv4' : 'ipv6');
  }
}

/**
 * Ranges no country database can place: this host, private networks, shared address space,
 * link-local, documentation and benchmarking, multicast and reserved (RFC 6890 and the IANA
 * special-purpose registries; RFC 9637 for 3fff::/20).
 */
export const NON_PUBLIC = new AddressRanges([
  '0.0.0.0/8',
  '10.0.0.0/8',
  '100.64.0.0/10',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '172.16.0.0/12',
  '192.0.0.0/24',
  '192.0.2.0/24',
  '192.168.0.0/16',
  '198.18.0.0/15',
  '198.51.100.0/24',
  '203.0.113.0/24',
  '224.0.0.0/4',
  '240.0.0.0/4',
  '::/127',
  '64:ff9b:1::/48',
  '100::/64',
  '2001:db8::/32',
  '3fff::/20',
  'fc00::/7',
  'fe80::/10',
  'ff00::/8',
]);
