// Release load against a `modelseal serve` child process over loopback, shared by bench/server.mjs
// (throughput), bench/soak.mjs (`npm run soak`: survival) and test/cli/soak.test.ts (the same in
// CI, shorter). Runs the built CLI (dist/): `npm run build` first.
import { spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const BIN = join(ROOT, 'dist/cli/modelseal.bundle.mjs');
const CSL_SAMPLE = join(ROOT, 'test/fixtures/lists/consolidated.json');
const lib = async (path) => import(join(ROOT, 'dist/src', path));

/** `--name value` from the command line, else $<PREFIX>_<NAME>, else `def`. */
export function option(prefix, name, def) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : (process.env[`${prefix}_${name.toUpperCase()}`] ?? def);
}

/** What a V8 or Node fatal error prints on stderr before the process dies. */
export const FATAL = /Fatal error in|FATAL ERROR:|Native stack trace|Check failed:|Segmentation fault/;

/**
 * A key store with a registered Ed25519 recipient, `bench-co`, in `dir` (keys/ and data/); the
 * returned `ms` runs the CLI there and parses its --json answer.
 */
export function prepare(dir) {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
  mkdirSync(dir, { recursive: true });
  const keys = join(dir, 'keys');
  const data = join(dir, 'data');
  const ms = (...a) => {
    const r = spawnSync(process.execPath, [BIN, '--keys', keys, '--json', ...a], { cwd: dir, maxBuffer: 1 << 26 });
    if (r.status !== 0) throw new Error(`modelseal ${a.join(' ')} failed: ${r.stderr}`);
    return JSON.parse(r.stdout.toString() || '{}');
  };
  ms('init', '--log-origin', 'bench.modelseal.example/log');
  // A real-shaped CSL list in force: every release screens the recipient against it (docs/SCREENING.md).
  ms('lists', 'import', CSL_SAMPLE, '--data', data);
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  writeFileSync(join(dir, 'bench.pub'), publicKey.export({ format: 'pem', type: 'spki' }));
  ms(
    'recipient',
    'register',
    'bench-co',
    '--data',
    data,
    '--org',
    'Bench Co',
    '--country',
    'DE',
    '--nationality',
    'DE',
    '--public-key',
    join(dir, 'bench.pub'),
  );
  return { dir, keys, data, privateKey, ms };
}

/**
 * Starts `modelseal serve` on a free loopback port. Its stderr is kept (the last 64 KiB) and
 * copied to ours when `echo`; `death()` is null while it runs as it should, else what went wrong:
 * an exit nobody asked for, or a fatal error on stderr.
 */
export async function startServe(env, { store, nodeArgs = [], echo = true, extraEnv = {}, command } = {}) {
  const serve = ['serve', '--data', env.data, '--port', '0', ...(store ? ['--store', store] : [])];
  const child = spawn(process.execPath, [...nodeArgs, BIN, '--keys', env.keys, '--json', ...(command ?? serve)], {
    cwd: env.dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...extraEnv },
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    if (echo) process.stderr.write(d);
    stderr = (stderr + d.toString()).slice(-65536);
  });
  let stopping = false;
  let exit = null;
  const exited = new Promise((r) => child.once('exit', (code, signal) => r((exit = { code, signal }))));
  // Its first JSON line; node flags such as --trace-deopt may print other lines first.
  const lines = createInterface({ input: child.stdout });
  const line = await Promise.race([
    new Promise((r) => lines.on('line', (l) => l.startsWith('{') && r(l))),
    exited.then(() => null),
  ]);
  if (line === null)
    throw new Error(`serve exited (code ${exit.code}, signal ${exit.signal}) before it was ready: ${stderr}`);
  return {
    child,
    url: JSON.parse(line).url,
    stderr: () => stderr,
    death() {
      if (FATAL.test(stderr))
        return `a fatal error on stderr: ${stderr.slice(stderr.search(FATAL), stderr.search(FATAL) + 400)}`;
      if (exit && !(stopping && exit.code === 0))
        return `the service exited (code ${exit.code}, signal ${exit.signal})`;
      return null;
    },
    /** SIGTERM, and the exit it should make: code 0 (a death otherwise). */
    async stop() {
      stopping = true;
      if (!exit) child.kill('SIGTERM');
      await exited;
      return this.death();
    },
  };
}

/**
 * Seals the sample checkpoint to the running service for `bench-co`, licenses it, waits for the
 * service to read the license, and returns the request template the clients fill in.
 */
export async function licensedTemplate(env, url) {
  const { readHead } = await lib('index.js');
  const { stanzaToJson } = await lib('release/stanza.js');
  const pkg = join(env.dir, 'm.mseal');
  const sealed = env.ms(
    'seal',
    join(ROOT, 'samples/checkpoint'),
    '--to',
    `release:${url}#bench-co`,
    '--license',
    'BENCH',
    '--no-license-check', // sealed ahead of its license, issued below
    '-o',
    pkg,
  );
  writeFileSync(
    join(env.data, 'policy', 'licenses.json'),
    JSON.stringify({
      licenses: [
        {
          id: 'BENCH',
          holder: 'bench-co',
          artifacts: [sealed.model.rootDigest],
          destinations: ['DE'],
          notBefore: '2020-01-01T00:00:00Z',
          notAfter: '2100-01-01T00:00:00Z',
          maxReleases: 1e9,
        },
      ],
    }),
  );
  await new Promise((r) => setTimeout(r, 1500)); // the service re-reads the policy within a second
  const h = (await readHead(pkg)).parsed.header;
  return {
    v: 1,
    package: Buffer.from(h.packageId).toString('hex'),
    artifact: `sha256:${Buffer.from(h.model.rootDigest).toString('hex')}`,
    stanza: stanzaToJson(h.stanzas[0]),
    destination: 'DE',
    recipient: 'bench-co',
  };
}

/**
 * A lean HTTP/1.1 keep-alive client for one connection (the service's answers always carry
 * content-length). node:http's client took CPU that the service, on the same 2 cores, then
 * lacked: interleaved, 763 releases/s with it and 921 with this (medians of 3 runs).
 */
export function connection(url) {
  const u = new URL(url);
  const sock = connect({ host: u.hostname, port: Number(u.port) });
  sock.setNoDelay(true);
  let buf = Buffer.alloc(0);
  let waiting = null;
  const closed = () => Object.assign(new Error('connection closed'), { code: 'ECONNCLOSED' });
  const fail = (e) => {
    const w = waiting;
    waiting = null;
    w?.reject(e);
  };
  const parse = () => {
    const end = buf.indexOf('\r\n\r\n');
    if (!waiting || end < 0) return;
    const head = buf.subarray(0, end).toString('latin1');
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? NaN);
    if (Number.isNaN(length)) return fail(new Error('an answer without content-length'));
    if (buf.length < end + 4 + length) return;
    const body = buf.subarray(end + 4, end + 4 + length);
    buf = buf.subarray(end + 4 + length);
    const w = waiting;
    waiting = null;
    w.resolve({ status: Number(head.slice(9, 12)), body });
  };
  sock.on('data', (d) => {
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    parse();
  });
  sock.on('error', fail);
  sock.on('close', () => fail(closed()));
  const send = (text) =>
    new Promise((resolve, reject) => {
      if (sock.destroyed) return reject(closed());
      waiting = { resolve, reject };
      sock.write(text);
    });
  return {
    post: (path, body) =>
      send(
        `POST ${path} HTTP/1.1\r\nhost: ${u.host}\r\ncontent-type: application/json\r\ncontent-length: ` +
          `${Buffer.byteLength(body)}\r\n\r\n${body}`,
      ),
    get: (path) => send(`GET ${path} HTTP/1.1\r\nhost: ${u.host}\r\n\r\n`),
    close: () => sock.destroy(),
  };
}

/** `n` ephemeral X25519 public keys, made before the clock starts (the client's cost, not the service's). */
export async function ephemerals(n) {
  const { newEphemeral } = await lib('release/response.js');
  return Array.from({ length: n }, () => newEphemeral().public);
}

/** A signed release request body from `template`, with `edit` applied to the request before signing. */
export async function requestSigner(template, privateKey) {
  const { signRequest } = await lib('index.js');
  const { toB64 } = await lib('format/encoding.js');
  return (ephemeral, edit = () => {}) => {
    const r = { ...template, ephemeral, nonce: toB64(randomBytes(16)), time: new Date().toISOString() };
    edit(r);
    return JSON.stringify({ request: r, signature: signRequest(r, privateKey) });
  };
}

/** Audits the service's log (`audit verify`): { ok, size }. */
export function auditLog(env, store) {
  const r = spawnSync(
    process.execPath,
    [BIN, '--keys', env.keys, '--json', 'audit', 'verify', '--log', store ?? join(env.data, 'log')],
    { maxBuffer: 1 << 26 },
  );
  const out = JSON.parse(r.stdout.toString() || '{}');
  return { ok: r.status === 0, size: out.size ?? null, inference: out.inference ?? null, stderr: r.stderr.toString() };
}

/** The PostgreSQL test peer's URL (test/peers/setup.sh starts it), or $MODELSEAL_BENCH_PG. */
export function postgresUrl(log) {
  if (process.env.MODELSEAL_BENCH_PG) return process.env.MODELSEAL_BENCH_PG;
  const file = join(ROOT, '.peers/postgres.url');
  if (!existsSync(file)) {
    log('bench: starting the PostgreSQL test peer (test/peers/setup.sh)');
    const r = spawnSync('bash', [join(ROOT, 'test/peers/setup.sh')], { stdio: ['ignore', 'ignore', 'inherit'] });
    if (r.status !== 0 || !existsSync(file))
      throw new Error(
        'bench: no PostgreSQL: test/peers/setup.sh failed; set MODELSEAL_BENCH_PG=postgres://… to use another',
      );
  }
  return readFileSync(file, 'utf8').trim();
}

/** A store URL in a schema of its own in the PostgreSQL database, so each run starts with an empty log. */
export function postgresStore(log) {
  return `${postgresUrl(log)}?schema=bench_${randomBytes(4).toString('hex')}`;
}

export function dropSchema(store) {
  const u = new URL(store);
  const schema = u.searchParams.get('schema');
  u.search = '';
  spawnSync('psql', ['-X', '-q', u.toString(), '-c', `DROP SCHEMA IF EXISTS "${schema}" CASCADE`], { stdio: 'ignore' });
}

/**
 * What the soak clients send, by weight: mostly releases that should be allowed, and the other
 * shapes a busy service sees (releases the policy denies, so Cedar answers in more shapes;
 * replays, forged signatures, unknown recipients, malformed bodies, reads of the log and the
 * service's info), so that more of its code is optimised and deoptimised under load than valid
 * releases alone reach.
 */
export const SOAK_MIX = {
  release: 76,
  policyDenied: 4,
  replay: 4,
  forged: 4,
  unknownRecipient: 4,
  malformed: 2,
  read: 6,
};

/** Whether an answer is a 5xx the service did not mean: every 5xx but a 503 with an error code. */
function unexpected5xx(status, body) {
  if (status < 500) return false;
  if (status !== 503) return true;
  try {
    return typeof JSON.parse(body.toString()).error?.code !== 'string';
  } catch {
    return true;
  }
}

/**
 * `concurrency` keep-alive clients send requests of `mix` to the service at `url` for `seconds`.
 * Returns counts by kind and status, the allowed releases, the unexpected 5xx (the first 20 kept) and
 * the requests that got no answer (by error code). Stops early when `dead()` says the service died.
 */
export async function driveLoad({
  url,
  template,
  privateKey,
  seconds,
  concurrency,
  mix = { release: 1 },
  dead = () => null,
}) {
  const sign = await requestSigner(template, privateKey);
  const keys = await ephemerals(4096);
  const kinds = Object.entries(mix).flatMap(([k, w]) => Array(w).fill(k));
  const recent = [];
  const reads = ['/v1/info', '/checkpoint', '/tile/entries/000.p/1'];
  const stats = {
    requests: 0,
    allowed: 0,
    byKind: {},
    byStatus: {},
    deliberate503: 0,
    unexpected5xx: 0,
    unexpected5xxSamples: [],
    noAnswer: {},
    latencies: [],
  };
  const end = performance.now() + seconds * 1000;
  let n = 0;
  async function client() {
    let conn = connection(url);
    while (performance.now() < end && !dead()) {
      const i = n++;
      const kind = kinds[i % kinds.length];
      let send;
      if (kind === 'read') send = () => conn.get(reads[i % reads.length]);
      else {
        let body;
        if (kind === 'replay' && recent.length) body = recent[i % recent.length];
        else if (kind === 'forged')
          body = sign(keys[i % keys.length]).replace(
            /"signature":"(.)/,
            (_, c) => `"signature":"${c === 'A' ? 'B' : 'A'}`,
          );
        else if (kind === 'policyDenied') body = sign(keys[i % keys.length], (r) => (r.destination = 'FR'));
        else if (kind === 'unknownRecipient')
          body = sign(keys[i % keys.length], (r) => (r.recipient = `nobody-${i % 7}`));
        else if (kind === 'malformed')
          body =
            i % 2
              ? '{"request": 1, "signature": ['
              : JSON.stringify({ request: { ...template, v: 2 }, signature: 'x' });
        else body = sign(keys[i % keys.length]);
        if (kind === 'release' && recent.length < 64) recent.push(body);
        send = () => conn.post('/v1/release', body);
      }
      const t0 = performance.now();
      let res;
      try {
        res = await send();
      } catch (e) {
        const code = e.code ?? e.message;
        stats.noAnswer[code] = (stats.noAnswer[code] ?? 0) + 1;
        conn.close();
        conn = connection(url);
        continue;
      }
      stats.requests++;
      stats.byKind[kind] = (stats.byKind[kind] ?? 0) + 1;
      stats.byStatus[res.status] = (stats.byStatus[res.status] ?? 0) + 1;
      if (res.status === 503 && !unexpected5xx(503, res.body)) stats.deliberate503++;
      else if (unexpected5xx(res.status, res.body) && stats.unexpected5xx++ < 20)
        stats.unexpected5xxSamples.push({ kind, status: res.status, body: res.body.toString().slice(0, 300) });
      if (kind === 'release' && res.status === 200 && res.body.includes('"decision":"allow"')) {
        stats.allowed++;
        stats.latencies.push(performance.now() - t0);
      }
    }
    conn.close();
  }
  await Promise.all(Array.from({ length: concurrency }, client));
  return stats;
}
