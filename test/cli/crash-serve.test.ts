/**
 * The crash test of the release service: `kill -9` of `modelseal serve` at random moments under
 * concurrent load, restart, repeat. Afterwards, read from the restarted service as any client
 * would (its signed checkpoint and its entry tiles over HTTP), every receipt any client received
 * is proven in that log: its entry is there at its index, an inclusion proof holds against the
 * restarted log's signed root, and the receipt's own checkpoint is consistent with it (no
 * history rewritten). The store audits clean, and no key was handed out without its leaf. No
 * answer was a 5xx but a deliberate 503: a request is either answered properly or cut off.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { loadReleaseIdentity } from '../../src/keystore/keystore.js';
import { auditLog } from '../../src/log/audit.js';
import { openCheckpoint, verifyProof } from '../../src/log/checkpoint.js';
import { decodeEvent } from '../../src/log/events.js';
import { FileStore } from '../../src/log/filestore.js';
import {
  appendLeaves,
  consistencyProof,
  inclusionProof,
  leafHash,
  verifyConsistency,
  verifyInclusion,
  type Hash,
} from '../../src/log/merkle.js';
import { parseVerifierKey } from '../../src/log/note.js';
import { RemoteLog } from '../../src/log/remote.js';
import { unwrapFromService } from '../../src/release/response.js';
import { tempDir } from '../support/fixtures.js';
import { signedRequest } from '../support/release.js';
import { policyInForce, within } from '../support/wait.js';

const BIN = resolve('dist/cli/modelseal.bundle.mjs');
const dir = tempDir('modelseal-crash-');
const keys = join(dir, 'keys');
const data = join(dir, 'data');
const ROUNDS = Number(process.env.CRASH_ROUNDS ?? 6);
const CLIENTS = 8;
let server: ChildProcess | undefined;

function ms(args: string[]) {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` (npm test does)`);
  const r = spawnSync(process.execPath, [BIN, '--keys', keys, ...args], { cwd: dir, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`modelseal ${args.join(' ')} failed: ${r.stderr.toString()}`);
  return JSON.parse(r.stdout.toString() || '{}');
}

async function startServer(): Promise<string> {
  server = spawn(process.execPath, [BIN, '--keys', keys, '--json', 'serve', '--data', data, '--port', '0'], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((res, rej) => {
    createInterface({ input: server!.stdout! }).once('line', res);
    server!.once('exit', (code) => rej(new Error(`serve exited ${code} before it was ready`)));
  });
  return (JSON.parse(line) as { url: string }).url;
}

afterAll(() => server?.kill('SIGKILL'));

interface Answer {
  decision: string;
  requestId: string;
  receipt?: string;
  key?: { ephemeral: string; wrapped: string };
}

describe('release service under kill -9', () => {
  it(`${ROUNDS} crashes under ${CLIENTS} concurrent clients: every receipt is in the log, no key without a leaf`, async () => {
    ms(['--json', 'init', '--log-origin', 'crash.test/log']);
    ms([
      '--json',
      'recipient',
      'issue',
      'acme-labs',
      '--data',
      data,
      '--org',
      'Acme',
      '--country',
      'DE',
      '--nationality',
      'DE',
      '-o',
      join(dir, 'acme.identity'),
    ]);
    let url = await startServer();
    const sealed = ms([
      '--json',
      'seal',
      resolve('samples/checkpoint'),
      '--to',
      `release:${url}#acme-labs`,
      '--license',
      'L',
      '--no-license-check', // sealed ahead of its license, issued below
      '-o',
      join(dir, 'm.mseal'),
    ]);
    writeFileSync(
      join(data, 'policy', 'licenses.json'),
      JSON.stringify({
        licenses: [
          {
            id: 'L',
            holder: 'acme-labs',
            artifacts: [sealed.model.rootDigest],
            destinations: ['DE'],
            notBefore: '2020-01-01T00:00:00Z',
            notAfter: '2100-01-01T00:00:00Z',
            maxReleases: 1_000_000,
          },
        ],
      }),
    );
    await policyInForce(url, ms(['--json', 'policy', 'check', '--data', data]).hash);
    const { key } = await loadReleaseIdentity(join(dir, 'acme.identity'));
    const pkg = join(dir, 'm.mseal');
    const received: { answer: Answer; ephemeral: Awaited<ReturnType<typeof signedRequest>>['ephemeral'] }[] = [];
    let failures = 0;
    let answered = 0;
    const unexpected: string[] = [];

    for (let round = 0; round < ROUNDS; round++) {
      if (round > 0) url = await startServer();
      let stop = false;
      const client = async () => {
        while (!stop) {
          const { body, ephemeral } = await signedRequest(pkg, 'acme-labs', key);
          try {
            const res = await fetch(`${url}/v1/release`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify(body),
            });
            const text = await res.text();
            answered++;
            // Cut off or answered whole: never a 5xx but the 503 of an unavailable log.
            if (res.status >= 500 && !(res.status === 503 && text.includes('"code"')))
              unexpected.push(`${res.status} ${text.slice(0, 200)}`);
            let answer: Answer | undefined;
            try {
              answer = JSON.parse(text) as Answer;
            } catch {
              unexpected.push(`not JSON: ${res.status} ${text.slice(0, 200)}`);
            }
            if (answer?.receipt) received.push({ answer, ephemeral });
            else if (res.status !== 503)
              unexpected.push(`an answer without a receipt: ${res.status} ${text.slice(0, 200)}`);
          } catch {
            failures++; // the server died mid-request: no answer, no key
            return;
          }
        }
      };
      const clients = Array.from({ length: CLIENTS }, client);
      // The kill lands after a random number of answers, with every client's next request in flight.
      const target = answered + 2 + Math.floor(Math.random() * 30);
      await within(60_000, `answers under load in round ${round}`, () => answered >= target);
      server!.kill('SIGKILL');
      await new Promise((r) => server!.once('exit', r));
      stop = true;
      await Promise.all(clients);
    }
    // One clean start proves recovery. While it runs, a client's view of the log after the crashes:
    // its signed checkpoint and every entry, from the entry tiles it serves.
    url = await startServer();
    const logKey = parseVerifierKey(readFileSync(join(keys, 'log.vkey'), 'utf8'));
    const remote = await RemoteLog.open(url);
    const head = openCheckpoint(remote.checkpoint!, logKey);
    const entries = await remote.readEntries(0, head.size);
    const tree = await appendLeaves(0, entries.map(leafHash), async () => []);
    expect(tree.root.equals(head.root)).toBe(true); // the entries served are the log the checkpoint signs
    const hashes = async (indexes: readonly number[]): Promise<Hash[]> => indexes.map((i) => tree.stored[i]!);
    server!.kill('SIGTERM');
    await new Promise((r) => server!.once('exit', r));

    const store = FileStore.open(join(data, 'log'));
    try {
      expect(await auditLog(store, logKey)).toMatchObject({ ok: true });
      expect(unexpected).toEqual([]);
      const keysOut = received.filter((r) => r.answer.key);
      expect(keysOut.length).toBeGreaterThan(ROUNDS); // real load in every round
      expect(failures).toBeGreaterThan(0); // and the kills did cut requests off
      for (const { answer, ephemeral } of received) {
        // The receipt verifies on its own (inclusion in the checkpoint it carries)...
        const proof = verifyProof(answer.receipt!, undefined, logKey);
        const at =
          `receipt for entry ${proof.index} (checkpoint size ${proof.checkpoint.size}) against the log of ` +
          `${head.size} after restart`;
        // ...its entry is in the restarted log at its index...
        expect(proof.index, at).toBeLessThan(head.size);
        expect(entries[proof.index]!.equals(proof.entry), at).toBe(true);
        // ...proven against the restarted log's signed root...
        expect(
          verifyInclusion(
            leafHash(proof.entry),
            proof.index,
            head.size,
            await inclusionProof(proof.index, head.size, hashes),
            head.root,
          ),
          at,
        ).toBe(true);
        // ...and the tree the client was shown is a prefix of it.
        const consistency = await consistencyProof(proof.checkpoint.size, head.size, hashes);
        expect(
          verifyConsistency(proof.checkpoint.size, head.size, consistency, proof.checkpoint.root, head.root),
          at,
        ).toBe(true);
        const event = decodeEvent(proof.entry) as { request: string; decision: string };
        expect(event).toMatchObject({ request: answer.requestId, decision: answer.decision });
        if (answer.key) {
          expect(answer.decision).toBe('allow');
          expect(unwrapFromService(answer.key, ephemeral, answer.requestId)).not.toBeNull();
        }
      }
      const allowsLogged = (await store.readEntries(0, store.size)).filter(
        (e) => (decodeEvent(e) as { decision?: string } | null)?.decision === 'allow',
      ).length;
      expect(allowsLogged).toBeGreaterThanOrEqual(keysOut.length);
      if (process.env.CRASH_STATS) {
        console.log(
          JSON.stringify({
            rounds: ROUNDS,
            answers: received.length,
            keys: keysOut.length,
            cutOff: failures,
            logEntries: store.size,
            allowsLogged,
          }),
        );
      }
    } finally {
      await store.close();
    }
  }, 120_000);
});
