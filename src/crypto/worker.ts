/**
 * Worker thread for bulk payload work (src/crypto/bulk.ts): AES-256-GCM, SHA-256 chunk digests
 * and the positioned reads and writes around them, so both cores work while the main thread
 * hashes plaintext in order.
 */
import { parentPort } from 'node:worker_threads';
import { runBulkJob, takeGc, transferList } from './bulk.js';
import type { WorkerRequest, WorkerResponse } from './pool.js';

const port = parentPort;
if (!port) throw new Error('modelseal crypto worker must run in a worker thread');
takeGc();

port.on('message', ({ id, job }: WorkerRequest) => {
  let res: WorkerResponse;
  try {
    res = { id, ok: true, result: runBulkJob(job) };
  } catch (e) {
    res = { id, ok: false, error: e instanceof Error ? e.message : String(e), code: (e as { code?: string }).code };
  }
  port.postMessage(res, res.ok ? transferList(res.result) : []);
});
port.postMessage({ ready: true } satisfies WorkerResponse);
