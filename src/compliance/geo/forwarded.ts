/**
 * The client address of a request behind proxies: X-Forwarded-For and RFC 7239 Forwarded, honoured
 * only when the TCP peer is a trusted proxy, walked from the right past trusted hops to the first
 * untrusted one (the leftmost entries are whatever the client wrote). Pure functions; a malformed
 * header is ignored (the peer is the client), never an error. docs/GEOFENCING.md.
 */
import { canonicalAddress, type AddressRanges } from './address.js';

/** One hop of a forwarding chain: an address, or an identifier that hides it ("unknown", "_obfuscated"). */
export type Hop = { address: string } | { hidden: string };

/** Which forwarding header the trusted proxies write. */
export type ForwardedHeader = 'x-forwarded-for' | 'forwarded' | 'any';

/** Where a request came from: the address to locate (or a hidden hop's identifier) and how it was found. */
export interface ClientAddress {
  /** The canonical address, or the hiding identifier of the first untrusted hop ("unknown", "_abc"). */
  address: string;
  /** False when the address is a hidden identifier: there is nothing to locate. */
  locatable: boolean;
  /** "peer": the TCP peer itself; "forwarded": from a header written by a trusted proxy. */
  via: 'peer' | 'forwarded';
}

/** Header values as Node gives them: one string, several (repeated headers), or none. */
export type HeaderValue = string | readonly string[] | undefined;

/** The longest header value read; a longer one is malformed (a chain of a few hundred hops at most). */
const MAX_HEADER = 8192;
const OBFUSCATED = /^_[A-Za-z0-9._-]{1,64}$/;

const joined = (v: HeaderValue) => (v === undefined ? undefined : typeof v === 'string' ? v : v.join(','));

/** A node (address, [address]:port, unknown, _obfuscated) as one hop; null when malformed. */
function hopOf(node: string, bracketsRequired: boolean): Hop | null {
  if (node === 'unknown' || OBFUSCATED.test(node)) return { hidden: node };
  const bracket = /^\[([^\]]+)\](?::(\d{1,5}|_[A-Za-z0-9._-]+))?$/.exec(node);
  if (bracket) {
    const a = canonicalAddress(bracket[1]!);
    return a !== null && bracket[1]!.includes(':') ? { address: a } : null;
  }
  const v4port = /^(\d{1,3}(?:\.\d{1,3}){3})(?::(\d{1,5}|_[A-Za-z0-9._-]+))?$/.exec(node);
  if (v4port) {
    const a = canonicalAddress(v4port[1]!);
    return a === null ? null : { address: a };
  }
  // A bare IPv6 address: X-Forwarded-For writes them so; RFC 7239 wants brackets.
  if (bracketsRequired || !node.includes(':')) return null;
  const a = canonicalAddress(node);
  return a === null ? null : { address: a };
}

/** The hops of X-Forwarded-For values, left to right; null when any entry is malformed. */
export function parseXForwardedFor(value: HeaderValue): Hop[] | null {
  const text = joined(value);
  if (text === undefined || text.length > MAX_HEADER) return null;
  const hops: Hop[] = [];
  for (const entry of text.split(',')) {
    const hop = hopOf(entry.trim(), false);
    if (!hop) return null;
    hops.push(hop);
  }
  return hops;
}

/** Splits `text` on `sep` outside quoted strings; null on an unterminated quote. */
function splitOutsideQuotes(text: string, sep: string): string[] | null {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted && c === '\\') {
      current += c + (text[++i] ?? '');
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (c === sep && !quoted) {
      parts.push(current);
      current = '';
    } else current += c;
  }
  if (quoted) return null;
  parts.push(current);
  return parts;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** A forwarded-pair's value: a token, or a quoted string unescaped; null when neither. */
function pairValue(raw: string): string | null {
  if (TOKEN.test(raw)) return raw;
  if (raw.length < 2 || !raw.startsWith('"') || !raw.endsWith('"')) return null;
  return raw.slice(1, -1).replace(/\\(.)/g, '$1');
}

/**
 * The `for=` hops of RFC 7239 Forwarded values, left to right; null when any element is malformed
 * (a pair without "=", a bad value, two `for=` in one element); an element without `for=` is an
 * undisclosed ("unknown") hop.
 */
export function parseForwarded(value: HeaderValue): Hop[] | null {
  const text = joined(value);
  if (text === undefined || text.length > MAX_HEADER) return null;
  const elements = splitOutsideQuotes(text, ',');
  if (!elements) return null;
  const hops: Hop[] = [];
  for (const element of elements) {
    const pairs = splitOutsideQuotes(element, ';') ?? [];
    let hop: Hop | null = null;
    for (const pair of pairs) {
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim().toLowerCase();
      const v = eq > 0 && TOKEN.test(name) ? pairValue(pair.slice(eq + 1).trim()) : null;
      if (v === null) return null;
      if (name !== 'for') continue;
      if (hop) return null;
      hop = hopOf(v, true);
      if (!hop) return null;
    }
    // An element without `for=` is a hop that does not disclose its client.
    hops.push(hop ?? { hidden: 'unknown' });
  }
  return hops;
}

/** The first hop from the right that is not a trusted proxy; the leftmost when every hop is trusted. */
function rightmostUntrusted(hops: readonly Hop[], trusted: AddressRanges): Hop | undefined {
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!;
    if (!('address' in hop) || !trusted.has(hop.address)) return hop;
  }
  return hops[0];
}

/** The request's forwarding headers (lower-case names, as Node gives them). */
export interface ForwardingHeaders {
  'x-forwarded-for'?: HeaderValue;
  forwarded?: HeaderValue;
}

/**
 * Where a request came from. Only when `peer` is in `trusted` are the forwarding headers read
 * (`header`: the one the proxies write; "any": either, and when a request carries both, they must
 * name the same client); the answer is then the rightmost untrusted hop. Otherwise, and whenever a
 * header is malformed or the two contradict each other, the peer.
 */
export function clientAddress(
  peer: string,
  headers: ForwardingHeaders,
  trusted: AddressRanges,
  header: ForwardedHeader = 'any',
): ClientAddress {
  const own = canonicalAddress(peer);
  const direct: ClientAddress = { address: own ?? peer, locatable: own !== null, via: 'peer' };
  if (own === null || !trusted.has(own)) return direct;
  const present = (h: 'x-forwarded-for' | 'forwarded') =>
    (header === 'any' || header === h) && headers[h] !== undefined;
  const chains: (Hop[] | null)[] = [];
  if (present('x-forwarded-for')) chains.push(parseXForwardedFor(headers['x-forwarded-for']));
  if (present('forwarded')) chains.push(parseForwarded(headers.forwarded));
  if (chains.length === 0 || chains.some((c) => c === null)) return direct;
  const found = chains.map((c) => rightmostUntrusted([...c!, { address: own }], trusted)!);
  const key = (h: Hop) => ('address' in h ? h.address : h.hidden);
  if (found.some((h) => key(h) !== key(found[0]!))) return direct;
  const hop = found[0]!;
  return 'address' in hop
    ? { address: hop.address, locatable: true, via: hop.address === own ? 'peer' : 'forwarded' }
    : { address: hop.hidden, locatable: false, via: 'forwarded' };
}
