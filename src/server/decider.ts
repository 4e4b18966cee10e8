/**
 * The CPU-heavy middle of a release, on a worker thread: the Cedar decision (~0.4 ms of
 * WebAssembly) and, when it allows, the data key wrapped to the requester's ephemeral key
 * (~0.25 ms of X25519). On the service's main thread they took ~45% of its time per release; on
 * the worker they run on the other core while the main thread parses, verifies and logs the next
 * requests. Same answers as {@link PolicyEngine.decide} and {@link wrapForRequester}. If the worker
 * fails, the questions it held are denied (evaluation-error) and the next one starts a new worker.
 * The wrapped key is only computed here: the service hands it out once the decision is logged.
 */
import { Worker } from 'node:worker_threads';
import type {
  InferQuestion,
  PolicyDecision,
  PolicyEngine,
  PolicyPreparation,
  ReleaseQuestion,
} from '../policy/engine.js';
import type { ReleaseAnswer } from '../release/response.js';
import { workerUrl } from '../io/workers.js';
import { wrapForRequester } from '../release/response.js';

/** What to wrap the data key for, when the decision allows. */
export interface WrapFor {
  dek: Uint8Array;
  ephemeral: string;
  request: string;
}

/**
 * `call` is the Cedar request as JSON text: cheaper to pass between threads than the object. A
 * release has a key to wrap; an inference call (action `Infer`) has none.
 */
export type DeciderRequest = { prepare: PolicyPreparation } | { id: number; call: string; wrap?: WrapFor };
export type DeciderResponse = { id: number; decision: PolicyDecision; key?: ReleaseAnswer['key'] };
type Answer = Omit<DeciderResponse, 'id'>;

/**
 * The answer for a decision: on allow, the key wrapped for the requester, or no key when the
 * requester's ephemeral key is unusable (a low-order point, whose shared secret is all zeros).
 */
export function answerFor(decision: PolicyDecision, wrap: WrapFor): Answer {
  if (decision.decision !== 'allow') return { decision };
  try {
    return { decision, key: wrapForRequester(wrap.dek, wrap.ephemeral, wrap.request) };
  } catch {
    return { decision };
  }
}

/** Inference decisions remembered at most; the memory is emptied when it is full (a few MB). */
const MAX_KNOWN_DECISIONS = 4096;

export class Decider {
  readonly #thread: boolean;
  #worker: Worker | null = null;
  /** Policy sets the current worker has been sent. */
  #prepared = new Set<string>();
  #pending = new Map<number, (r: Answer) => void>();
  #nextId = 1;
  /**
   * Inference decisions by their Cedar request, as sent to the worker: the policy set's id, every
   * entity and the whole context (its time in seconds, quota use and risk per mille). Cedar answers
   * the same request the same way, so a caller's calls within one second under unchanged facts are
   * decided once (docs/GATE.md, "Speed"). Errors are never kept.
   */
  readonly #inferDecisions = new Map<string, PolicyDecision>();

  /** `thread: false` decides on the calling thread (the default of a {@link ReleaseService}). */
  constructor(o: { thread: boolean } = { thread: true }) {
    this.#thread = o.thread;
  }

  /** Starts the worker and prepares `engine` there, so that the first request does not wait for it. */
  warm(engine: PolicyEngine): void {
    if (this.#thread) this.#prepare(this.#worker ?? this.#start(), engine.preparation);
  }

  /** The decision on `q` and, when it allows, the data key wrapped for the requester. */
  decide(engine: PolicyEngine, q: ReleaseQuestion, wrap: WrapFor): Promise<Answer> {
    if (!this.#thread) return Promise.resolve(answerFor(engine.decide(q), wrap));
    // The worker gets a copy of the key in a buffer of its own, moved (not copied again) to it,
    // which it zeroes after the wrap.
    const dek = new Uint8Array(wrap.dek);
    const copy = { dek, ephemeral: wrap.ephemeral, request: wrap.request };
    return this.#ask(engine, JSON.stringify(engine.request(q)), copy, [dek.buffer]);
  }

  /**
   * The decision on an inference call (action `Infer`, docs/GATE.md "Decisions"), on the same
   * worker and prepared policy set as releases; a failed worker denies (evaluation-error).
   */
  async decideInfer(engine: PolicyEngine, q: InferQuestion): Promise<PolicyDecision> {
    const call = JSON.stringify(engine.inferRequest(q));
    const known = this.#inferDecisions.get(call);
    if (known) return { ...known, policies: [...known.policies], errors: [] };
    const d = this.#thread ? (await this.#ask(engine, call)).decision : engine.decideInfer(q);
    if (d.errors.length === 0 && d.reason !== 'evaluation-error') {
      if (this.#inferDecisions.size >= MAX_KNOWN_DECISIONS) this.#inferDecisions.clear();
      this.#inferDecisions.set(call, d);
    }
    return { ...d, policies: [...d.policies] };
  }

  #ask(engine: PolicyEngine, call: string, wrap?: WrapFor, transfer: ArrayBuffer[] = []): Promise<Answer> {
    const w = this.#worker ?? this.#start();
    this.#prepare(w, engine.preparation);
    const id = this.#nextId++;
    // Referenced only while it owes answers: an idle worker does not keep the process alive.
    if (this.#pending.size === 0) w.ref();
    const message: DeciderRequest = { id, call, ...(wrap && { wrap }) };
    return new Promise((resolve) => {
      this.#pending.set(id, resolve);
      w.postMessage(message, transfer);
    });
  }

  async close(): Promise<void> {
    const w = this.#worker;
    this.#fail(w, 'the decider was closed');
    await w?.terminate();
  }

  #prepare(w: Worker, p: PolicyPreparation): void {
    if (this.#prepared.has(p.id)) return;
    w.postMessage({ prepare: p } satisfies DeciderRequest);
    this.#prepared.add(p.id);
  }

  #start(): Worker {
    const w = new Worker(workerUrl(import.meta.url, './decider-thread.js'));
    w.unref();
    w.on('message', (m: DeciderResponse) => {
      const resolve = this.#pending.get(m.id);
      this.#pending.delete(m.id);
      if (this.#pending.size === 0) w.unref();
      resolve?.(m);
    });
    w.on('error', (e) => this.#fail(w, `the decider worker failed: ${e.message}`));
    w.on('exit', (code) => this.#fail(w, `the decider worker exited (code ${code})`));
    this.#worker = w;
    this.#prepared.clear();
    return w;
  }

  /** Denies every question `w` still owes an answer to; the next question starts a new worker. */
  #fail(w: Worker | null, why: string): void {
    if (!w || this.#worker !== w) return;
    this.#worker = null;
    for (const resolve of this.#pending.values())
      resolve({ decision: { decision: 'deny', policies: [], reason: 'evaluation-error', errors: [why] } });
    this.#pending.clear();
  }
}
