/**
 * The offline locator: the REAL CC0 country database of @ip-location-db/geo-whois-asn-country-mmdb
 * (public resolvers and hosts whose country has long been stable, checked in that database), ages
 * and staleness from its build time, refusals of files that are not country databases, and an ASN
 * database (written by test/support/mmdb.ts: no npm package ships a real ASN mmdb) marking hosting
 * and anonymiser networks.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GeoLocator, NETWORK_KINDS, SourceLocator } from '../../src/compliance/geo/index.js';
import { tempDir } from '../support/fixtures.js';
import { KNOWN, realDatabase } from '../support/geo.js';
import { writeMmdb } from '../support/mmdb.js';

const dir = tempDir('modelseal-geo-');
const DAY = 86_400_000;

describe('the CC0 country database', () => {
  it('locates public addresses, IPv4-mapped ones too, and names its digest and age', async () => {
    const path = realDatabase();
    const now = new Date('2026-07-01T00:00:00Z');
    const geo = await GeoLocator.open({ country: path, now: () => now });
    expect(geo.country.digest).toBe(`sha256:${createHash('sha256').update(readFileSync(path)).digest('hex')}`);
    for (const [address, country] of Object.entries(KNOWN)) expect(geo.locate(address).country, address).toBe(country);
    expect(geo.locate('::ffff:193.99.144.80')).toMatchObject({ address: '193.99.144.80', country: 'DE' });
    const age = Math.floor((now.getTime() - geo.country.built.getTime()) / DAY);
    expect(geo.locate('8.8.8.8')).toEqual({
      address: '8.8.8.8',
      country: 'US',
      network: '',
      database: geo.country.digest,
      ageDays: age,
      stale: false,
    });
  });

  it('places no private, loopback, link-local, CGNAT, unique-local or documentation address', async () => {
    const geo = await GeoLocator.open({ country: realDatabase() });
    for (const a of ['10.1.1.1', '127.0.0.1', '::ffff:127.0.0.1', '::1', '169.254.9.9', '100.64.1.1', 'fd00::1'])
      expect(geo.locate(a).country, a).toBe('');
    for (const a of ['192.0.2.1', '198.51.100.1', '203.0.113.1', '2001:db8::1', 'fe80::1', 'unknown', '_hidden'])
      expect(geo.locate(a).country, a).toBe('');
  });

  it('is stale past its maximum age: every observation says so', async () => {
    const path = realDatabase();
    const fresh = await GeoLocator.open({ country: path });
    const built = fresh.country.built.getTime();
    const at = (days: number) => () => new Date(built + days * DAY + 3600_000);
    const young = await GeoLocator.open({ country: path, now: at(30) });
    expect([young.ageDays, young.stale, young.locate('8.8.8.8').stale]).toEqual([30, false, false]);
    const old = await GeoLocator.open({ country: path, now: at(31) });
    expect([old.ageDays, old.stale, old.locate('8.8.8.8').stale]).toEqual([31, true, true]);
    const lenient = await GeoLocator.open({ country: path, now: at(31), maxAgeDays: 60 });
    expect(lenient.locate('8.8.8.8')).toMatchObject({ ageDays: 31, stale: false });
    // The unlocated (a hidden hop) still name the database and its age.
    expect(
      new SourceLocator({ locator: old, trustedProxies: ['10.0.0.0/8'] }).locate('10.0.0.1', {
        'x-forwarded-for': 'unknown',
      }).observed,
    ).toEqual({ address: 'unknown', country: '', network: '', database: old.country.digest, ageDays: 31, stale: true });
    await expect(GeoLocator.open({ country: path, maxAgeDays: 0 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });
});

describe('databases that are not country databases', () => {
  it('refuses a file that is not an mmdb, a damaged one, a missing one, and an ASN database, naming the file', async () => {
    const notMmdb = join(dir, 'notes.mmdb');
    writeFileSync(notMmdb, 'just some text, no MaxMind metadata\n');
    const damaged = join(dir, 'damaged.mmdb');
    const good = writeMmdb({ networks: { '8.8.8.0/24': { country_code: 'US' } }, databaseType: 'x', buildEpoch: 1 });
    writeFileSync(damaged, good.subarray(0, good.length - 40));
    const asnOnly = join(dir, 'asn-only.mmdb');
    writeFileSync(
      asnOnly,
      writeMmdb({
        networks: { '8.8.8.0/24': { autonomous_system_number: 15169, autonomous_system_organization: 'GOOGLE' } },
        databaseType: 'GeoLite2-ASN',
        buildEpoch: 1_700_000_000,
      }),
    );
    for (const path of [notMmdb, damaged, asnOnly, join(dir, 'missing.mmdb')])
      await expect(GeoLocator.open({ country: path }), path).rejects.toMatchObject({
        code: 'GEO_DATABASE_INVALID',
        message: expect.stringContaining(path),
      });
    // The same ASN file is accepted as what it is.
    await expect(GeoLocator.open({ country: realDatabase(), asn: asnOnly })).resolves.toBeInstanceOf(GeoLocator);
    await expect(GeoLocator.open({ country: realDatabase(), asn: realDatabase() })).rejects.toMatchObject({
      code: 'GEO_DATABASE_INVALID',
    });
  });

  it('reads the MaxMind GeoIP2 layout (country.iso_code) as well as ip-location-db (country_code)', async () => {
    const path = join(dir, 'geoip2-country.mmdb');
    writeFileSync(
      path,
      writeMmdb({
        networks: {
          '8.8.8.0/24': { country: { iso_code: 'US', names: { en: 'United States' } } },
          '2a00:1450::/32': { country: { iso_code: 'IE' }, registered_country: { iso_code: 'US' } },
          '185.0.0.0/16': { registered_country: { iso_code: 'NL' } },
          '5.5.5.0/24': { continent: { code: 'EU' } },
        },
        databaseType: 'GeoIP2-Country',
        buildEpoch: Math.floor(Date.now() / 1000) - 2 * 86400,
      }),
    );
    const geo = await GeoLocator.open({ country: path });
    expect(geo.country.type).toBe('GeoIP2-Country');
    expect(geo.ageDays).toBe(2);
    expect(['8.8.8.8', '2a00:1450::1', '185.0.1.1', '5.5.5.5', '6.6.6.6'].map((a) => geo.locate(a).country)).toEqual([
      'US',
      'IE',
      'NL',
      '',
      '',
    ]);
  });
});

describe('an ASN database', () => {
  it('marks hosting and anonymiser networks from the dated, cited list', async () => {
    const asn = join(dir, 'GeoLite2-ASN.mmdb');
    writeFileSync(
      asn,
      writeMmdb({
        networks: {
          '3.0.0.0/9': { autonomous_system_number: 16509, autonomous_system_organization: 'AMAZON-02' },
          '193.32.248.0/24': { autonomous_system_number: 39351, autonomous_system_organization: '31173 Services AB' },
          '193.99.144.0/24': { autonomous_system_number: 12306, autonomous_system_organization: 'Plus.line AG' },
          '2a05:d000::/25': { autonomous_system_number: 16509, autonomous_system_organization: 'AMAZON-02' },
        },
        databaseType: 'GeoLite2-ASN',
        buildEpoch: Math.floor(Date.now() / 1000),
      }),
    );
    const geo = await GeoLocator.open({ country: realDatabase(), asn });
    expect(geo.asn).toMatchObject({ path: asn, type: 'GeoLite2-ASN', digest: expect.stringMatching(/^sha256:/) });
    expect(geo.locate('3.5.1.1').network).toBe('hosting');
    expect(geo.locate('2a05:d000::1').network).toBe('hosting');
    expect(geo.locate('193.32.248.10').network).toBe('anonymizer');
    expect(geo.locate('193.99.144.80')).toMatchObject({ country: 'DE', network: '' });
    expect(geo.locate('10.0.0.1').network).toBe('');
    expect(NETWORK_KINDS.hosting['16509']).toMatch(/Amazon/);
    expect(NETWORK_KINDS.date).toMatch(/^\d{4}-\d{2}-\d{2}$/);
  });
});
