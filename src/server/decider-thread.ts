/**
 * The decider's worker thread (src/server/decider.ts): prepares policy sets, answers Cedar
 * questions (releases and inference calls) and, on a release it allows, wraps the data key to the
 * requester's ephemeral key.
 */
import { parentPort } from 'node:worker_threads';
import { evaluatePolicies, preparePolicies, type CedarRequest } from '../policy/cedar.js';
import { answerFor, type DeciderRequest } from './decider.js';

parentPort!.on('message', (m: DeciderRequest) => {
  // A preparation Cedar refuses leaves its id unknown: every question about it then denies.
  if ('prepare' in m) return void preparePolicies(m.prepare);
  const decision = evaluatePolicies(JSON.parse(m.call) as CedarRequest);
  const answer = m.wrap ? answerFor(decision, m.wrap) : { decision };
  m.wrap?.dek.fill(0);
  parentPort!.postMessage({ id: m.id, ...answer });
});
