import { describe, expect, it } from 'vitest';
import { fc, test as fcTest } from '@fast-check/vitest';
import { encodeHeader, encodeHeaderMacInput, parseHeader, type Header } from '../../src/format/header.js';
import { LIMITS } from '../../src/format/limits.js';
import { utf8 } from '../../src/format/encoding.js';

const runs = process.env.SLOW ? 2000 : 100;

const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const printable = fc.stringMatching(/^[\x20-\x7e]{1,40}$/);
const component = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}$/).filter((s) => s !== '.' && s !== '..');
const path = fc.array(component, { minLength: 1, maxLength: 3 }).map((a) => a.join('/'));

const headerArb: fc.Arbitrary<Header> = fc.record({
  packageId: bytes(32),
  created: fc.integer({ min: 0, max: 4102444800 }).map((s) => new Date(s * 1000).toISOString().replace(/\.\d+Z$/, 'Z')),
  chunkSize: fc.integer({ min: 16, max: 24 }).map((e) => 2 ** e),
  model: fc.record({ name: fc.constant('model'), kind: fc.constant<'folder'>('folder'), rootDigest: bytes(32) }),
  provenanceSize: fc.integer({ min: 1, max: LIMITS.maxProvenanceBytes }),
  files: fc
    .uniqueArray(path, { minLength: 1, maxLength: 6, selector: (p) => p.toLowerCase().split('/')[0] })
    .map((ps) => ps.map((p, i) => ({ path: p, size: i * 1000003, mode: i % 2 ? 0o755 : 0o644 }))),
  stanzas: fc.array(
    fc.record({
      type: fc.constantFrom('local', 'x25519', 'aws-kms'),
      recipient: printable,
      license: printable,
      policy: printable,
      args: fc.array(printable, { maxLength: 3 }),
      body: fc.uint8Array({ minLength: 1, maxLength: 200 }),
    }),
    { minLength: 1, maxLength: 5 },
  ),
  commitment: bytes(32),
});

/** Headers with key groups (FORMAT.md §5.1): 2-4 groups, each with at least one stanza. */
const groupedArb: fc.Arbitrary<Header> = headerArb.chain((h) =>
  fc.integer({ min: 2, max: 4 }).chain((n) =>
    fc
      .record({
        threshold: fc.integer({ min: 2, max: n }),
        shares: fc.array(bytes(49), { minLength: n, maxLength: n }),
        more: fc.array(fc.nat(n - 1), { minLength: 4, maxLength: 4 }),
      })
      .map(({ threshold, shares, more }) => ({
        ...h,
        stanzas: Array.from({ length: Math.max(n, h.stanzas.length) }, (_, i) => ({
          ...h.stanzas[i % h.stanzas.length]!,
          group: i < n ? i : more[i % 4]!,
        })),
        keyGroups: { threshold, shares },
      })),
  ),
);

describe('header codec', () => {
  fcTest.prop([fc.oneof(headerArb, groupedArb), bytes(32)], { numRuns: runs })(
    'parse(encode(h)) = h and re-encoding gives the same bytes, with and without key groups',
    (h, mac) => {
      const encoded = encodeHeader(h, mac);
      const p = parseHeader(encoded);
      expect(p.header).toEqual({
        ...h,
        stanzas: h.stanzas.map((s) => ({ ...s, body: new Uint8Array(s.body) })),
        ...(h.keyGroups
          ? {
              keyGroups: { threshold: h.keyGroups.threshold, shares: h.keyGroups.shares.map((x) => new Uint8Array(x)) },
            }
          : {}),
      });
      expect(Buffer.from(p.mac)).toEqual(Buffer.from(mac));
      expect(Buffer.from(encodeHeader(p.header, p.mac))).toEqual(Buffer.from(encoded));
      expect(Buffer.from(p.macInput)).toEqual(Buffer.from(encodeHeaderMacInput(h)));
    },
  );

  fcTest.prop([fc.oneof(headerArb, groupedArb), bytes(32), fc.nat(), fc.integer({ min: 1, max: 255 })], {
    numRuns: runs,
  })('any single-byte change is rejected or changes what the MAC covers', (h, mac, pos, xor) => {
    const encoded = encodeHeader(h, mac);
    const bad = Uint8Array.from(encoded);
    const i = pos % bad.length;
    bad[i]! ^= xor;
    let p;
    try {
      p = parseHeader(bad);
    } catch (e) {
      expect((e as { code?: string }).code).toMatch(
        /MALFORMED_PACKAGE|UNSUPPORTED_VERSION|UNSAFE_PATH|TOO_MANY|STANZA_TOO_LARGE|HEADER_TOO_LARGE/,
      );
      return;
    }
    // Parsed: then the MAC input or the MAC itself differs, so the MAC check one level up fails.
    const same =
      Buffer.from(p.macInput).equals(Buffer.from(encodeHeaderMacInput(h))) &&
      Buffer.from(p.mac).equals(Buffer.from(mac));
    expect(same).toBe(false);
  });

  const sample = (): Header => ({
    packageId: new Uint8Array(32),
    created: '2026-01-02T03:04:05Z',
    chunkSize: 1 << 20,
    model: { name: 'm', kind: 'folder', rootDigest: new Uint8Array(32) },
    provenanceSize: 10,
    files: [{ path: 'a.bin', size: 1, mode: 0o644 }],
    stanzas: [{ type: 'local', recipient: 'r', license: 'l', policy: 'p', args: [], body: new Uint8Array(60) }],
    commitment: new Uint8Array(32),
  });
  const codeOf = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      return (e as { code?: string }).code;
    }
    return 'no error';
  };

  it('rejects hostile names with UNSAFE_PATH', () => {
    for (const p of ['../x', 'a/../../x', '/etc/passwd', 'a//b', 'a/./b', 'C:/x', 'a\\b', 'a\u0000b', 'x/', '']) {
      const h = sample();
      h.files = [{ path: p, size: 0, mode: 0o644 }];
      expect(
        codeOf(() => encodeHeaderMacInput(h)),
        p,
      ).toBe(p === '' ? 'UNSAFE_PATH' : 'UNSAFE_PATH');
    }
    const dup = sample();
    dup.files = [
      { path: 'A', size: 0, mode: 0o644 },
      { path: 'a', size: 0, mode: 0o644 },
    ];
    expect(codeOf(() => encodeHeaderMacInput(dup))).toBe('UNSAFE_PATH');
    const nested = sample();
    nested.files = [
      { path: 'a', size: 0, mode: 0o644 },
      { path: 'a/b', size: 0, mode: 0o644 },
    ];
    expect(codeOf(() => encodeHeaderMacInput(nested))).toBe('UNSAFE_PATH');
  });

  it('enforces limits with their own codes before anything else', () => {
    const big = new Uint8Array(LIMITS.maxHeaderBytes + 1);
    expect(codeOf(() => parseHeader(big))).toBe('HEADER_TOO_LARGE');
    const many = sample();
    many.stanzas = Array.from({ length: LIMITS.maxStanzas + 1 }, () => sample().stanzas[0]!);
    expect(
      codeOf(() =>
        parseHeader(
          utf8.encode(
            new TextDecoder()
              .decode(encodeHeader({ ...sample() }, new Uint8Array(32)))
              .replace(
                /"stanzas":\[.*\],"commitment"/,
                `"stanzas":${JSON.stringify(many.stanzas.map((s) => ({ ...s, body: 'AAAA' })))},"commitment"`,
              ),
          ),
        ),
      ),
    ).toBe('TOO_MANY_STANZAS');
    const fat = sample();
    fat.stanzas[0]!.body = new Uint8Array(LIMITS.maxStanzaBytes);
    expect(codeOf(() => encodeHeaderMacInput(fat))).toBe('STANZA_TOO_LARGE');
    const files = sample();
    files.files = Array.from({ length: LIMITS.maxFiles + 1 }, (_, i) => ({ path: `f${i}`, size: 0, mode: 0o644 }));
    expect(codeOf(() => encodeHeaderMacInput(files))).toBe('TOO_MANY_FILES');
  });

  it('names versions it does not read, and rejects non-canonical bodies', () => {
    const enc = new TextDecoder().decode(encodeHeader(sample(), new Uint8Array(32)));
    expect(codeOf(() => parseHeader(utf8.encode(enc.replace('modelseal/v1', 'modelseal/v2'))))).toBe(
      'UNSUPPORTED_VERSION',
    );
    expect(codeOf(() => parseHeader(utf8.encode(enc.replace('{"packageId"', '{ "packageId"'))))).toBe(
      'MALFORMED_PACKAGE',
    );
    expect(codeOf(() => parseHeader(utf8.encode(enc.replace('"chunkSize":1048576', '"chunkSize":1048577'))))).toBe(
      'MALFORMED_PACKAGE',
    );
    expect(codeOf(() => parseHeader(utf8.encode('PK\u0003\u0004 not a package')))).toBe('MALFORMED_PACKAGE');
  });
});
