/**
 * The message loop of a bulk-crypto worker thread (src/crypto/bulk.ts): AES-256-GCM, SHA-256 chunk
 * digests and the positioned reads and writes around them, so both cores work while the main thread
 * hashes plaintext in order. A worker entry script registers its piece transforms, then calls it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runBulkJob, takeGc, transferList } from './bulk.js';
import type { BulkWorkerData, WorkerRequest, WorkerResponse } from './pool.js';

/** Serves bulk jobs from the parent thread until the worker is terminated. */
export function serveBulkJobs(): void {
  const port = parentPort;
  if (!port) throw new Error('modelseal crypto worker must run in a worker thread');
  // gc() is taken with the first job, not as the worker loads: taking it makes a new V8 context, and
  // a worker terminated while it makes one (a pool closed before any job, at exit) makes V8 print the
  // failed bootstrap script on stdout, into --json output. A pool drains its running jobs before it
  // closes, so no worker is terminated inside its first job.
  let gcWanted = (workerData as BulkWorkerData | undefined)?.tuneMemory === true;
  port.on('message', ({ id, job }: WorkerRequest) => {
    if (gcWanted) {
      gcWanted = false;
      takeGc();
    }
    let res: WorkerResponse;
    try {
      res = { id, ok: true, result: runBulkJob(job) };
    } catch (e) {
      res = { id, ok: false, error: e instanceof Error ? e.message : String(e), code: (e as { code?: string }).code };
    }
    port.postMessage(res, res.ok ? transferList(res.result) : []);
  });
  port.postMessage({ ready: true } satisfies WorkerResponse);
}
