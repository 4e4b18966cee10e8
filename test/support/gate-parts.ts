/**
 * The gateway's parts for the tests that open a Gateway in-process: quotas, monitor, features and
 * the policy's Infer decision, as `modelseal gate` assembles them.
 */
import type { GatewayOptions } from '../../src/gate/gateway.js';
import type { ExtractionMonitor, QuotaStore } from '../../src/gate/types.js';

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
      // The policy set in force decides, on the calling thread (the CLI uses the service's decider).
      decideInfer: (engine, q) => Promise.resolve(engine.decideInfer(q)),
      defaultMaxTokens: () => o.defaultMaxTokens ?? 64,
    },
  };
}
