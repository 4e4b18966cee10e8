/**
 * A small pool of worker threads for bulk payload work (src/crypto/bulk.ts). Callers keep a
 * bounded window of jobs in flight and consume results in order; that window is the only memory
 * the pipeline holds. With no workers (threads = 0) the jobs run on the calling thread.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { ModelsealError } from '../errors.js';
import { workerUrl } from '../io/workers.js';
import {
  keepFreedMemory,
  memoryTuningWanted,
  runBulkJob,
  transferList,
  type BulkJob,
  type BulkResult,
} from './bulk.js';

export type WorkerRequest = { id: number; job: BulkJob };
/** What the pool tells each worker as it starts it. */
export interface BulkWorkerData {
  /** The process opted in to the memory tuning (tuneMemoryForBulkCrypto): take V8's gc() there too. */
  tuneMemory: boolean;
}
export type WorkerResponse =
  | { id: number; ok: true; result: BulkResult }
  | { id: number; ok: false; error: string; code?: string }
  | { ready: true };

/** A job that failed on a worker, with the error code it raised there (an errno name, or SHORT_READ). */
export class JobError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

interface Pending {
  job: BulkJob;
  resolve: (r: BulkResult) => void;
  reject: (e: unknown) => void;
}

interface Slot {
  worker: Worker;
  /** Whether the worker finished booting; jobs go to it only then, so the main lane is not kept waiting. */
  ready: boolean;
  pending: Map<number, Pending>;
}

/**
 * Jobs each worker holds at once: one running and three ready, so it does not run dry while the main thread is busy
 * hashing (measured faster than two).
 */
const PER_WORKER = 4;

/** Threads set in MODELSEAL_THREADS (0 = no workers), if any. */
export function envThreads(): number | undefined {
  const env = process.env.MODELSEAL_THREADS;
  return env !== undefined && /^\d+$/.test(env) ? Math.min(Number(env), 64) : undefined;
}

/**
 * Below this much payload the calling thread finishes before a worker thread would have booted
 * (~50 ms here), so {@link CryptoPool.sized} starts none. Measured on the 2-core machine: at 32 MiB
 * seal, open and verify took 216, 204 and 133 ms on one thread, 230, 220 and 162 ms with a worker.
 */
export const SMALL_PAYLOAD_BYTES = 32 << 20;

export class CryptoPool {
  #threads: number;
  /** Whether the caller or MODELSEAL_THREADS chose the thread count (then {@link sized} keeps it). */
  readonly #chosen: boolean;
  #slots: Slot[] = [];
  #queue: Pending[] = [];
  #nextId = 1;
  #failed: unknown;
  #running = 0;
  #idle: (() => void)[] = [];
  #mainBusy = false;
  #onWorkers = 0;
  #readyWaiters: (() => void)[] = [];
  #started = false;
  readonly #script: URL | undefined;

  /**
   * `threads` lanes of work fed from one queue: `threads - 1` worker threads, which pull jobs as
   * they finish, and the calling thread, which takes a queued job between turns of its event loop
   * (it starts at once while workers take tens of milliseconds to boot, and one thread fewer than
   * cores measured 5% faster than one more, with less memory). threads 0 or 1: no workers.
   * `script`: the workers' entry module (default ./worker.js, which registers no piece transform).
   */
  constructor(threads?: number, script?: URL) {
    this.#script = script;
    const env = envThreads();
    this.#chosen = threads !== undefined || env !== undefined;
    this.#threads = threads ?? env ?? availableParallelism();
  }

  get threads(): number {
    return this.#threads;
  }

  /**
   * Runs a payload under {@link SMALL_PAYLOAD_BYTES} on the calling thread alone, unless the thread count was chosen.
   * Before {@link start}.
   */
  sized(payloadBytes: number): this {
    if (!this.#chosen && !this.#started && payloadBytes < SMALL_PAYLOAD_BYTES) this.#threads = 1;
    return this;
  }

  /** Starts the worker threads now (they take tens of milliseconds), so they are ready when the first job comes. */
  start(): this {
    keepFreedMemory();
    if (this.#started) return this;
    this.#started = true;
    const url = this.#script ?? workerUrl(import.meta.url, './worker.js');
    const workerData: BulkWorkerData = { tuneMemory: memoryTuningWanted() };
    for (let i = 0; i < this.#threads - 1; i++) {
      const worker = new Worker(url, { workerData });
      const slot: Slot = { worker, ready: false, pending: new Map() };
      worker.on('message', (r: WorkerResponse) => {
        if ('ready' in r) {
          slot.ready = true;
          for (const wake of this.#readyWaiters.splice(0)) wake();
          this.#pump();
          return;
        }
        const p = slot.pending.get(r.id);
        if (!p) return;
        slot.pending.delete(r.id);
        this.#settle(p, r.ok ? r.result : new JobError(r.error, r.code), r.ok);
        this.#pump();
      });
      const fail = (e: unknown) => {
        this.#failed = e;
        const err = new ModelsealError('INTERNAL', 'a crypto worker thread stopped', { cause: e });
        for (const p of [...slot.pending.values(), ...this.#queue]) this.#settle(p, err, false);
        slot.pending.clear();
        this.#queue = [];
      };
      worker.on('error', fail);
      worker.on('exit', (code) => code !== 0 && fail(new Error(`exit code ${code}`)));
      this.#slots.push(slot);
    }
    return this;
  }

  /**
   * Queues one job. Its ArrayBuffers are transferred to the worker that takes it and come back in the result;
   * SharedArrayBuffers (seal's pieces) are shared, and the caller leaves them alone until the job is done.
   */
  run(job: BulkJob): Promise<BulkResult> {
    this.start();
    if (this.#failed)
      return Promise.reject(new ModelsealError('INTERNAL', 'a crypto worker thread stopped', { cause: this.#failed }));
    this.#running++;
    const p = new Promise<BulkResult>((resolve, reject) => this.#queue.push({ job, resolve, reject }));
    this.#pump();
    return p;
  }

  #settle(p: Pending, value: unknown, ok: boolean): void {
    if (ok) p.resolve(value as BulkResult);
    else p.reject(value);
    if (--this.#running === 0) for (const wake of this.#idle.splice(0)) wake();
  }

  #pump(): void {
    for (const slot of this.#slots) {
      while (slot.ready && slot.pending.size < PER_WORKER && this.#queue.length > 0) {
        const p = this.#queue.shift()!;
        const id = this.#nextId++;
        this.#onWorkers++;
        slot.pending.set(id, p);
        slot.worker.postMessage({ id, job: p.job } satisfies WorkerRequest, transferList(p.job));
      }
    }
    if (!this.#mainBusy && this.#queue.length > 0) {
      this.#mainBusy = true;
      // Between event-loop turns, so worker results are taken in (and workers refilled) in between.
      setImmediate(() => {
        this.#mainBusy = false;
        const p = this.#queue.shift();
        if (p) {
          try {
            this.#settle(p, runBulkJob(p.job), true);
          } catch (e) {
            this.#settle(
              p,
              new JobError(e instanceof Error ? e.message : String(e), (e as { code?: string }).code),
              false,
            );
          }
        }
        this.#pump();
      });
    }
  }

  /** Jobs that ran on worker threads so far (the rest ran on the calling thread). */
  get jobsOnWorkers(): number {
    return this.#onWorkers;
  }

  /** Resolves once a worker has booted (at once when there are none). */
  async whenReady(): Promise<void> {
    this.start();
    if (this.#slots.length === 0 || this.#slots.some((s) => s.ready)) return;
    await new Promise<void>((resolve) => this.#readyWaiters.push(resolve));
  }

  /**
   * Cancels the jobs not started yet and waits for the running ones, so no worker still uses a
   * descriptor the caller is about to close. For after a failure, when no result is wanted.
   */
  async drain(): Promise<void> {
    for (const p of this.#queue.splice(0))
      this.#settle(p, new ModelsealError('INTERRUPTED', 'cancelled: an earlier piece failed'), false);
    if (this.#running > 0) await new Promise<void>((resolve) => this.#idle.push(resolve));
  }

  /** Stops the workers. Does not wait for them to wind down (a worker still booting takes tens of milliseconds). */
  async close(): Promise<void> {
    const slots = this.#slots;
    this.#slots = [];
    for (const s of slots) {
      s.worker.unref();
      s.worker.terminate().catch(() => {});
    }
  }
}

/**
 * Runs `produce` for each item with at most `depth` results pending, handing results to
 * `consume` strictly in order. The window bounds memory; order keeps hashing and writing sequential.
 */
export async function orderedPipeline<T>(
  depth: number,
  items: AsyncIterable<() => Promise<T>> | Iterable<() => Promise<T>>,
  consume: (result: T) => Promise<void> | void,
): Promise<void> {
  const window: Promise<T>[] = [];
  try {
    for await (const start of items) {
      const p = start();
      p.catch(() => {}); // awaited below in order; avoid an unhandled rejection while it waits
      window.push(p);
      if (window.length >= depth) await consume(await window.shift()!);
    }
    while (window.length > 0) await consume(await window.shift()!);
  } finally {
    window.length = 0;
  }
}
