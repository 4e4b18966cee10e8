/**
 * Hostile requests against a real release service over HTTP on loopback: random methods, paths and
 * headers; bodies nested deep, with huge numbers, wrong types, bad base64, bad or replayed
 * signatures; oversized, cut short, trickled, or not HTTP at all. Whatever comes, the service
 * answers with no 5xx, gives every request an id of its own, puts every request on the record (its
 * own log entry, a summary entry, or the service log) and stays up; the log audits clean at the end.
 * Cases come from a seeded PRNG: a failure names its seed and case (MODELSEAL_FUZZ_SEED replays).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest, Agent } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initKeystore, loadPublisherKey, loadReleaseIdentity, noPassphrase } from '../../src/keystore/keystore.js';
import { auditLog } from '../../src/log/audit.js';
import { verifyProof } from '../../src/log/checkpoint.js';
import { decodeEvent, storeEvents } from '../../src/log/events.js';
import { parseVerifierKey } from '../../src/log/note.js';
import { seal } from '../../src/package/seal.js';
import { initPolicyDir, POLICY_FILES } from '../../src/policy/engine.js';
import { recipientFrom, type ProviderSettings } from '../../src/providers/registry.js';
import { MAX_BODY_BYTES, startServer, type ExchangeRecord, type RunningServer } from '../../src/server/http.js';
import { loadOrCreateCa, RecipientRegistry } from '../../src/server/recipients.js';
import { openReleaseService, type ReleaseServiceSetup } from '../../src/server/setup.js';
import { writeKeyFile } from '../../src/keystore/keyfile.js';
import { loadLocalKey } from '../../src/providers/local.js';
import { tempDir } from '../support/fixtures.js';
import { fuzzCases, fuzzSeed } from '../support/fuzz.js';
import { prng } from '../support/prng.js';
import { signedRequest } from '../support/release.js';

const CASES = fuzzCases(6000);
const SEED = fuzzSeed();
const CONCURRENCY = 8;

const dir = tempDir('modelseal-fuzz-server-');
const keys = join(dir, 'keys');
const data = join(dir, 'data');
let setup: ReleaseServiceSetup;
let server: RunningServer;
let port = 0;
let pkg = '';
const records: ExchangeRecord[] = [];

beforeAll(async () => {
  await initKeystore(keys, { logOrigin: 'fuzz.test/log' });
  const src = join(dir, 'weights.bin');
  writeFileSync(src, randomBytes(4096));
  const publisher = await loadPublisherKey(join(keys, 'publisher.key'));
  const probe = await seal({
    input: src,
    output: join(dir, 'probe.mseal'),
    recipients: [await loadLocalKey(join(keys, 'local.kek'))],
    publisher,
  });
  mkdirSync(join(data, 'policy'), { recursive: true });
  await initPolicyDir(join(data, 'policy'));
  const year = 365 * 86400_000;
  const license = {
    id: 'L-FUZZ',
    holder: 'acme-labs',
    artifacts: [probe.model.rootDigest],
    destinations: ['DE'],
    notBefore: new Date(Date.now() - year).toISOString(),
    notAfter: new Date(Date.now() + year).toISOString(),
    maxReleases: 1_000_000_000,
  };
  writeFileSync(join(data, 'policy', POLICY_FILES.licenses), JSON.stringify({ licenses: [license] }));
  const registry = new RecipientRegistry(join(data, 'recipients'));
  const { identity } = await registry.issue(
    'acme-labs',
    { org: 'Acme Labs GmbH', country: 'DE', nationality: 'DE' },
    await loadOrCreateCa(keys),
  );
  await writeKeyFile(join(dir, 'acme.identity'), identity);
  // Limits that let most failures through to the log and refuse the rest: both paths get exercised.
  setup = await openReleaseService(data, keys, {
    commitIntervalMs: 5,
    skewSeconds: 300,
    rateLimits: { burst: 100, perSecond: 50 },
    summaryIntervalMs: 2_000,
  });
  server = await startServer(setup.service, setup.log, {
    port: 0,
    requestTimeoutMs: 1_500,
    onExchange: (r) => records.push(r),
  });
  port = (server.server.address() as { port: number }).port;
  pkg = join(dir, 'acme.mseal');
  const settings = { keysDir: keys, passphrase: noPassphrase, identityFiles: [], kms: {} } as ProviderSettings;
  await seal({
    input: src,
    output: pkg,
    recipients: [await recipientFrom(`release:${server.url}#acme-labs`, settings)],
    publisher,
    license: 'L-FUZZ',
  });
}, 120_000);

afterAll(async () => {
  // Unset when beforeAll failed.
  await (server as RunningServer | undefined)?.close();
  await (setup as ReleaseServiceSetup | undefined)?.close();
});

interface Sent {
  kind: string;
  /** What came back: null when the connection ended without an HTTP answer (a body cut short). */
  status: number | null;
  id: string | null;
  body: Buffer;
}

const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });

function send(
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: Buffer,
): Promise<Omit<Sent, 'kind'>> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers, agent }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (b: Buffer) => parts.push(b));
      res.on('end', () =>
        resolve({
          status: res.statusCode!,
          id: (res.headers['x-request-id'] as string | undefined) ?? null,
          body: Buffer.concat(parts),
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Bytes on a fresh connection, written in `chunks` `gapMs` apart, then (unless `hold`) our side closed. */
function rawSend(chunks: Buffer[], gapMs: number): Promise<Omit<Sent, 'kind'>> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    sock.on('data', (b: Buffer) => got.push(b));
    sock.on('error', () => {});
    sock.on('close', () => {
      const text = Buffer.concat(got);
      const head = text.toString('latin1');
      const status = /^HTTP\/1\.1 (\d{3})/.exec(head);
      const id = /\r\nx-request-id: ([0-9a-f]{32})\r\n/i.exec(head);
      const split = text.indexOf('\r\n\r\n');
      resolve({
        status: status ? Number(status[1]) : null,
        id: id ? id[1]! : null,
        body: split >= 0 ? text.subarray(split + 4) : Buffer.alloc(0),
      });
    });
    let i = 0;
    const next = () => {
      if (sock.destroyed) return;
      if (i < chunks.length) {
        sock.write(chunks[i++]!);
        setTimeout(next, gapMs);
      } else sock.end();
    };
    sock.once('connect', next);
  });
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE', 'PROPFIND', 'M-SEARCH'];
const PATHS = [
  '/',
  '//',
  '///',
  '/v1/info',
  '/v1/release',
  '/v1/export',
  '/v1/checkpoints',
  '/checkpoint',
  '/tile/0/000',
  '/tile/0/x000/000',
  '/tile/entries/000',
  '/tile/0/000.p/1',
  '/tile/64/000',
  '/tile/00/000',
  '/tile/0/000.p/0',
  '/tile/0/000.p/256',
  '/v1/info?x=1',
  '/v1/release/',
  '/%2e%2e/%2e%2e/etc/passwd',
  '/tile/../v1/info',
  '/v1/info#frag',
  '/%00',
  '/a'.repeat(2000),
];

/** JSON text nested `depth` deep (arrays or objects), within `limit` bytes. */
function nested(r: ReturnType<typeof prng>, depth: number): string {
  const obj = r.int(2) === 0;
  return obj ? `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}` : `${'['.repeat(depth)}${']'.repeat(depth)}`;
}

const HOSTILE_VALUES: unknown[] = [
  null,
  true,
  0,
  -0,
  1e308,
  2 ** 64,
  -1,
  1.5,
  '',
  'x'.repeat(5000),
  [],
  {},
  ['a'],
  { a: 1 },
  '\u0000',
  '\ud800',
  '💥'.repeat(100),
];

function mutateField(r: ReturnType<typeof prng>, body: { request: Record<string, unknown>; signature: string }): void {
  const req = body.request;
  const stanza = req.stanza as Record<string, unknown>;
  switch (r.int(9)) {
    case 0:
      req[r.pick(Object.keys(req))] = r.pick(HOSTILE_VALUES);
      break;
    case 1:
      stanza[r.pick(Object.keys(stanza))] = r.pick(HOSTILE_VALUES);
      break;
    case 2:
      body.signature = r.pick([
        '',
        '!!!',
        'AAAA',
        Buffer.from(r.bytes(r.int(600))).toString('base64'),
        body.signature.slice(1),
      ]);
      break;
    case 3:
      stanza.body = r.pick(['%%%', '====', 'QQ', '', Buffer.from(r.bytes(64)).toString('base64url')]);
      break;
    case 4:
      req.ephemeral = r.pick([
        '',
        Buffer.alloc(32).toString('base64url'),
        Buffer.from(r.bytes(32)).toString('base64url'),
        'A'.repeat(43),
      ]);
      break;
    case 5:
      req.time = r.pick([
        '2026-13-45T99:99:99Z',
        '0',
        new Date(0).toISOString(),
        new Date(8.64e15).toISOString(),
        'now',
      ]);
      break;
    case 6:
      (body as Record<string, unknown>)[r.pick(['extra', '__proto__', 'constructor'])] = r.pick(HOSTILE_VALUES);
      break;
    case 7:
      req.recipient = r.pick(['nobody', 'ACME-LABS', 'acme-labs\u0000', '../acme-labs', 'acme-labs'.repeat(10)]);
      break;
    default:
      stanza.args = r.pick([[], ['x'], Array.from({ length: 17 }, () => 'a'), [1, 2], [stanza.args, 'aws-kms']]);
  }
}

/** One hostile case: builds it from the PRNG and sends it. */
async function runCase(
  r: ReturnType<typeof prng>,
  replays: string[],
  identityKey: Parameters<typeof signedRequest>[2],
  i: number,
): Promise<Sent> {
  const json = { 'content-type': 'application/json' };
  // Rarely (each holds a connection until the server's request timeout): a body that stops and waits.
  if (i % 500 === 7) {
    const head =
      `POST /v1/release HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n` +
      `content-length: 64\r\n\r\n{"request":`;
    return { kind: 'stall', ...(await rawSend([Buffer.from(head), Buffer.alloc(0)], 3_000)) };
  }
  const kind = r.pick([
    'method-path',
    'garbage-body',
    'deep',
    'numbers',
    'mutated',
    'valid',
    'replay',
    'oversize',
    'cut-short',
    'trickle',
    'not-http',
    'headers',
    'export',
    'tile',
  ] as const);
  const post = (body: Buffer | string, headers: Record<string, string> = json) =>
    send('POST', '/v1/release', headers, Buffer.from(body));
  switch (kind) {
    case 'method-path':
      return {
        kind,
        ...(await send(r.pick(METHODS), r.pick(PATHS), {}, r.int(3) === 0 ? r.bytes(r.int(100)) : undefined)),
      };
    case 'garbage-body':
      return { kind, ...(await post(r.bytes(r.int(2000)))) };
    case 'deep':
      return {
        kind,
        ...(await post(
          r.int(2) ? `{"request":${nested(r, 1 + r.int(30_000))},"signature":"x"}` : nested(r, 1 + r.int(32_000)),
        )),
      };
    case 'numbers':
      return {
        kind,
        ...(await post(
          r.pick([
            '1e400',
            '-0',
            '{"request":{"v":1e400},"signature":1}',
            `{"request":${'9'.repeat(5000)}}`,
            '[1.7976931348623157e309]',
            '{"v":0x10}',
            'NaN',
            '{"a":1,"a":2}',
          ]),
        )),
      };
    case 'mutated': {
      const { body } = await signedRequest(pkg, 'acme-labs', identityKey, () => {});
      mutateField(r, body as unknown as { request: Record<string, unknown>; signature: string });
      return { kind, ...(await post(JSON.stringify(body))) };
    }
    case 'valid':
    case 'replay': {
      if (kind === 'replay' && replays.length) return { kind, ...(await post(r.pick(replays))) };
      const text = JSON.stringify((await signedRequest(pkg, 'acme-labs', identityKey)).body);
      if (replays.length < 50) replays.push(text);
      return { kind: 'valid', ...(await post(text)) };
    }
    case 'oversize':
      return { kind, ...(await post(Buffer.alloc(MAX_BODY_BYTES + 1 + r.int(100_000), 0x20))) };
    case 'cut-short': {
      const head =
        `POST /v1/release HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n` +
        `content-length: ${100 + r.int(1000)}\r\n\r\n`;
      return { kind, ...(await rawSend([Buffer.from(head), Buffer.from('{"request":')], 1)) };
    }
    case 'trickle': {
      const text = JSON.stringify((await signedRequest(pkg, 'acme-labs', identityKey)).body);
      const buf = Buffer.from(
        `POST /v1/release HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\n` +
          `content-length: ${Buffer.byteLength(text)}\r\n\r\n${text}`,
      );
      const n = 2 + r.int(6);
      const chunks = Array.from({ length: n }, (_, i) =>
        buf.subarray(Math.floor((i * buf.length) / n), Math.floor(((i + 1) * buf.length) / n)),
      );
      return { kind, ...(await rawSend(chunks, 5 + r.int(20))) };
    }
    case 'not-http':
      return {
        kind,
        ...(await rawSend(
          [
            r.pick([
              r.bytes(1 + r.int(200)),
              Buffer.from('GET / HTTP/9.9\r\n\r\n'),
              Buffer.from('POST /v1/release HTTP/1.1\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n'),
              Buffer.from(`GET /${'a'.repeat(20_000)} HTTP/1.1\r\n\r\n`),
            ]),
          ],
          1,
        )),
      };
    case 'headers': {
      const headers: Record<string, string> = {
        [r.pick(['content-type', 'accept-encoding', 'x-forwarded-for', 'cookie', 'authorization', 'content-encoding'])]:
          r.pick([
            '',
            'gzip;q=bogus',
            'application/x-www-form-urlencoded',
            '1.2.3.4, 5.6.7.8',
            'x'.repeat(8000),
            'deflate, br, *',
          ]),
      };
      return {
        kind,
        ...(await send(
          r.pick(['GET', 'POST']),
          r.pick(['/v1/release', '/v1/info', '/tile/entries/000', '/checkpoint']),
          headers,
          Buffer.from(r.int(2) ? '{}' : ''),
        )),
      };
    }
    case 'export':
      return {
        kind,
        ...(await send(
          'POST',
          '/v1/export',
          json,
          Buffer.from(
            r.pick([
              '{}',
              '[]',
              nested(r, 5000),
              JSON.stringify({ events: [{}], publisher: 'AA', signature: 'AA' }),
              'x',
            ]),
          ),
        )),
      };
    case 'tile': {
      const level = r.pick(['0', '1', 'entries', '63', '64', '00']);
      const n = r.pick(['000', '001', 'x000/000', 'x001/000', '1', '0000', 'x999/x999/x999/x999/x999/x999/999']);
      return {
        kind,
        ...(await send('GET', `/tile/${level}/${n}${r.pick(['', '.p/1', '.p/255', '.p/256', '.p/01'])}`, {
          'accept-encoding': 'gzip',
        })),
      };
    }
  }
}

describe(`release service under hostile requests (${CASES} cases, seed ${SEED})`, () => {
  it('never answers 5xx, gives every request its own id, records every one, stays up, and the log audits clean', async () => {
    const { key } = await loadReleaseIdentity(join(dir, 'acme.identity'));
    const logKey = parseVerifierKey(readFileSync(join(keys, 'log.vkey'), 'utf8'));
    const replays: string[] = [];
    const kinds: Record<string, number> = {};
    const statuses: Record<string, number> = {};
    const ids = new Set<string>();
    const started = Date.now();
    let next = 0;
    const where = (i: number, kind: string) =>
      `seed ${SEED} case ${i} (${kind}); replay with MODELSEAL_FUZZ_SEED=${SEED}`;
    const worker = async () => {
      for (let i = next++; i < CASES; i = next++) {
        // One PRNG per case, from the seed and the case number: a case replays alone.
        const r = prng(SEED ^ Math.imul(i + 1, 0x9e3779b1));
        const sent = await runCase(r, replays, key, i);
        kinds[sent.kind] = (kinds[sent.kind] ?? 0) + 1;
        statuses[String(sent.status)] = (statuses[String(sent.status)] ?? 0) + 1;
        if (sent.status !== null) {
          expect(sent.status, where(i, sent.kind)).toBeLessThan(500);
          expect(sent.id, where(i, sent.kind)).toMatch(/^[0-9a-f]{32}$/);
          expect(ids.has(sent.id!), `${where(i, sent.kind)}: id ${sent.id} seen twice`).toBe(false);
          ids.add(sent.id!);
        }
        // A logged decision carries a receipt that verifies and names this very exchange.
        if (sent.status !== null && sent.body.length && sent.body[0] === 0x7b) {
          const answer = JSON.parse(sent.body.toString()) as { receipt?: string; id?: string };
          if (answer.receipt)
            expect(
              decodeEvent(verifyProof(answer.receipt, undefined, logKey).entry),
              where(i, sent.kind),
            ).toMatchObject({ id: sent.id });
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const seconds = (Date.now() - started) / 1000;
    // Still up, and what the limits refused is written out.
    expect((await send('GET', '/v1/info', {})).status).toBe(200);
    // Bodies cut short are logged once the server sees the connection end: wait until all is quiet.
    for (let quiet = 0, last = -1; quiet < 5;) {
      await new Promise((r) => setTimeout(r, 50));
      quiet = records.length === last ? quiet + 1 : 0;
      last = records.length;
    }
    await setup.service.flushDenials();

    // Every exchange is on the record, once, under its own id.
    const recordIds = new Set(records.map((x) => x.id));
    expect(recordIds.size).toBe(records.length);
    for (const id of ids) expect(recordIds.has(id), `answer ${id} has no record`).toBe(true);
    expect(records.filter((x) => x.status >= 500)).toEqual([]);
    expect(records.filter((x) => x.logged === 'none' && x.status !== 200)).toEqual([]);
    let logged = 0;
    let summarised = 0;
    for await (const { event } of storeEvents(setup.log.store)) {
      if (event?.type === 'release') logged++;
      if (event?.type === 'denials') summarised += event.count;
    }
    const byLog = (how: ExchangeRecord['logged']) => records.filter((x) => x.logged === how).length;
    expect(logged).toBe(byLog('entry'));
    expect(summarised).toBe(byLog('summary'));
    expect(await auditLog(setup.log.store, logKey)).toMatchObject({ ok: true, size: setup.log.size });

    // Not vacuous: every kind ran, and each of the three records was used.
    console.log(
      `server fuzz: ${CASES} cases in ${seconds.toFixed(1)} s (seed ${SEED}); kinds ${JSON.stringify(kinds)}; ` +
        `statuses ${JSON.stringify(statuses)}; records: ${byLog('entry')} log entries, ${byLog('summary')} in ` +
        `summaries, ${byLog('service-log')} on the service log`,
    );
    expect(Object.values(kinds).reduce((a, b) => a + b, 0)).toBe(CASES);
    expect(Object.keys(kinds).length).toBe(CASES >= 500 ? 15 : Object.keys(kinds).length);
    if (CASES >= 500) {
      expect(byLog('entry')).toBeGreaterThan(0);
      expect(byLog('service-log')).toBeGreaterThan(0);
      expect(statuses['200']).toBeGreaterThan(0);
    }
  }, 600_000);
});
