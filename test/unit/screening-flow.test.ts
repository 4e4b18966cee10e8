/**
 * Screening at registration (`recipient issue|register`, through the library with an injected
 * screening): a review or hit refuses with a typed error naming the match; an override is logged —
 * to a local log, or to a release service's through a publisher-signed event — before anything is
 * written, and kept in the record; a log that does not take it leaves nothing registered.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isModelsealError } from '../../src/errors.js';
import { initKeystore, loadPublisherKey } from '../../src/keystore/keystore.js';
import { decodeEvent } from '../../src/log/events.js';
import { openExportLog } from '../../src/package/exportlog.js';
import { startServer, type RunningServer } from '../../src/server/http.js';
import { RecipientRegistry } from '../../src/server/recipients.js';
import { screenRegistration, type OverrideLog } from '../../src/server/registration.js';
import { openReleaseService, type ReleaseServiceSetup } from '../../src/server/setup.js';
import { tempDir } from '../support/fixtures.js';
import { entity, listName, testScreening } from '../support/screening.js';

const dir = tempDir('modelseal-screening-flow-');
const keys = join(dir, 'keys');
const SDN = {
  source: 'sdn',
  entities: [
    entity('sdn-7', 'Kremlin Holdings LLC', { countries: ['RU'] }),
    entity('sdn-8', 'Northwind Shell Holdings', { weakAliases: ['Review Works Ltd'] }),
  ],
};
const screening = testScreening([SDN]);
let publisherId = '';
let setup: ReleaseServiceSetup;
let server: RunningServer;

beforeAll(async () => {
  await initKeystore(keys, { logOrigin: 'screening.test/log' });
  const publisher = await loadPublisherKey(join(keys, 'publisher.key'));
  publisherId = `sha256:${createHash('sha256').update(publisher.spki).digest('hex')}`;
  setup = await openReleaseService(join(dir, 'service'), keys, { commitIntervalMs: 0, screening });
  server = await startServer(setup.service, setup.log, { port: 0 });
}, 60_000);

afterAll(async () => {
  await (server as RunningServer | undefined)?.close();
  await (setup as ReleaseServiceSetup | undefined)?.close();
});

const attrs = (org: string) => ({ org, country: 'DE', nationalities: ['DE'], citizenships: ['RU'] });

/** The override log `where` (a log store or a service URL), as the CLI opens it. */
function overrideLog(where: string): () => Promise<OverrideLog> {
  return async () => {
    const log = await openExportLog(where, { keysDir: keys });
    const publisher = await loadPublisherKey(join(keys, 'publisher.key'));
    return {
      origin: log.origin,
      record: async (e) => {
        try {
          return (await log.append([e], publisher))[0]!;
        } finally {
          await log.close();
        }
      },
    };
  };
}

async function refusal(name: string, org: string) {
  const err = await screenRegistration(name, attrs(org), { screening, publisher: publisherId }).catch(
    (e: unknown) => e,
  );
  if (!isModelsealError(err)) throw new Error(`expected a refusal, got ${String(err)}`);
  return err;
}

describe('screening at registration', () => {
  it('refuses a hit and a review with their own codes, naming the best match; clear passes', async () => {
    const hit = await refusal('kh-labs', 'Kremlin Holdings LLC');
    expect(hit.code).toBe('SCREENING_HIT');
    expect(hit.message).toContain('"Kremlin Holdings LLC" (sdn sdn-7, score 1.000)');
    expect(hit.message).toContain('--override-screening');
    const details = hit.details as { screening: { decision: string; lists: string[] }; results: unknown[] };
    expect(details.screening).toMatchObject({ decision: 'hit', lists: [listName(SDN)] });
    // Every match with its explanation: the name's query and the organisation's.
    expect(details.results).toEqual([
      expect.objectContaining({ decision: 'clear', matches: [] }),
      expect.objectContaining({
        decision: 'hit',
        matches: [
          expect.objectContaining({ entity: expect.objectContaining({ id: 'sdn-7' }), explanation: expect.anything() }),
        ],
      }),
    ]);
    const review = await refusal('rw', 'Review Works Ltd');
    expect(review.code).toBe('SCREENING_REVIEW');
    // A weak alias alone: review, never hit (below the hit threshold).
    expect(review.message).toMatch(/"Northwind Shell Holdings" \(sdn sdn-8, score 0\.(7|8)\d\d\)/);
    let opened = false;
    const clear = await screenRegistration('acme', attrs('Acme Labs GmbH'), {
      screening,
      publisher: publisherId,
      override: { reason: 'not needed', decidedBy: 'alice' },
      log: async () => {
        opened = true;
        throw new Error('no log needed for a clear party');
      },
    });
    expect(clear).toBeUndefined();
    expect(opened).toBe(false);
  });

  it('an override is logged first (local log) with the match, the reason and who decided, and kept in the record', async () => {
    const logDir = join(dir, 'local-log');
    const override = await screenRegistration('kh-labs', attrs('Kremlin Holdings LLC'), {
      screening,
      publisher: publisherId,
      override: { reason: '  a namesake: registry extract HRB 1234 checked ', decidedBy: 'alice' },
      log: overrideLog(logDir),
    });
    expect(override).toMatchObject({
      reason: 'a namesake: registry extract HRB 1234 checked',
      decidedBy: 'alice',
      entities: ['sdn:sdn-7'],
      log: { origin: 'screening.test/log', index: 0 },
    });
    const reg = new RecipientRegistry(join(dir, 'recipients'));
    const key = generateKeyPairSync('ed25519').publicKey;
    const record = await reg.register('kh-labs', attrs('Kremlin Holdings LLC'), key, undefined, override);
    expect(record.screeningOverride).toEqual(override);
    const store = await openExportLog(logDir, { keysDir: keys });
    await store.close();
    const entries = readFileSync(join(logDir, 'entries'));
    expect(entries.includes(Buffer.from('"type":"screening-override"'))).toBe(true);
    const event = decodeEvent(entries.subarray(entries.indexOf('{'), entries.lastIndexOf('}') + 1));
    expect(event).toEqual({
      v: 1,
      type: 'screening-override',
      time: override!.time,
      recipient: 'kh-labs',
      org: 'Kremlin Holdings LLC',
      countries: ['DE', 'RU'],
      screening: {
        decision: 'hit',
        lists: [listName(SDN)],
        stale: [],
        best: { entity: 'sdn-7', source: 'sdn', name: 'Kremlin Holdings LLC', score: '1.000' },
      },
      entities: ['sdn:sdn-7'],
      reason: 'a namesake: registry extract HRB 1234 checked',
      decidedBy: 'alice',
      publisher: publisherId,
    });
  });

  it("an override goes to a release service's log as a publisher-signed event; a forged one is refused", async () => {
    const before = setup.log.size;
    const override = await screenRegistration('rw', attrs('Review Works Ltd'), {
      screening,
      publisher: publisherId,
      override: { reason: 'reviewed: not the listed vessel operator', decidedBy: 'bob' },
      log: overrideLog(server.url),
    });
    expect(override?.log).toEqual({ origin: 'screening.test/log', index: before });
    const [entry] = await setup.log.store.readEntries(before, before + 1);
    expect(decodeEvent(entry!)).toMatchObject({ type: 'screening-override', recipient: 'rw', decidedBy: 'bob' });
    // The same event with a float score (log entries hold none) or a field more is not an event the service logs.
    const publisher = await loadPublisherKey(join(keys, 'publisher.key'));
    const event = decodeEvent(entry!) as unknown as Record<string, unknown>;
    for (const bad of [
      {
        ...event,
        screening: { ...(event.screening as object), best: { entity: 'x', source: 's', name: 'n', score: 0.8 } },
      },
      { ...event, extra: 'x' },
    ]) {
      // Refused before its signature is looked at (which could not even be made over a float).
      const body = { events: [bad], publisher: Buffer.from(publisher.spki).toString('base64'), signature: 'AAAA' };
      const res = await fetch(`${server.url}/v1/export`, { method: 'POST', body: JSON.stringify(body) });
      expect(res.status).toBe(400);
    }
  });

  it('a log that does not take the override leaves nothing registered (fail closed)', async () => {
    const err = await screenRegistration('kh-2', attrs('Kremlin Holdings LLC'), {
      screening,
      publisher: publisherId,
      override: { reason: 'namesake', decidedBy: 'alice' },
      log: async () => ({
        origin: 'down.test/log',
        record: () => Promise.reject(new Error('disk full')),
      }),
    }).catch((e: unknown) => e);
    expect(isModelsealError(err, 'LOG_UNAVAILABLE'), String(err)).toBe(true);
    expect((err as Error).message).toMatch(/did not record the screening override, so kh-2 was not registered/);
    expect(existsSync(join(dir, 'recipients', 'kh-2.json'))).toBe(false);
  });
});
