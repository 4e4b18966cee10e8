/**
 * The gateway's parts for the tests that open a Gateway in-process: quotas, monitor, features and
 * the policy's Infer decision, as `modelseal gate` assembles them.
 */
import type { GatewayOptions } from '../../src/gate/gateway.js';
import type { ExtractionMonitor, QuotaStore } from '../../src/gate/types.js';
import type { InferQuestion, PolicyDecision, PolicyEngine } from '../../src/policy/engine.js';

export interface TestParts {
  options: Omit<GatewayOptions, 'setup' | 'keys' | 'model' | 'upstream'>;
  quotas: QuotaStore;
  monitor: ExtractionMonitor;
}

/** Unlimited quotas (the tests of quotas give their own). */
function noQuotas(): QuotaStore {
  let n = 0;
  return {
    digest: '',
    reserve: (subject, amount, now) =>
      Promise.resolve({ ok: true, id: String(n++), subject, amount, at: now.getTime() }),
    settle: () => Promise.resolve(),
    usedPerMille: () => Promise.resolve(0),
    close: () => Promise.resolve(),
  };
}

function quietMonitor(): ExtractionMonitor {
  return {
    observe: () => {},
    assess: (caller) => ({ caller, score: 0, calls: 0, signals: [] }),
    callers: () => [],
  };
}

/** The decision until the policy has its Infer action: a license covering the call, and no screening hit. */
function decideInfer(_engine: PolicyEngine, q: InferQuestion): Promise<PolicyDecision> {
  if (!q.license) return Promise.resolve({ decision: 'deny', policies: [], reason: 'no-permit', errors: [] });
  return Promise.resolve({ decision: 'allow', policies: ['licensed-inference'], reason: 'licensed', errors: [] });
}

/** The parts of a gateway for tests, with `defaultMaxTokens`. */
export function gateParts(
  o: { defaultMaxTokens?: number; quotas?: QuotaStore; monitor?: ExtractionMonitor } = {},
): TestParts {
  const quotas = o.quotas ?? noQuotas();
  const monitor = o.monitor ?? quietMonitor();
  return {
    quotas,
    monitor,
    options: {
      quotas,
      monitor,
      features: (_text, promptTokens) => ({ minhash: '', cot: false, promptTokens }),
      decideInfer,
      defaultMaxTokens: () => o.defaultMaxTokens ?? 64,
    },
  };
}
