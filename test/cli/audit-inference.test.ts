/**
 * The gateway's entries (infer-admit, infer-settle) in `audit verify`, `audit list` and `audit proof`,
 * over real log stores written through TransparencyLog: the pairing an auditor checks (every settle
 * follows an allowed admit of its call, for the same recipient and model, once), open calls, the
 * filters and columns, and tampering (an entry edited in place; a log rewritten with the log's key).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeEvent, NoteSigner, openLogStore, TransparencyLog, type LogEvent } from '../../src/index.js';
import { cli } from '../support/cli.js';
import { tempDir } from '../support/fixtures.js';
import { admit, auditLister, callId, denied, release as releaseOf, settle } from '../support/inference.js';

const release = releaseOf('0', { time: '2026-11-01T10:00:00.000Z' });

const dir = tempDir('modelseal-cli-audit-inference-');
const ms = cli(join(dir, 'keys'), dir);
const signer = NoteSigner.generate('audit-inference.test/log');
const vkey = join(dir, 'log.vkey');

const A = admit(callId('a'), { application: 'translation' });
const B = denied(callId('b'), 'embargoed-country', {
  recipient: 'globex',
  org: 'Globex',
  country: 'CN',
  destination: 'CN',
  observed: { ...A.observed!, country: 'CN' },
  screening: { ...A.screening!, decision: 'hit' },
});
const C = admit(callId('c'), {
  model: 'other-model',
  artifact: `sha256:${'b'.repeat(64)}`,
  license: 'L-2',
  stream: true,
  time: '2026-11-03T10:00:00.000Z',
});
const D = admit(callId('d'), { time: '2026-11-04T10:00:00.000Z' });

const entries: LogEvent[] = [
  release, // 0
  A, // 1
  B, // 2
  C, // 3
  settle(A, 1, { output: `sha256:${'7'.repeat(64)}` }), // 4
  D, // 5: never settled
  settle(C, 3, { outcome: 'client-disconnect', estimated: true, tokens: { prompt: 24, completion: 9 } }), // 6
];

/** A log store at `name` holding `events`, written through a real TransparencyLog. */
async function writeLog(name: string, events: readonly LogEvent[]): Promise<string> {
  const logDir = join(dir, name);
  const log = new TransparencyLog(await openLogStore(logDir), signer, { commitIntervalMs: 0 });
  for (const e of events) await log.append(encodeEvent(e));
  await log.close();
  return logDir;
}

let logDir = '';
beforeAll(async () => {
  writeFileSync(vkey, signer.verifierKey + '\n');
  logDir = await writeLog('log', entries);
});

const verify = (store: string) => ms(['--json', 'audit', 'verify', '--store', store, '--log-key', vkey]);
const { list, indexes } = auditLister(ms, () => logDir, vkey);

describe('audit verify: the gateway entries', () => {
  it('counts the calls and reports the allowed call never settled as open', () => {
    const r = verify(logDir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().inference).toEqual({
      admitted: 3,
      denied: 1,
      settled: 2,
      open: 1,
      openCalls: [{ index: 5, id: callId('d') }],
    });
    const human = ms(['audit', 'verify', '--store', logDir, '--log-key', vkey]);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stderr).toMatch(/inference: 3 call\(s\) allowed, 1 denied, 2 settled, 1 open/);
    expect(human.stderr).toContain(`open: call ${callId('d')} admitted at entry 5, never settled`);
  });

  it('a log without gate entries reports none (its output is as before)', async () => {
    const r = verify(await writeLog('releases-only', [release]));
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).not.toHaveProperty('inference');
  });

  it('an admit or a settle edited in place fails as a changed entry (exit 12)', async () => {
    for (const [name, from, to, index] of [
      ['edited-admit', 'translation', 'translatiom', 1],
      ['edited-settle', '7'.repeat(64), '8'.repeat(64), 4],
    ] as const) {
      const copy = await writeLog(name, entries);
      const bytes = readFileSync(join(copy, 'entries'));
      expect(bytes.indexOf(from)).toBeGreaterThan(0);
      bytes.write(to, bytes.indexOf(from));
      writeFileSync(join(copy, 'entries'), bytes);
      const r = verify(copy);
      expect(r.code).toBe(12);
      expect(r.json().error).toMatchObject({ code: 'LOG_INVALID', details: { problem: { kind: 'entry', index } } });
    }
  });

  it('a log rewritten with its key still fails when a settle does not pair with its admit (exit 12)', async () => {
    const cases: [string, LogEvent[], number, RegExp][] = [
      ['no-admit', [A, settle(C, 0)], 1, /settle of call c{32} follows no admit entry/],
      ['other-recipient', [A, settle(A, 0, { recipient: 'globex' })], 1, /names recipient "globex", its admit/],
      ['other-model', [A, settle(A, 0, { model: 'other-model' })], 1, /names model "other-model"/],
      ['wrong-index', [release, A, settle(A, 0)], 2, /names admit entry 0, its admit entry 1 1/],
      ['twice', [A, settle(A, 0), settle(A, 0)], 2, /already settled at entry 1/],
      ['denied', [B, settle(B, 0)], 1, /is settled but entry 0 denied it/],
      ['admitted-twice', [A, A], 1, /already admitted at entry 0/],
      ['settle-before-admit', [settle(A, 1), A], 0, /follows no admit entry/],
    ];
    for (const [name, events, index, message] of cases) {
      const r = verify(await writeLog(`rewritten-${name}`, events));
      expect(r.code, name).toBe(12);
      const error = r.json().error;
      expect(error.details.problem, name).toMatchObject({ kind: 'inference', index });
      expect(error.message, name).toMatch(message);
    }
  });
});

describe('audit list: the gateway entries', () => {
  it('filters by type, decision, recipient, model, artifact, org, country, license and the compliance fields', () => {
    expect(indexes()).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(indexes('--type', 'infer-admit')).toEqual([1, 2, 3, 5]);
    expect(indexes('--type', 'infer-settle')).toEqual([4, 6]);
    // A settle decides nothing: only admits (and the release) are allowed or denied.
    expect(indexes('--decision', 'allow')).toEqual([0, 1, 3, 5]);
    expect(indexes('--decision', 'deny')).toEqual([2]);
    expect(indexes('--recipient', 'globex')).toEqual([2]);
    expect(indexes('--model', 'other-model')).toEqual([3, 6]);
    // A settle matches the filters on its admit entry's fields when its admit entry does.
    expect(indexes('--artifact', 'a'.repeat(64))).toEqual([0, 1, 2, 4, 5]);
    expect(indexes('--country', 'cn')).toEqual([2]);
    expect(indexes('--org', 'acme labs gmbh', '--type', 'infer-settle')).toEqual([4, 6]);
    expect(indexes('--license', 'L-2')).toEqual([3, 6]);
    expect(indexes('--observed-country', 'CN')).toEqual([2]);
    expect(indexes('--screening', 'clear')).toEqual([1, 3, 4, 5, 6]);
    expect(indexes('--destination', 'DE', '--type', 'infer-admit')).toEqual([1, 3, 5]);
    expect(indexes('--since', '2026-11-03T00:00:00Z', '--model', 'tiny-llama')).toEqual([5]);
    expect(list('--type', 'infer').code).toBe(2);
  });

  it('prints the calls as CSV columns and in the table; JSON holds the entries as logged', () => {
    expect(list('--type', 'infer-settle').json().entries[1]).toMatchObject({ index: 6, ...entries[6] });
    const csv = ms(['audit', 'list', '--log', logDir, '--log-key', vkey, '--model', 'other-model', '--csv']);
    expect(csv.code, csv.stderr).toBe(0);
    const [head, ...rows] = csv.stdout.trimEnd().split('\r\n');
    const cols = head!.split(',');
    const at = (row: string, c: string) => row.split(',')[cols.indexOf(c)];
    const gate = ['endpoint', 'outcome', 'prompt_tokens', 'completion_tokens', 'estimated', 'flops', 'duration_ms'];
    expect(cols.slice(-8)).toEqual([...gate, 'risk']);
    expect(
      rows.map((r) => [...['decision', 'request', 'model', 'license'], ...gate, 'risk'].map((c) => at(r, c))),
    ).toEqual([
      ['allow', callId('c'), 'other-model', 'L-2', 'chat.completions', '', '24', '', '', '', '', '120'],
      ['', callId('c'), 'other-model', '', '', 'client-disconnect', '24', '9', 'true', '248000', '1500', ''],
    ]);
    expect(rows.map((r) => at(r, 'reason'))).toEqual([
      'licensed (reserved 1024 tokens)',
      'client-disconnect: HTTP 200 (admitted at entry 3)',
    ]);
    const table = ms(['audit', 'list', '--log', logDir, '--log-key', vkey, '--recipient', 'globex']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/infer-admit\s+deny\s+embargoed-country\s+globex\s+Globex\s+CN/);
  });

  it('audit proof finds an inference call by its id', () => {
    const r = ms(['--json', 'audit', 'proof', callId('c'), '--store', logDir, '--log-key', vkey]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().index).toBe(3);
  });
});
