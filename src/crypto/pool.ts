/**
 * A small pool of worker threads for chunk crypto. Callers keep a bounded window of promises in
 * flight and consume results in order; that window is the only memory the pipeline holds.
 */
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { ModelsealError } from '../errors.js';
import { decryptChunk, encryptChunk } from './chunk.js';

export type WorkerTask =
  | { op: 'seal' | 'open'; key: Uint8Array; counter: number; final: boolean; data: Uint8Array }
  | { op: 'hash'; data: Uint8Array };
export type WorkerRequest = WorkerTask & { id: number };

export type WorkerResponse =
  | { id: number; ok: true; out: Uint8Array | null; digest?: Uint8Array }
  | { id: number; ok: false; error: string };

interface Slot {
  worker: Worker;
  pending: Map<number, { resolve: (r: WorkerResponse & { ok: true }) => void; reject: (e: unknown) => void }>;
}

/** Threads to use: MODELSEAL_THREADS if set (0 = no workers), else the number of cores. */
export function defaultThreads(): number {
  const env = process.env.MODELSEAL_THREADS;
  if (env !== undefined && /^\d+$/.test(env)) return Math.min(Number(env), 64);
  return availableParallelism();
}

/** Makes `data` safe to transfer: a view over exactly its own ArrayBuffer (else a copy). */
function ownBuffer(data: Uint8Array): Uint8Array {
  if (data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && data.buffer instanceof ArrayBuffer) return data;
  const copy = new Uint8Array(new ArrayBuffer(data.byteLength));
  copy.set(data);
  return copy;
}

function workerUrl(): URL {
  // Under the TypeScript test runner this module is loaded from src/*.ts; the worker then runs the
  // compiled copy (npm test builds first), since worker threads do not go through the TS loader.
  return import.meta.url.endsWith('.ts')
    ? new URL('../../dist/src/crypto/worker.js', import.meta.url)
    : new URL('./worker.js', import.meta.url);
}

export class CryptoPool {
  readonly threads: number;
  #slots: Slot[] = [];
  #nextId = 1;
  #failed: unknown;

  constructor(threads = defaultThreads()) {
    this.threads = threads;
  }

  #start(): void {
    if (this.#slots.length > 0 || this.threads === 0) return;
    const url = workerUrl();
    for (let i = 0; i < this.threads; i++) {
      const worker = new Worker(url);
      const slot: Slot = { worker, pending: new Map() };
      worker.on('message', (r: WorkerResponse) => {
        const p = slot.pending.get(r.id);
        if (!p) return;
        slot.pending.delete(r.id);
        if (r.ok) p.resolve(r);
        else p.reject(new ModelsealError('INTERNAL', `crypto worker failed: ${r.error}`));
      });
      const fail = (e: unknown) => {
        this.#failed = e;
        for (const p of slot.pending.values()) p.reject(new ModelsealError('INTERNAL', 'a crypto worker thread stopped', { cause: e }));
        slot.pending.clear();
      };
      worker.on('error', fail);
      worker.on('exit', (code) => code !== 0 && fail(new Error(`exit code ${code}`)));
      this.#slots.push(slot);
    }
  }

  #run(req: WorkerTask): Promise<WorkerResponse & { ok: true }> {
    this.#start();
    if (this.#failed) return Promise.reject(new ModelsealError('INTERNAL', 'a crypto worker thread stopped', { cause: this.#failed }));
    const slot = this.#slots.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
    const id = this.#nextId++;
    const data = ownBuffer(req.data);
    return new Promise((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      slot.worker.postMessage({ ...req, id, data }, [data.buffer as ArrayBuffer]);
    });
  }

  /** Encrypts one chunk; returns ciphertext‖tag and its SHA-256 digest. `data` may be transferred (detached). */
  async seal(key: Uint8Array, counter: number, final: boolean, data: Uint8Array): Promise<{ sealed: Uint8Array; digest: Uint8Array }> {
    if (this.threads === 0) {
      const sealed = encryptChunk(key, counter, final, data);
      return { sealed, digest: createHash('sha256').update(sealed).digest() };
    }
    const r = await this.#run({ op: 'seal', key, counter, final, data });
    return { sealed: r.out!, digest: r.digest! };
  }

  /** Decrypts one chunk; null when it does not authenticate. `data` may be transferred (detached). */
  async open(key: Uint8Array, counter: number, final: boolean, data: Uint8Array): Promise<Uint8Array | null> {
    if (this.threads === 0) return decryptChunk(key, counter, final, data);
    const r = await this.#run({ op: 'open', key, counter, final, data });
    return r.out;
  }

  /** SHA-256 of one chunk. `data` may be transferred (detached). */
  async hash(data: Uint8Array): Promise<Uint8Array> {
    if (this.threads === 0) return createHash('sha256').update(data).digest();
    const r = await this.#run({ op: 'hash', data });
    return r.digest!;
  }

  async close(): Promise<void> {
    const slots = this.#slots;
    this.#slots = [];
    await Promise.all(slots.map((s) => s.worker.terminate()));
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
