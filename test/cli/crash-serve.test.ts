/**
 * The crash test of the release service: `kill -9` of `modelseal serve` at random moments under
 * concurrent load, restart, repeat. Afterwards every receipt any client received is in the log at
 * its index, the log audits clean, and no key was handed out without its leaf.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { loadReleaseIdentity } from '../../src/keystore/keystore.js';
import { auditLog } from '../../src/log/audit.js';
import { verifyProof } from '../../src/log/checkpoint.js';
import { decodeEvent } from '../../src/log/events.js';
import { FileStore } from '../../src/log/filestore.js';
import { parseVerifierKey } from '../../src/log/note.js';
import { unwrapFromService } from '../../src/server/protocol.js';
import { tempDir } from '../support/fixtures.js';
import { signedRequest } from '../support/release.js';

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
  if (r.status !== 0) throw new Error(`modelseal ${args.join(' ')} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.toString() || '{}');
}

async function startServer(): Promise<string> {
  server = spawn(process.execPath, [BIN, '--keys', keys, '--json', 'serve', '--data', data, '--port', '0'], { cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] });
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
    ms(['--json', 'recipient', 'issue', 'acme-labs', '--data', data, '--org', 'Acme', '--country', 'DE', '--nationality', 'DE', '-o', join(dir, 'acme.identity')]);
    let url = await startServer();
    const sealed = ms(['--json', 'seal', resolve('samples/checkpoint'), '--to', `release:${url}#acme-labs`, '--license', 'L', '-o', join(dir, 'm.mseal')]);
    writeFileSync(
      join(data, 'policy', 'licenses.json'),
      JSON.stringify({ licenses: [{ id: 'L', holder: 'acme-labs', artifacts: [sealed.model.rootDigest], destinations: ['DE'], notBefore: '2020-01-01T00:00:00Z', notAfter: '2100-01-01T00:00:00Z', maxReleases: 1_000_000 }] }),
    );
    const { key } = await loadReleaseIdentity(join(dir, 'acme.identity'));
    const pkg = join(dir, 'm.mseal');
    const received: Array<{ answer: Answer; ephemeral: Awaited<ReturnType<typeof signedRequest>>['ephemeral'] }> = [];
    let failures = 0;

    for (let round = 0; round < ROUNDS; round++) {
      if (round > 0) url = await startServer();
      let stop = false;
      const client = async () => {
        while (!stop) {
          const { body, ephemeral } = await signedRequest(pkg, 'acme-labs', key);
          try {
            const res = await fetch(`${url}/v1/release`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
            const answer = (await res.json()) as Answer;
            received.push({ answer, ephemeral });
          } catch {
            failures++; // the server died mid-request: no answer, no key
            return;
          }
        }
      };
      const clients = Array.from({ length: CLIENTS }, client);
      await new Promise((r) => setTimeout(r, 1200 + Math.random() * 800)); // the first round also waits for the policy reload
      server!.kill('SIGKILL');
      await new Promise((r) => server!.once('exit', r));
      stop = true;
      await Promise.all(clients);
    }
    // One clean start proves recovery; then the auditor's view of the store.
    url = await startServer();
    server!.kill('SIGTERM');
    await new Promise((r) => server!.once('exit', r));

    const logKey = parseVerifierKey(readFileSync(join(keys, 'log.vkey'), 'utf8'));
    const store = FileStore.open(join(data, 'log'));
    try {
      expect(await auditLog(store, logKey)).toMatchObject({ ok: true });
      const keysOut = received.filter((r) => r.answer.key);
      expect(keysOut.length).toBeGreaterThan(ROUNDS); // real load in every round
      expect(failures).toBeGreaterThan(0); // and the kills did cut requests off
      for (const { answer, ephemeral } of received) {
        // Every receipt a client got verifies, and its entry is in the final log at its index.
        const proof = verifyProof(answer.receipt!, undefined, logKey);
        const [logged] = await store.readEntries(proof.index, proof.index + 1);
        expect(logged!.equals(proof.entry)).toBe(true);
        const event = decodeEvent(logged!) as { request: string; decision: string };
        expect(event).toMatchObject({ request: answer.requestId, decision: answer.decision });
        if (answer.key) {
          expect(answer.decision).toBe('allow');
          expect(unwrapFromService(answer.key, ephemeral, answer.requestId)).not.toBeNull();
        }
      }
      const allowsLogged = (await store.readEntries(0, store.size)).filter((e) => (decodeEvent(e) as { decision?: string } | null)?.decision === 'allow').length;
      expect(allowsLogged).toBeGreaterThanOrEqual(keysOut.length);
      if (process.env.CRASH_STATS) {
        console.log(JSON.stringify({ rounds: ROUNDS, answers: received.length, keys: keysOut.length, cutOff: failures, logEntries: store.size, allowsLogged }));
      }
    } finally {
      await store.close();
    }
  }, 120_000);
});
