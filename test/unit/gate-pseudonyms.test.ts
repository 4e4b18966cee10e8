/**
 * The gateway with a pseudonym key (`gate --pseudonym-key`): recipients and addresses are logged as
 * keyed hashes in both entries, as the release service logs them; the monitor, which reads the log,
 * is asked about the pseudonym; receipts are still served to the caller that made the call.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadPseudonymizer, type Pseudonymizer } from '../../src/log/pseudonym.js';
import type { ExtractionMonitor } from '../../src/gate/types.js';
import { tempDir } from '../support/fixtures.js';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.js';
import { callEntries, startGate, testModel, type GatedModel } from '../support/gate.js';
import { gateParts } from '../support/gate-parts.js';

const MODEL = 'tiny-llama';
const dir = tempDir('modelseal-gate-pseudonyms-');
const keyFile = join(dir, 'pseudonym.key');
let fake: FakeUpstream;
let gate: GatedModel;
let pseudonyms: Pseudonymizer;
/** Scores by the caller as the log names it. */
const scores = new Map<string, number>();

const monitor: ExtractionMonitor = {
  observe: () => {},
  assess: (caller) => ({ caller, score: scores.get(caller) ?? 0, calls: 0, signals: [] }),
  callers: () => [...scores.keys()],
};

beforeAll(async () => {
  fake = await startFakeUpstream();
  gate = await startGate(dir, {
    model: testModel(MODEL, '12', 5n),
    recipients: [
      { name: 'acme-labs', org: 'Acme Labs GmbH' },
      { name: 'risky-co', org: 'Risky Co' },
    ],
    service: { pseudonymKey: keyFile },
    gate: { ...gateParts({ monitor }).options, upstream: fake.url },
  });
  pseudonyms = await loadPseudonymizer(keyFile);
  scores.set(pseudonyms.of('risky-co'), 0.99);
}, 60_000);

afterAll(async () => {
  await gate.close();
  await fake.close();
});

const call = (who: string) =>
  fetch(`${gate.server.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${gate.apiKeys[who]}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 }),
  });

it('recipient and address are logged as pseudonyms in the admit and the settle entry', async () => {
  const r = await call('acme-labs');
  expect(r.status).toBe(200);
  const id = r.headers.get('x-request-id')!;
  const { admit, settle } = await callEntries(gate.setup.log.store, id);
  expect(admit.recipient).toBe(pseudonyms.of('acme-labs'));
  expect(admit.ip).toBe(pseudonyms.of('127.0.0.1'));
  expect(admit.observed!.address).toBe(admit.ip);
  expect(settle!.recipient).toBe(pseudonyms.of('acme-labs'));
  const receipts = await fetch(`${gate.server.url}/v1/gate/receipts/${id}`, {
    headers: { authorization: `Bearer ${gate.apiKeys['acme-labs']}` },
  });
  expect(receipts.status).toBe(200);
});

it("the monitor's score of the pseudonym decides: a risky caller is throttled", async () => {
  const r = await call('risky-co');
  expect(r.status).toBe(429);
  expect(r.headers.get('retry-after')).toBe('60');
  const { admit } = await callEntries(gate.setup.log.store, r.headers.get('x-request-id')!);
  expect(admit).toMatchObject({ decision: 'deny', risk: 990, recipient: pseudonyms.of('risky-co') });
  expect(admit.reason.split(',')).toContain('extraction-risk');
});
