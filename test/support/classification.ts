/** Classification records made by hand, for the tests of what seal binds and the service decides on. */
import type { ClassificationRecord, Determination } from '../../src/format/classification.js';

/** A US-EAR determination under the AI Diffusion pack (as the rule packs would make it). */
export function earDetermination(classification: string, over: Partial<Determination> = {}): Determination {
  return {
    regime: 'US-EAR',
    rulePack: 'us-ear-ai-diffusion@2025-01-15',
    classification,
    status: 'not-enforced',
    citations: ['90 FR 4544'],
    reasons: [classification === '4E091' ? 'closed weights trained with more than 1e26 operations' : 'below 1e26'],
    licenseRequired: null,
    licenseExceptions: [],
    ...over,
  };
}

/** A closed-weight model declared at `flops` operations, classified `ear` under US-EAR. */
export function classificationRecord(ear = '4E091', over: Partial<ClassificationRecord> = {}): ClassificationRecord {
  return {
    v: 2,
    time: '2026-12-05T12:00:00Z',
    facts: {
      parameters: 50_000,
      tensors: 2,
      dtypes: { F32: 40_000, BF16: 10_000 },
      format: 'safetensors',
      architecture: { model_type: 'llama', hidden_size: 64, rms_norm_eps: 1e-5 },
      configParameters: 50_000,
      trainingCompute: { flops: '2e+26', method: 'declared', tokens: null },
      weights: 'closed',
    },
    destination: null,
    rulePacks: ['us-ear-ai-diffusion@2025-01-15', 'eu-ai-act@2024-08-01'],
    determinations: [
      earDetermination(ear),
      {
        regime: 'EU-AI-Act',
        rulePack: 'eu-ai-act@2024-08-01',
        classification: 'gpai-systemic-risk',
        status: 'in-force',
        citations: ['Regulation (EU) 2024/1689, Art. 51(2)'],
        reasons: ['trained with at least 1e25 FLOPs'],
        licenseRequired: null,
        licenseExceptions: [],
      },
    ],
    ...over,
  };
}
