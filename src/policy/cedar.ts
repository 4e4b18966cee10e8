/**
 * Cedar (@cedar-policy/cedar-wasm), loaded on first use with the one V8 flag it needs, and the two
 * calls the service makes of it: prepare a policy set under an id, and answer a question about it.
 * Kept apart from the policy files: the decider's worker thread needs only this.
 */
import { createRequire } from 'node:module';
import { setFlagsFromString } from 'node:v8';

import type * as CedarModule from '@cedar-policy/cedar-wasm/nodejs';

type Cedar = typeof CedarModule;
/** One Cedar question, as the service asks it: plain data, so it can go to another thread. */
export type CedarRequest = Parameters<Cedar['statefulIsAuthorized']>[0];
/** What Cedar needs to answer questions about one loaded policy directory (docs/POLICY.md). */
export interface PolicyPreparation {
  id: string;
  schema: string;
  policies: Record<string, string>;
}

let cedar: Cedar | undefined;
/** Cedar loads (WebAssembly) only when a policy is used. */
export function loadCedar(): Cedar {
  if (cedar) return cedar;
  if (inlinesWasmCallsUnsafely()) setFlagsFromString('--no-turbo-inline-js-wasm-calls');
  cedar = createRequire(import.meta.url)('@cedar-policy/cedar-wasm/nodejs') as Cedar;
  return cedar;
}

/**
 * Whether this V8 aborts the process ("unreachable code", V8_Fatal in
 * Deoptimizer::DoComputeBuiltinContinuation) when optimised JavaScript that inlined a call to a
 * WebAssembly function returning externref is deoptimised while that call runs: TurboFan inlines
 * such calls by default, and the deoptimiser cannot rebuild the frame for an externref result.
 * Every Cedar export returns externref (wasm-bindgen), and Cedar builds its answer through calls
 * back into JavaScript: under load, the decider thread's optimised message handler was
 * invalidated during such a call, and the service died. V8 11.3 (Node 20) and 12.4 (Node 22) do;
 * 13.6 (Node 24) and 14.6 (Node 26) do not (test/unit/wasm-deopt.test.ts). There the inlining is
 * turned off, for the whole process (the decider's thread too), before Cedar's module is compiled:
 * V8 reads the flag whenever it optimises a function, so no optimised code ever holds such a call. This is the
 * one V8 flag a release service sets; README.md, "Supported runtimes".
 */
export function inlinesWasmCallsUnsafely(): boolean {
  return Number(process.versions.v8.split('.')[0]) < 13;
}

export interface PolicyDecision {
  decision: 'allow' | 'deny';
  /** The @id of each policy that decided: the permits for an allow, the forbids for a deny. */
  policies: string[];
  /** Why, in a few words: the deciding forbids, "no-permit", or "evaluation-error". */
  reason: string;
  /** Evaluation errors, if any (they deny). */
  errors: string[];
}

/** The messages of Cedar's errors. */
export const messages = (errors: readonly { message: string }[]) => errors.map((e) => e.message);

/** Parses the schema and policies into this thread's Cedar under their id; false when Cedar refuses. */
export function preparePolicies(p: PolicyPreparation): boolean {
  const c = loadCedar();
  return (
    c.preparseSchema(p.id, p.schema).type === 'success' &&
    c.preparsePolicySet(p.id, { staticPolicies: p.policies }).type === 'success'
  );
}

/** Answers a Cedar question; never throws: any error, or a question about unprepared policies, denies. */
export function evaluatePolicies(call: CedarRequest): PolicyDecision {
  let answer;
  try {
    answer = loadCedar().statefulIsAuthorized(call);
  } catch (e) {
    return { decision: 'deny', policies: [], reason: 'evaluation-error', errors: [(e as Error).message] };
  }
  if (answer.type === 'failure')
    return { decision: 'deny', policies: [], reason: 'evaluation-error', errors: messages(answer.errors) };
  const { decision, diagnostics } = answer.response;
  const errors = diagnostics.errors.map((e) => `${e.policyId}: ${e.error.message}`);
  // Cedar lists the deciding policies in no fixed order (it differs between two Cedar instances):
  // sorted, the same request gets the same log entry.
  const deciding = [...diagnostics.reason].sort();
  if (decision === 'allow' && errors.length === 0)
    return { decision: 'allow', policies: deciding, reason: 'licensed', errors };
  const policies = decision === 'deny' ? deciding : [];
  return {
    decision: 'deny',
    policies,
    reason: errors.length ? 'evaluation-error' : policies.length ? policies.join(',') : 'no-permit',
    errors,
  };
}
