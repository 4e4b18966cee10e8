/**
 * The client address behind proxies, as pure functions: X-Forwarded-For and RFC 7239 Forwarded
 * parsed (quoted values, IPv6 in brackets, ports, obfuscated and unknown identifiers), honoured
 * only from a trusted peer, walked from the right past trusted hops; anything malformed falls back
 * to the peer.
 */
import { fc, test as fcTest } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import {
  AddressRanges,
  canonicalAddress,
  clientAddress,
  NON_PUBLIC,
  parseForwarded,
  parseXForwardedFor,
  type ForwardingHeaders,
} from '../../src/compliance/geo/index.js';
import { isModelsealError } from '../../src/errors.js';

const trusted = new AddressRanges(['10.0.0.0/8', '2001:db8:1::/48', '192.0.2.7']);
const via = (peer: string, headers: ForwardingHeaders, header?: 'x-forwarded-for' | 'forwarded' | 'any') =>
  clientAddress(peer, headers, trusted, header);

describe('canonical addresses', () => {
  it.each([
    ['1.2.3.4', '1.2.3.4'],
    ['::ffff:1.2.3.4', '1.2.3.4'],
    ['::FFFF:8.8.8.8', '8.8.8.8'],
    ['::ffff:0808:0808', '8.8.8.8'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['fe80::1%eth0', 'fe80::1'],
    ['::1', '::1'],
    ['1.2.3', null],
    ['256.1.1.1', null],
    ['unknown', null],
    ['', null],
    ['[::1]', null],
  ])('%s → %s', (text, want) => {
    expect(canonicalAddress(text)).toBe(want);
  });

  it('knows the ranges no database can place, mapped IPv4 included', () => {
    for (const a of [
      '10.1.2.3',
      '172.16.0.1',
      '192.168.1.1',
      '127.0.0.1',
      '::ffff:127.0.0.1',
      '169.254.1.1',
      '100.64.0.1',
      '192.0.2.1',
      '198.51.100.1',
      '203.0.113.9',
      '::1',
      '::',
      'fd12::1',
      'fe80::1',
      '2001:db8::1',
      '3fff::1',
      '224.0.0.1',
    ])
      expect(NON_PUBLIC.has(a), a).toBe(true);
    for (const a of ['8.8.8.8', '100.128.0.1', '172.32.0.1', '2001:4860:4860::8888', '::ffff:8.8.8.8'])
      expect(NON_PUBLIC.has(a), a).toBe(false);
  });

  it('refuses a bad trusted range with INVALID_ARGUMENT naming it', () => {
    for (const bad of ['10.0.0.0/33', '10.0.0/8', 'fd00::/129', 'proxy.example', '10.0.0.0/8/1', '10.0.0.0/x', ''])
      expect(() => new AddressRanges([bad], '--trusted-proxy'), bad).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringContaining(JSON.stringify(bad)) }),
      );
    try {
      new AddressRanges(['nope']);
    } catch (e) {
      expect(isModelsealError(e, 'INVALID_ARGUMENT')).toBe(true);
    }
    expect(new AddressRanges(['::ffff:10.0.0.0/104', '10.1.2.3']).ranges).toEqual(['10.0.0.0/8', '10.1.2.3/32']);
  });
});

describe('X-Forwarded-For', () => {
  it.each([
    ['203.0.113.5', [{ address: '203.0.113.5' }]],
    ['203.0.113.5, 10.0.0.2', [{ address: '203.0.113.5' }, { address: '10.0.0.2' }]],
    [' 203.0.113.5 ,10.0.0.2 ', [{ address: '203.0.113.5' }, { address: '10.0.0.2' }]],
    ['203.0.113.5:4711', [{ address: '203.0.113.5' }]],
    ['2001:db8::5', [{ address: '2001:db8::5' }]],
    ['[2001:db8::5]:443', [{ address: '2001:db8::5' }]],
    ['::ffff:203.0.113.5', [{ address: '203.0.113.5' }]],
    ['unknown, 8.8.8.8', [{ hidden: 'unknown' }, { address: '8.8.8.8' }]],
    [
      ['1.1.1.1', '8.8.8.8, 10.0.0.2'],
      [{ address: '1.1.1.1' }, { address: '8.8.8.8' }, { address: '10.0.0.2' }],
    ],
  ])('%j', (value, hops) => {
    expect(parseXForwardedFor(value)).toEqual(hops);
  });

  it.each([
    [''],
    [','],
    ['1.2.3.4,,5.6.7.8'],
    ['host.example'],
    ['1.2.3.4:99999999'],
    ['[1.2.3.4]'],
    ['1.2.3.4 5.6.7.8'],
  ])('refuses %j', (value) => {
    expect(parseXForwardedFor(value)).toBeNull();
  });

  it('refuses a header longer than 8 KiB', () => {
    expect(parseXForwardedFor(Array(1000).fill('203.0.113.5').join(', '))).toBeNull();
  });
});

describe('Forwarded (RFC 7239)', () => {
  it.each([
    ['for=192.0.2.60', [{ address: '192.0.2.60' }]],
    ['For="[2001:db8:cafe::17]:4711"', [{ address: '2001:db8:cafe::17' }]],
    ['for="192.0.2.60:8080";proto=http;by=203.0.113.43', [{ address: '192.0.2.60' }]],
    ['for=192.0.2.43, for=198.51.100.17', [{ address: '192.0.2.43' }, { address: '198.51.100.17' }]],
    ['for=unknown', [{ hidden: 'unknown' }]],
    ['for=_hidden, for=_SEVKISEK', [{ hidden: '_hidden' }, { hidden: '_SEVKISEK' }]],
    ['for="_gazonk"', [{ hidden: '_gazonk' }]],
    ['for="[2001:db8::1]:_port"', [{ address: '2001:db8::1' }]],
    ['proto=https;host="a,b.example", for=8.8.8.8', [{ hidden: 'unknown' }, { address: '8.8.8.8' }]],
    ['for="\\1\\9\\2.0.2.1"', [{ address: '192.0.2.1' }]],
    [
      ['for=1.1.1.1', 'for=8.8.8.8'],
      [{ address: '1.1.1.1' }, { address: '8.8.8.8' }],
    ],
  ])('%j', (value, hops) => {
    expect(parseForwarded(value)).toEqual(hops);
  });

  it.each([
    ['for=2001:db8::1'],
    ['for="2001:db8::1"'],
    ['for=[2001:db8::1]'],
    ['for="192.0.2.60'],
    ['for'],
    ['=1.2.3.4'],
    ['for=1.2.3.4;for=5.6.7.8'],
    ['for=host.example'],
    ['for="[1.2.3.4]"'],
    ['for=1.2.3.4 proto=http'],
  ])('refuses %j', (value) => {
    expect(parseForwarded(value)).toBeNull();
  });
});

describe('the client address', () => {
  it('is the peer when the peer is not a trusted proxy, whatever the headers say', () => {
    for (const peer of ['203.0.113.9', '::ffff:203.0.113.9', '127.0.0.1'])
      expect(via(peer, { 'x-forwarded-for': '8.8.8.8', forwarded: 'for=8.8.8.8' })).toEqual({
        address: canonicalAddress(peer),
        locatable: true,
        via: 'peer',
      });
  });

  it('is the rightmost untrusted hop behind trusted proxies (the left is what the client wrote)', () => {
    // The client claims 1.1.1.1; it is 8.8.8.8, seen by the trusted 10.0.0.2, which our peer 10.0.0.1 forwards.
    expect(via('10.0.0.1', { 'x-forwarded-for': '1.1.1.1, 8.8.8.8, 10.0.0.2' })).toEqual({
      address: '8.8.8.8',
      locatable: true,
      via: 'forwarded',
    });
    expect(via('::ffff:10.0.0.1', { forwarded: 'for=1.1.1.1, for="[2001:4860::1]:443", for=10.9.9.9' })).toEqual({
      address: '2001:4860::1',
      locatable: true,
      via: 'forwarded',
    });
    expect(via('2001:db8:1::2', { 'x-forwarded-for': '8.8.8.8' }).address).toBe('8.8.8.8');
    expect(via('192.0.2.7', { 'x-forwarded-for': '8.8.8.8' }).address).toBe('8.8.8.8');
    expect(via('192.0.2.8', { 'x-forwarded-for': '8.8.8.8' }).address).toBe('192.0.2.8');
  });

  it('joins several header instances in order', () => {
    expect(via('10.0.0.1', { 'x-forwarded-for': ['8.8.8.8', '9.9.9.9, 10.0.0.3'] }).address).toBe('9.9.9.9');
  });

  it('is the leftmost hop when every hop is a trusted proxy', () => {
    expect(via('10.0.0.1', { 'x-forwarded-for': '10.0.0.5, 10.0.0.3' })).toEqual({
      address: '10.0.0.5',
      locatable: true,
      via: 'forwarded',
    });
  });

  it('is unlocatable when the first untrusted hop hides its address', () => {
    expect(via('10.0.0.1', { forwarded: 'for=8.8.8.8, for=_proxy7, for=10.0.0.2' })).toEqual({
      address: '_proxy7',
      locatable: false,
      via: 'forwarded',
    });
    expect(via('10.0.0.1', { 'x-forwarded-for': 'unknown' })).toMatchObject({ address: 'unknown', locatable: false });
  });

  it('falls back to the peer on a malformed header, and on two headers that disagree', () => {
    const peer = { address: '10.0.0.1', locatable: true, via: 'peer' };
    expect(via('10.0.0.1', { 'x-forwarded-for': '8.8.8.8, evil' })).toEqual(peer);
    expect(via('10.0.0.1', { forwarded: 'for="8.8.8.8' })).toEqual(peer);
    expect(via('10.0.0.1', { 'x-forwarded-for': '8.8.8.8', forwarded: 'for=1.1.1.1' })).toEqual(peer);
    expect(via('10.0.0.1', { 'x-forwarded-for': '8.8.8.8', forwarded: 'for=8.8.8.8' }).address).toBe('8.8.8.8');
    // A malformed header the proxies do not write is not read.
    expect(via('10.0.0.1', { 'x-forwarded-for': '8.8.8.8', forwarded: 'junk' }, 'x-forwarded-for').address).toBe(
      '8.8.8.8',
    );
    expect(via('10.0.0.1', { 'x-forwarded-for': '8.8.8.8' }, 'forwarded')).toEqual(peer);
    expect(via('10.0.0.1', {})).toEqual(peer);
    expect(via('not-an-ip', { 'x-forwarded-for': '8.8.8.8' })).toEqual({
      address: 'not-an-ip',
      locatable: false,
      via: 'peer',
    });
  });
});

const runs = process.env.SLOW ? 5000 : 200;
const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((b) => b.join('.'));
const v6 = fc
  .array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 })
  .map((g) => g.map((x) => x.toString(16)).join(':'));
const trustedHop = fc.oneof(
  fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255)).map(([a, b, c]) => `10.${a}.${b}.${c}`),
  fc.integer({ min: 0, max: 0xffff }).map((x) => `2001:db8:1::${x.toString(16)}`),
);
const anyHop = fc.oneof(v4, v6, trustedHop);
/** An address as a proxy may write it in each header: with or without a port. */
const inXff = (a: string, port: number | null) =>
  a.includes(':') ? (port === null ? a : `[${a}]:${port}`) : port === null ? a : `${a}:${port}`;
const inForwarded = (a: string, port: number | null) =>
  a.includes(':')
    ? `for="[${a}]${port === null ? '' : `:${port}`}"`
    : port === null
      ? `for=${a}`
      : `for="${a}:${port}"`;

describe('the client address, for any chain', () => {
  fcTest.prop([fc.array(fc.tuple(anyHop, fc.option(fc.nat(65535))), { minLength: 1, maxLength: 8 }), trustedHop], {
    numRuns: runs,
  })('is the rightmost untrusted hop in either header, written with or without ports', (chain, peer) => {
    const hops = chain.map(([a]) => canonicalAddress(a)!);
    const expected = [...hops].reverse().find((a) => !trusted.has(a)) ?? hops[0];
    const xff = chain.map(([a, p]) => inXff(a, p)).join(', ');
    const fwd = chain.map(([a, p]) => `${inForwarded(a, p)};proto=https`).join(', ');
    expect(via(peer, { 'x-forwarded-for': xff }).address).toBe(expected);
    expect(via(peer, { forwarded: fwd }).address).toBe(expected);
    expect(via(peer, { 'x-forwarded-for': xff, forwarded: fwd }).address).toBe(expected);
    // Split over several header instances, the same.
    const [first, ...rest] = chain.map(([a, p]) => inXff(a, p));
    expect(via(peer, { 'x-forwarded-for': [first!, rest.join(',')].filter(Boolean) }).address).toBe(expected);
    // From a peer that is not trusted, none of it counts.
    expect(via('203.0.113.200', { 'x-forwarded-for': xff, forwarded: fwd }).address).toBe('203.0.113.200');
  });

  fcTest.prop([fc.string({ maxLength: 300 }), fc.string({ maxLength: 300 }), fc.oneof(trustedHop, v4)], {
    numRuns: runs,
  })('never throws on arbitrary headers, and answers an address it was given', (xff, fwd, peer) => {
    const r = via(peer, { 'x-forwarded-for': xff, forwarded: fwd });
    expect(typeof r.address).toBe('string');
    if (r.locatable) expect(canonicalAddress(r.address)).toBe(r.address);
  });
});
