/** The auditor's questions of a log, as library calls: queryEvents, findByRequestId, copyEvents. */
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import {
  copyEvents,
  createPseudonymKey,
  encodeEvent,
  eventMatcher,
  findByRequestId,
  loadPseudonymizer,
  NoteSigner,
  openLogStore,
  queryEvents,
  TransparencyLog,
  type DenialsEvent,
  type ExportEvent,
  type LogStore,
  type ReleaseEvent,
} from '../../src/index.js';
import { tempDir } from '../support/fixtures.js';

const dir = tempDir('modelseal-query-');
let logs = 0;

const exportOf = (over: Partial<ExportEvent>): ExportEvent => ({
  v: 1,
  type: 'export',
  time: '2026-11-01T10:00:00.000Z',
  package: 'p'.repeat(32),
  artifact: 'sha256:' + 'a'.repeat(64),
  model: 'llama',
  recipient: 'acme',
  provider: 'x25519',
  license: 'L-1',
  policy: 'none',
  publisher: 'sha256:' + 'b'.repeat(64),
  fingerprint: null,
  ...over,
});

const releaseOf = (over: Partial<ReleaseEvent>): ReleaseEvent => ({
  v: 1,
  type: 'release',
  time: '2026-11-02T10:00:00.000Z',
  request: '0'.repeat(32),
  recipient: 'acme',
  org: 'Acme Labs',
  country: 'DE',
  certificate: null,
  artifact: 'sha256:' + 'a'.repeat(64),
  package: 'p'.repeat(32),
  license: 'L-1',
  decision: 'allow',
  reason: 'policy',
  policies: ['allow-licensed'],
  policySet: 'c'.repeat(64),
  ip: '192.0.2.1',
  destination: 'DE',
  nonce: null,
  ...over,
});

const denials: DenialsEvent = {
  v: 1,
  type: 'denials',
  time: '2026-11-03T10:00:00.000Z',
  since: '2026-11-03T09:59:00.000Z',
  until: '2026-11-03T10:00:00.000Z',
  ip: '198.51.100.7',
  count: 12,
  reasons: { 'bad-signature': 12 },
  policySet: 'c'.repeat(64),
};

/**
 * A real file log holding `entries` (events, or raw bytes for entries that are not modelseal events), read back as a
 * store.
 */
async function logOf(entries: (object | Uint8Array)[]): Promise<LogStore> {
  const where = join(dir, `log${logs++}`);
  const log = new TransparencyLog(await openLogStore(where), NoteSigner.generate('modelseal.test/query'), {
    commitIntervalMs: 0,
  });
  for (const e of entries)
    await log.append(e instanceof Uint8Array ? e : encodeEvent(e as ExportEvent | ReleaseEvent | DenialsEvent));
  await log.close();
  return openLogStore(where, 'read');
}

describe('queryEvents', () => {
  const events = [
    exportOf({ recipient: 'acme' }),
    releaseOf({ recipient: 'acme', decision: 'deny', reason: 'embargo', country: 'de', request: '1'.repeat(32) }),
    Buffer.from('not json at all'),
    releaseOf({ recipient: 'globex', org: 'Globex', country: 'US', time: '2026-11-05T00:00:00.000Z' }),
    denials,
  ];

  it('keeps what every given filter matches, in log order, and counts entries that are not modelseal events', async () => {
    const store = await logOf(events);
    try {
      const all = await queryEvents(store);
      expect(all.entries.map((e) => e.index)).toEqual([0, 1, 3, 4]);
      expect(all.otherEntries).toBe(1);
      const idx = async (f: Parameters<typeof queryEvents>[1]) =>
        (await queryEvents(store, f)).entries.map((e) => e.index);
      expect(await idx({ decision: 'deny' })).toEqual([1, 4]); // a summary of refusals counts as denied
      expect(await idx({ decision: 'allow' })).toEqual([0, 3]); // an export counts as allowed
      expect(await idx({ type: 'release' })).toEqual([1, 3]);
      expect(await idx({ country: 'DE' })).toEqual([1]); // case-insensitive; exports have no country
      expect(await idx({ org: 'globex' })).toEqual([3]);
      expect(await idx({ recipient: 'acme' })).toEqual([0, 1]); // a summary names no recipient
      expect(await idx({ artifact: 'a'.repeat(64) })).toEqual([0, 1, 3]); // with or without sha256:
      expect(await idx({ since: Date.parse('2026-11-02'), until: Date.parse('2026-11-05') })).toEqual([1, 4]);
      expect(await idx({ type: 'denials', since: Date.parse('2026-11-04') })).toEqual([]);
      expect(await idx({ license: 'L-2' })).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it('matches a recipient logged as a pseudonym only with the pseudonym key', async () => {
    const keyFile = join(dir, 'pseudonym.key');
    await createPseudonymKey(keyFile);
    const pseudonyms = await loadPseudonymizer(keyFile);
    const store = await logOf([releaseOf({ recipient: pseudonyms.of('acme') }), releaseOf({})]);
    try {
      expect((await queryEvents(store, { recipient: 'acme' })).entries.map((e) => e.index)).toEqual([1]);
      expect((await queryEvents(store, { recipient: 'acme', pseudonyms })).entries.map((e) => e.index)).toEqual([0, 1]);
    } finally {
      await store.close();
    }
  });

  it('refuses a malformed filter, naming the field', () => {
    expect(() => eventMatcher({ decision: 'maybe' as 'allow' })).toThrow(/filter\.decision/);
    expect(() => eventMatcher({ type: 'audit' as 'export' })).toThrow(/filter\.type/);
    expect(() => eventMatcher({ since: Number.NaN })).toThrow(/filter\.since/);
  });
});

describe('queryEvents: the compliance filters (destination, nationality, observed country, screening, license)', () => {
  const screening = (decision: 'clear' | 'review' | 'hit') => ({
    decision,
    lists: ['SDN@sha256:' + 'd'.repeat(64)],
    stale: [],
    best: null,
  });
  const observed = (country: string) => ({
    address: '203.0.113.9',
    country,
    network: '' as const,
    database: '',
    ageDays: 0,
    stale: false,
  });
  const events = [
    // 0: an export: it has none of the release fields.
    exportOf({ license: 'L-1' }),
    // 1: a release logged before the compliance fields existed.
    releaseOf({ destination: 'DE', license: 'L-1' }),
    // 2-4: releases with them.
    releaseOf({
      destination: 'FR',
      nationalities: ['DE', 'IR'],
      screening: screening('review'),
      observed: observed('FR'),
    }),
    releaseOf({
      destination: 'DE',
      nationalities: ['US'],
      screening: screening('clear'),
      observed: observed(''),
      license: 'L-2',
    }),
    releaseOf({
      destination: 'CN',
      nationalities: ['CN'],
      screening: screening('hit'),
      observed: observed('CN'),
      decision: 'deny',
    }),
    // 5: a summary of refused requests.
    denials,
    // 6: a release of a fingerprinted copy of model e…: the stanza named the model.
    releaseOf({
      artifact: 'sha256:' + 'f'.repeat(64),
      model: 'sha256:' + 'e'.repeat(64),
      license: 'L-3',
      destination: 'GB',
    }),
  ];

  it('keeps the entries that record a matching value, any of several, and never those without the field', async () => {
    const store = await logOf(events);
    try {
      const idx = async (f: Parameters<typeof queryEvents>[1]) =>
        (await queryEvents(store, f)).entries.map((e) => e.index);
      expect(await idx({ destination: 'de' })).toEqual([1, 3]);
      expect(await idx({ destination: ['FR', 'CN'] })).toEqual([2, 4]);
      expect(await idx({ nationality: 'IR' })).toEqual([2]); // one of the recipient's nationalities
      expect(await idx({ nationality: ['us', 'CN'] })).toEqual([3, 4]);
      expect(await idx({ observedCountry: 'FR' })).toEqual([2]);
      expect(await idx({ observedCountry: ['CN', 'FR'] })).toEqual([2, 4]); // "" (unknown) matches no country
      expect(await idx({ screening: 'clear' })).toEqual([3]); // not entry 1, logged without a screening
      expect(await idx({ screening: ['review', 'hit'] })).toEqual([2, 4]);
      expect(await idx({ screening: 'hit', decision: 'allow' })).toEqual([]);
      expect(await idx({ license: ['L-2', 'L-3'] })).toEqual([3, 6]);
      expect(await idx({ license: 'L-1' })).toEqual([0, 1, 2, 4]);
      // A model's releases include its fingerprinted copies.
      expect(await idx({ artifact: 'sha256:' + 'e'.repeat(64) })).toEqual([6]);
      expect(await idx({ artifact: 'f'.repeat(64) })).toEqual([6]);
      expect(await idx({ destination: [], screening: [] })).toEqual([0, 1, 2, 3, 4, 5, 6]); // empty lists: no filter
    } finally {
      await store.close();
    }
  });

  it('refuses a screening decision that is none, naming the field', () => {
    expect(() => eventMatcher({ screening: 'maybe' as 'hit' })).toThrow(/filter\.screening/);
  });
});

describe('findByRequestId', () => {
  it("finds a release request's entry, or says there is none", async () => {
    const store = await logOf([exportOf({}), releaseOf({ request: 'ab'.repeat(16) }), releaseOf({})]);
    try {
      expect(await findByRequestId(store, 'ab'.repeat(16))).toBe(1);
      expect(await findByRequestId(store, 'cd'.repeat(16))).toBeUndefined();
      await expect(findByRequestId(store, 'AB'.repeat(16))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    } finally {
      await store.close();
    }
  });
});

describe('copyEvents', () => {
  it("gathers each holder's export and releases, and never attributes a request that named no package", async () => {
    const sealedCopy = { id: 'fp-1111111111111111', package: 'e'.repeat(32), marked: 'sha256:' + '1'.repeat(64) };
    // A copy made by `fingerprint embed` is in no package.
    const embeddedCopy = { id: 'fp-2222222222222222', package: null, marked: 'sha256:' + '2'.repeat(64) };
    const store = await logOf([
      exportOf({ package: sealedCopy.package, fingerprint: sealedCopy.id, recipient: 'acme' }),
      releaseOf({ package: sealedCopy.package, recipient: 'acme' }),
      // A body that never parsed: logged with no package and no artifact.
      releaseOf({ package: null, artifact: null, recipient: null, decision: 'deny', reason: 'malformed-json' }),
      releaseOf({ package: null, artifact: embeddedCopy.marked, recipient: 'globex' }),
      denials,
      releaseOf({ package: 'f'.repeat(32), artifact: 'sha256:' + '9'.repeat(64) }),
    ]);
    try {
      const found = await copyEvents(
        store,
        new Map([
          ['acme', [sealedCopy]],
          ['globex', [embeddedCopy]],
          ['nobody', []],
        ]),
      );
      expect(found.get('acme')!.map((e) => e.index)).toEqual([0, 1]);
      expect(found.get('globex')!.map((e) => e.index)).toEqual([3]);
      expect(found.get('nobody')).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
