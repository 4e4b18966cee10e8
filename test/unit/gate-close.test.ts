/**
 * Stopping the gateway (Ctrl-C on `modelseal gate`: listener, then gateway, then service): a stream in
 * flight is cut, and still settled and logged before the log closes.
 */
import { expect, it } from 'vitest';
import { storeEvents, type InferSettleEvent } from '../../src/log/events.js';
import { tempDir } from '../support/fixtures.js';
import { startFakeUpstream } from '../support/fake-upstream.js';
import { startGate, testModel } from '../support/gate.js';
import { gateParts } from '../support/gate-parts.js';

it('a stream in flight when the gateway stops is settled before the log closes', async () => {
  const fake = await startFakeUpstream();
  fake.mode = 'endless';
  const gate = await startGate(tempDir('modelseal-gate-close-'), {
    model: testModel('tiny-llama', '34'),
    recipients: [{ name: 'acme-labs', org: 'Acme Labs GmbH' }],
    gate: { ...gateParts().options, upstream: fake.url },
  });
  try {
    const res = await fetch(`${gate.server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${gate.apiKeys['acme-labs']}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'tiny-llama', messages: [{ role: 'user', content: 'go' }], stream: true }),
    });
    const id = res.headers.get('x-request-id')!;
    await res.body!.getReader().read(); // the first event came: the call is in flight
    await gate.server.close();
    await gate.gateway.close();
    const settles: InferSettleEvent[] = [];
    for await (const { event } of storeEvents(gate.setup.log.store))
      if (event?.type === 'infer-settle' && event.id === id) settles.push(event);
    expect(settles).toMatchObject([{ outcome: 'client-disconnect' }]);
  } finally {
    await gate.setup.close();
    await fake.close();
  }
});
