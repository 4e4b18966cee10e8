/**
 * Data, not code: autonomous systems (ASNs) whose addresses are hosting (cloud and server rental)
 * or anonymiser (commercial VPN exit) networks, for the `network` of an observation when an ASN
 * database is given (`serve --geoip-asn`). Each entry names the operator registered for the ASN in
 * its public registration: the network's PeeringDB record (https://www.peeringdb.com/asn/<number>)
 * and its RIR's WHOIS. Compiled on the date below from those registrations as known then, on a
 * machine without network access: check an entry there before you rely on it. A starting point, not
 * a complete list: hosting networks are many, and VPN operators also rent addresses in the hosting
 * networks listed here. No default policy uses `observedNetwork`; an operator's policy may
 * (docs/GEOFENCING.md).
 */

export interface NetworkKindList {
  /** When the list was compiled (ISO 8601 date). */
  date: string;
  source: string;
  hosting: Record<string, string>;
  anonymizer: Record<string, string>;
}

export const NETWORK_KINDS: NetworkKindList = {
  date: '2026-12-05',
  source: 'https://www.peeringdb.com/asn/<number> and RIR WHOIS (the operator registered for each ASN)',
  hosting: {
    '8075': 'Microsoft (Azure)',
    '12876': 'Scaleway (Online SAS)',
    '14061': 'DigitalOcean',
    '14618': 'Amazon (AWS)',
    '16276': 'OVHcloud',
    '16509': 'Amazon (AWS)',
    '20473': 'Vultr (The Constant Company)',
    '24940': 'Hetzner Online',
    '31898': 'Oracle Cloud',
    '36351': 'IBM Cloud (SoftLayer)',
    '45102': 'Alibaba Cloud',
    '51167': 'Contabo',
    '60781': 'Leaseweb Netherlands',
    '63949': 'Akamai Connected Cloud (Linode)',
    '132203': 'Tencent Cloud',
    '396982': 'Google Cloud',
  },
  anonymizer: {
    '9009': 'M247 (exit networks of several commercial VPNs)',
    '39351': '31173 Services AB (Mullvad VPN)',
    '60068': 'Datacamp Limited (CDN77; exit networks of several commercial VPNs)',
    '136787': 'TEFINCOM S.A. (NordVPN)',
    '147049': 'PacketHub S.A. (NordVPN)',
  },
};

/** The kind of network an autonomous system number is, by {@link NETWORK_KINDS}: "" when not listed. */
export function networkKind(asn: number | undefined): '' | 'hosting' | 'anonymizer' {
  if (asn === undefined) return '';
  const key = String(asn);
  if (Object.hasOwn(NETWORK_KINDS.anonymizer, key)) return 'anonymizer';
  return Object.hasOwn(NETWORK_KINDS.hosting, key) ? 'hosting' : '';
}
