/**
 * Worker thread for bulk payload crypto: AES-256-GCM chunks and SHA-256 chunk digests run here
 * so both cores work while the main thread reads, hashes plaintext in order, and writes.
 */
import { createHash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { decryptChunk, encryptChunk } from './chunk.js';
import type { WorkerRequest, WorkerResponse } from './pool.js';

const port = parentPort;
if (!port) throw new Error('modelseal crypto worker must run in a worker thread');

port.on('message', (m: WorkerRequest) => {
  let res: WorkerResponse;
  let transfer: ArrayBuffer[] = [];
  try {
    if (m.op === 'seal') {
      const sealed = encryptChunk(m.key, m.counter, m.final, m.data);
      const digest = createHash('sha256').update(sealed).digest();
      res = { id: m.id, ok: true, out: sealed, digest };
      transfer = [sealed.buffer as ArrayBuffer];
    } else if (m.op === 'open') {
      const plain = decryptChunk(m.key, m.counter, m.final, m.data);
      res = { id: m.id, ok: true, out: plain };
      if (plain && plain.byteLength === plain.buffer.byteLength) transfer = [plain.buffer as ArrayBuffer];
    } else {
      res = { id: m.id, ok: true, out: null, digest: createHash('sha256').update(m.data).digest() };
    }
  } catch (e) {
    res = { id: m.id, ok: false, error: e instanceof Error ? e.message : String(e) };
  }
  port.postMessage(res, transfer);
});
