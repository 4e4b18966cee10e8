/** Synthetic log entries (gateway calls, and a release beside them) for the audit, evidence and report tests. */
import { expect } from 'vitest';
import type { InferAdmitEvent, InferSettleEvent, ReleaseEvent } from '../../src/index.js';
import type { CliRun } from './cli.js';

/** `audit list --json` over one log with its verifier key file, and the indexes of the entries it lists. */
export function auditLister(ms: (args: string[]) => CliRun, log: () => string, vkey: string) {
  const list = (...filters: string[]) => ms(['--json', 'audit', 'list', '--log', log(), '--log-key', vkey, ...filters]);
  const indexes = (...filters: string[]) => {
    const r = list(...filters);
    expect(r.code, r.stderr).toBe(0);
    return (r.json().entries as { index: number }[]).map((e) => e.index);
  };
  return { list, indexes };
}

/** An allowed release to acme-labs (DE) of request `request` × 32, without the compliance fields. */
export const release = (request: string, over: Partial<ReleaseEvent> = {}): ReleaseEvent => ({
  v: 1,
  type: 'release',
  time: '2026-11-02T10:00:00.000Z',
  request: request.repeat(32),
  recipient: 'acme-labs',
  org: 'Acme Labs GmbH',
  country: 'DE',
  certificate: null,
  artifact: `sha256:${'a'.repeat(64)}`,
  package: 'p'.repeat(64),
  license: 'L-1',
  decision: 'allow',
  reason: 'licensed',
  policies: ['licensed-release'],
  policySet: 'c'.repeat(64),
  ip: '192.0.2.1',
  destination: 'DE',
  nonce: null,
  ...over,
});

/** A 32-hex call id from one character. */
export const callId = (c: string) => c.repeat(32);

/** An allowed chat call by acme-labs (DE) to "tiny-llama", with every optional field set; `over` changes any. */
export function admit(id: string, over: Partial<InferAdmitEvent> = {}): InferAdmitEvent {
  return {
    v: 1,
    type: 'infer-admit',
    time: '2026-11-02T10:00:00.000Z',
    id,
    recipient: 'acme-labs',
    org: 'Acme Labs GmbH',
    country: 'DE',
    key: 'k_' + 'e'.repeat(16),
    certificate: null,
    model: 'tiny-llama',
    artifact: `sha256:${'a'.repeat(64)}`,
    endpoint: 'chat.completions',
    license: 'L-1',
    destination: 'DE',
    application: 'customer support',
    decision: 'allow',
    reason: 'licensed',
    policies: ['licensed-inference'],
    policySet: 'c'.repeat(64),
    ip: '192.0.2.1',
    observed: {
      address: '192.0.2.1',
      country: 'DE',
      network: '',
      database: `sha256:${'9'.repeat(64)}`,
      ageDays: 3,
      stale: false,
    },
    nationalities: ['DE'],
    screening: { decision: 'clear', lists: [`SDN@sha256:${'d'.repeat(64)}`], stale: [], best: null },
    reserved: { tokens: 1024, flops: '2048000' },
    quotas: `sha256:${'f'.repeat(64)}`,
    prompt: `sha256:${'1'.repeat(64)}`,
    features: { minhash: '00'.repeat(16), cot: false, promptTokens: 24 },
    risk: 120,
    stream: false,
    ...over,
  };
}

/** A refused call: `reason`, nothing reserved. */
export function denied(id: string, reason: string, over: Partial<InferAdmitEvent> = {}): InferAdmitEvent {
  return admit(id, { decision: 'deny', reason, policies: [reason], license: null, reserved: null, ...over });
}

/** The settle of the call admitted as `a` at entry `index`, completed with 24 + 100 tokens. */
export function settle(a: InferAdmitEvent, index: number, over: Partial<InferSettleEvent> = {}): InferSettleEvent {
  return {
    v: 1,
    type: 'infer-settle',
    time: a.time.replace('00.000Z', '01.500Z'),
    id: a.id,
    admit: index,
    recipient: a.recipient,
    model: a.model,
    outcome: 'completed',
    status: 200,
    tokens: { prompt: 24, completion: 100 },
    estimated: false,
    flops: '248000',
    durationMs: 1500,
    output: `sha256:${'2'.repeat(64)}`,
    stream: a.stream,
    ...over,
  };
}
