/** The release service from the command line: serve, recipient issue/revoke, seal --to release:, open --server. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { newPublisherKey } from '../../src/index.js';
import { tempDir } from '../support/fixtures.js';
import { reheader } from '../support/packages.js';
import { policyInForce, within } from '../support/wait.js';

const BIN = resolve('dist/cli/modelseal.bundle.mjs');
const dir = tempDir('modelseal-cli-serve-');
const keys = join(dir, 'keys');
const data = join(dir, 'data');
let server: ChildProcess | undefined;

function ms(args: string[], env: Record<string, string> = {}) {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` (npm test does)`);
  const r = spawnSync(process.execPath, [BIN, '--keys', keys, ...args], {
    cwd: dir,
    maxBuffer: 64 << 20,
    env: { ...process.env, ...env },
  });
  return {
    code: r.status,
    stdout: r.stdout.toString(),
    stderr: r.stderr.toString(),
    json: () => JSON.parse(r.stdout.toString()),
  };
}

afterAll(() => {
  server?.kill('SIGTERM');
});

async function serve(args: string[], dataDir = data): Promise<{ url: string; origin: string }> {
  server = spawn(
    process.execPath,
    [BIN, '--keys', keys, '--json', 'serve', '--data', dataDir, '--port', '0', ...args],
    { cwd: dir },
  );
  const first = await new Promise<string>((res, rej) => {
    createInterface({ input: server!.stdout! }).once('line', res);
    server!.once('exit', (code) => rej(new Error(`serve exited ${code}`)));
  });
  return JSON.parse(first) as { url: string; origin: string };
}

async function stop(): Promise<void> {
  server!.kill('SIGTERM');
  await new Promise((r) => server!.once('exit', r));
  server = undefined;
}

describe('modelseal serve', () => {
  it('releases a key to a licensed recipient through the CLI, refuses after revocation, and the log records both', async () => {
    expect(ms(['init', '--log-origin', 'cli.test/log']).code).toBe(0);
    const issued = ms([
      '--json',
      'recipient',
      'issue',
      'acme-labs',
      '--data',
      data,
      '--org',
      'Acme Labs GmbH',
      '--country',
      'DE',
      '--nationality',
      'DE',
      '-o',
      join(dir, 'acme.identity'),
    ]);
    expect(issued.code, issued.stderr).toBe(0);
    expect(issued.json().recipient).toMatchObject({
      name: 'acme-labs',
      certificate: expect.stringContaining('BEGIN CERTIFICATE'),
      revoked: null,
    });

    // Recipient names and source addresses are logged as keyed hashes under the operator's key.
    const pseudonymKey = join(dir, 'pseudonym.key');
    const ready = await serve(['--pseudonym-key', pseudonymKey]);
    expect(ready.origin).toBe('cli.test/log');

    // Sealing is an export too: the service logs it (signed by the key store's publisher, which it trusts).
    const sealed = ms([
      '--json',
      'seal',
      resolve('samples/checkpoint'),
      '--to',
      `release:${ready.url}#acme-labs`,
      '--license',
      'EAR-9',
      '--no-license-check', // sealed ahead of its license, which the operator adds below
      '-o',
      join(dir, 'm.mseal'),
      '--log',
      ready.url,
    ]);
    expect(sealed.code, sealed.stderr).toBe(0);
    expect(sealed.json().log).toEqual({ origin: 'cli.test/log', entries: [{ index: 0, recipient: 'acme-labs' }] });
    // A publisher the service does not trust gets nothing logged, so no package.
    expect(spawnSync(process.execPath, [BIN, '--keys', join(dir, 'other-keys'), 'init']).status).toBe(0);
    const stranger = ms([
      '--json',
      'seal',
      resolve('samples/checkpoint'),
      '--to',
      'local',
      '-o',
      join(dir, 'x.mseal'),
      '--log',
      ready.url,
      '--signing-key',
      join(dir, 'other-keys', 'publisher.key'),
    ]);
    expect(stranger.code).toBe(11);
    expect(stranger.json().error.message).toMatch(/not among the publishers this service logs exports for/);
    expect(existsSync(join(dir, 'x.mseal'))).toBe(false);
    const digest = sealed.json().model.rootDigest;
    // The operator adds the license while the service runs; it is picked up within a second.
    writeFileSync(
      join(data, 'policy', 'licenses.json'),
      JSON.stringify({
        licenses: [
          {
            id: 'EAR-9',
            holder: 'acme-labs',
            artifacts: [digest],
            destinations: ['DE'],
            notBefore: '2020-01-01T00:00:00Z',
            notAfter: '2100-01-01T00:00:00Z',
            maxReleases: 10,
          },
        ],
      }),
    );
    const edited = ms(['--json', 'policy', 'check', '--data', data]).json();
    expect(edited.licenses).toEqual(['EAR-9']);
    await policyInForce(ready.url, edited.hash);

    const openArgs = (out: string) => [
      '--json',
      'open',
      join(dir, 'm.mseal'),
      '-o',
      join(dir, out),
      '--server',
      ready.url,
      '--identity',
      join(dir, 'acme.identity'),
      '--destination',
      'DE',
    ];
    const opened = ms(openArgs('out'));
    expect(opened.code, opened.stderr).toBe(0);
    expect(opened.json().release.receipt).toBe(join(dir, 'out.release.tlog-proof'));
    expect(
      readFileSync(join(dir, 'out', 'model.safetensors')).equals(readFileSync('samples/checkpoint/model.safetensors')),
    ).toBe(true);
    const rv = ms(['--json', 'receipt', 'verify', join(dir, 'out.release.tlog-proof')]);
    const logged = JSON.parse(rv.json().entry);
    expect(logged).toMatchObject({
      type: 'release',
      decision: 'allow',
      org: 'Acme Labs GmbH',
      country: 'DE',
      license: 'EAR-9',
      request: opened.json().release.requestId,
    });
    expect(logged.recipient).toMatch(/^hmac:v1:[A-Za-z0-9_-]{43}$/);
    expect(logged.ip).toMatch(/^hmac:v1:/);
    expect(rv.stdout).not.toContain('acme-labs');

    // A forged package reaches no release service, from a file or from stdin (issue 16 item 2): the
    // header signature is checked first, so nothing is asked and nothing is logged.
    const genuine = readFileSync(join(dir, 'm.mseal'));
    const steal = (h: { stanzas: { license: string }[] }) => void (h.stanzas[0]!.license = 'EAR-STOLEN');
    const treeSize = async () => Number((await (await fetch(`${ready.url}/checkpoint`)).text()).split('\n')[1]);
    const before = await treeSize();
    for (const [forged, code] of [
      [reheader(genuine, steal, newPublisherKey().publisher), 'UNTRUSTED_SIGNER'],
      [reheader(genuine, steal), 'SIGNATURE_INVALID'],
    ] as const) {
      writeFileSync(join(dir, 'forged.mseal'), forged);
      const args = [
        '--json',
        'open',
        '-',
        '-o',
        join(dir, 'forged-out'),
        '--server',
        ready.url,
        '--identity',
        join(dir, 'acme.identity'),
        '--destination',
        'DE',
      ];
      const fromStdin = spawnSync(process.execPath, [BIN, '--keys', keys, ...args], { cwd: dir, input: forged });
      const fromFile = ms(args.map((a) => (a === '-' ? join(dir, 'forged.mseal') : a)));
      for (const r of [{ code: fromStdin.status, stdout: fromStdin.stdout.toString() }, fromFile]) {
        expect(r.code, r.stdout).toBe(7);
        expect(JSON.parse(r.stdout).error.code).toBe(code);
      }
    }
    expect(await treeSize()).toBe(before);

    expect(ms(['recipient', 'revoke', 'acme-labs', '--data', data]).code).toBe(0);
    const refused = ms(openArgs('out2'));
    expect(refused.code).toBe(14);
    expect(refused.json().error).toMatchObject({ code: 'RELEASE_DENIED', details: { reason: 'revoked-identity' } });
    expect(existsSync(join(dir, 'out2'))).toBe(false);

    // The auditor checks the log while the service runs: over HTTP (tiles and checkpoints) and on disk.
    for (const source of [
      ['--log', ready.url],
      ['--log', join(data, 'log')],
      ['--server', ready.url],
      ['--store', join(data, 'log')],
    ]) {
      const audit = ms(['--json', 'audit', 'verify', ...source]);
      expect(audit.code, audit.stderr).toBe(0);
      expect(audit.json()).toMatchObject({ ok: true, size: 3, checkpoints: 3 });
    }
    const denied = ms([
      '--json',
      'audit',
      'list',
      '--server',
      ready.url,
      '--decision',
      'deny',
      '--org',
      'acme labs gmbh',
    ]);
    expect(denied.code, denied.stderr).toBe(0);
    expect(denied.json().entries).toEqual([
      expect.objectContaining({
        index: 2,
        type: 'release',
        decision: 'deny',
        reason: 'revoked-identity',
        country: 'DE',
      }),
    ]);
    // Finding a recipient's release events needs the pseudonym key (the export names the package's recipient as
    // sealed).
    expect(
      ms(['--json', 'audit', 'list', '--store', join(data, 'log'), '--recipient', 'acme-labs']).json().entries,
    ).toEqual([expect.objectContaining({ index: 0, type: 'export' })]);
    const csv = ms([
      'audit',
      'list',
      '--store',
      join(data, 'log'),
      '--recipient',
      'acme-labs',
      '--pseudonym-key',
      pseudonymKey,
      '--csv',
    ]);
    expect(csv.code, csv.stderr).toBe(0);
    const lines = csv.stdout.trimEnd().split('\r\n');
    expect(lines[0]).toBe(
      'index,time,type,decision,reason,recipient,org,country,certificate,destination,artifact,package,license,' +
        'policies,ip,request,model,nationalities,observed,screening,endpoint,outcome,prompt_tokens,' +
        'completion_tokens,estimated,flops,duration_ms,risk',
    );
    expect(
      lines.slice(1).map((l) =>
        l
          .split(',')
          .slice(0, 5)
          .filter((_, i) => i !== 1),
      ),
    ).toEqual([
      ['0', 'export', 'allow', 'sealed'],
      ['1', 'release', 'allow', 'licensed'],
      ['2', 'release', 'deny', 'revoked-identity'],
    ]);
    expect(ms(['audit', 'list', '--store', join(data, 'log'), '--since', 'yesterday']).code).toBe(2);
    // A receipt by request id.
    const proof = ms(['audit', 'proof', opened.json().release.requestId, '--store', join(data, 'log')]);
    expect(proof.code, proof.stderr).toBe(0);
    expect(proof.stdout).toMatch(/^c2sp.org\/tlog-proof@v1\n/);
    expect(proof.stdout).toContain('index 1\n');

    await stop();
  }, 60_000);

  it('serves https with a given certificate: a release and an audit over TLS', async () => {
    // A throwaway certificate for 127.0.0.1 (test fixture, made here, never committed).
    const cert = join(dir, 'tls.pem');
    const key = join(dir, 'tls.key');
    const made = spawnSync('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert,
    ]);
    expect(made.status, `openssl could not make a test certificate: ${made.stderr.toString()}`).toBe(0);
    expect(ms(['--json', 'serve', '--tls-cert', cert]).json().error.code).toBe('INVALID_ARGUMENT');
    const ready = await serve(['--tls-cert', cert, '--tls-key', key]);
    expect(ready.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    // Without trusting the certificate, the client refuses to talk (and writes nothing).
    const untrusted = ms(['--json', 'audit', 'verify', '--server', ready.url]);
    expect(untrusted.code).toBe(11);
    const trust = { NODE_EXTRA_CA_CERTS: cert };
    expect(
      ms([
        'recipient',
        'issue',
        'beta-labs',
        '--data',
        data,
        '--org',
        'Beta Labs',
        '--country',
        'FR',
        '--nationality',
        'FR',
        '-o',
        join(dir, 'beta.identity'),
      ]).code,
    ).toBe(0);
    // Sealed with beta-labs' fingerprint in the weights, so a leak of the opened copy traces back to the release.
    const registry = join(dir, 'fingerprints.jsonl');
    const sealed = ms(
      [
        '--json',
        'seal',
        resolve('samples/checkpoint'),
        '--to',
        `release:${ready.url}#beta-labs`,
        '--license',
        'EAR-9B',
        '--no-license-check', // sealed ahead of its license, issued below for the marked copy's digest
        '--fingerprint',
        '--registry',
        registry,
        '-o',
        join(dir, 'b.mseal'),
        '--log',
        ready.url,
      ],
      trust,
    );
    expect(sealed.code, sealed.stderr).toBe(0);
    writeFileSync(
      join(data, 'policy', 'licenses.json'),
      JSON.stringify({
        licenses: [
          {
            id: 'EAR-9B',
            holder: 'beta-labs',
            artifacts: [sealed.json().model.rootDigest],
            destinations: ['FR'],
            notBefore: '2020-01-01T00:00:00Z',
            notAfter: '2100-01-01T00:00:00Z',
            maxReleases: 1,
          },
        ],
      }),
    );
    await policyInForce(ready.url, ms(['--json', 'policy', 'check', '--data', data]).json().hash, {
      ca: readFileSync(cert),
    });
    const opened = ms(
      [
        '--json',
        'open',
        join(dir, 'b.mseal'),
        '-o',
        join(dir, 'b-out'),
        '--server',
        ready.url,
        '--identity',
        join(dir, 'beta.identity'),
        '--destination',
        'FR',
      ],
      trust,
    );
    expect(opened.code, opened.stderr).toBe(0);
    expect(
      readFileSync(join(dir, 'b-out', 'model.safetensors')).equals(
        readFileSync('samples/checkpoint/model.safetensors'),
      ),
    ).toBe(false);
    const audit = ms(['--json', 'audit', 'verify', '--server', ready.url], trust);
    expect(audit.code, audit.stderr).toBe(0);
    expect(audit.json()).toMatchObject({ ok: true, size: 5 });
    const traced = ms(
      [
        '--json',
        'trace',
        join(dir, 'b-out', 'model.safetensors'),
        '--original',
        resolve('samples/checkpoint'),
        '--recipients',
        registry,
        '--server',
        ready.url,
      ],
      trust,
    );
    expect(traced.code, traced.stderr).toBe(0);
    const [accused] = traced.json().accused;
    expect(accused).toMatchObject({ recipient: 'beta-labs' });
    expect(accused.events).toEqual([
      expect.objectContaining({ index: 3, type: 'export', fingerprint: sealed.json().fingerprint.record.id }),
      expect.objectContaining({ index: 4, type: 'release', decision: 'allow', destination: 'FR', license: 'EAR-9B' }),
    ]);
    // --log with the service's URL reads the same log over HTTPS (--server is its old spelling).
    const leak = join(dir, 'b-out', 'model.safetensors');
    const original = resolve('samples/checkpoint');
    const byLog = ms(
      ['--json', 'trace', leak, '--original', original, '--registry', registry, '--log', ready.url],
      trust,
    );
    expect(byLog.code, byLog.stderr).toBe(0);
    expect(byLog.json().accused).toEqual(traced.json().accused);
    await stop();
  }, 60_000);

  it('limits failing requests per source, summarises them in the log, and reports a broken policy edit at once', async () => {
    const data3 = join(dir, 'data-limits');
    // One token back per 1,000 s: the test sees the burst only, however slow the machine.
    const ready = await serve(['--deny-burst', '4', '--deny-rate', '0.001', '--summary-interval', '1'], data3);
    let stderr = '';
    server!.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    // A path that does not exist is on the service log, with its id (and takes a token).
    const missing = await fetch(`${ready.url}/nowhere`);
    expect(missing.status).toBe(404);
    await within(10_000, 'the 404 on the service log', () => stderr.includes(missing.headers.get('x-request-id')!));
    expect(stderr).toContain(`${missing.headers.get('x-request-id')} 127.0.0.1 GET /nowhere → 404 not-found`);
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      const res = await fetch(`${ready.url}/v1/release`, { method: 'POST', body: '{"request": ' });
      statuses.push(res.status);
      expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f]{32}$/);
      if (res.status === 429) expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    }
    expect(statuses).toEqual([400, 400, 400, 429, 429, 429, 429, 429]);
    // The policy status, from the service itself.
    const ok = ms(['--json', 'policy', 'check', '--server', ready.url]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.json()).toMatchObject({ status: 'ok', hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    const file = join(data3, 'policy', 'policies.cedar');
    const good = readFileSync(file, 'utf8');
    writeFileSync(file, good + '\npermit (principal, action, resource) when { context.nope };\n');
    const broken = await within(30_000, 'policy check --server to report the broken edit', () => {
      const r = ms(['--json', 'policy', 'check', '--server', ready.url]);
      return r.code !== 0 && r;
    });
    expect(broken.code).toBe(13);
    expect(broken.json().error).toMatchObject({
      code: 'POLICY_INVALID',
      details: { status: 'invalid', hash: ok.json().hash },
    });
    await within(10_000, 'the broken edit on the service log', () => stderr.includes('do not validate'));
    expect(stderr).toMatch(
      /the edited policy files do not validate, the previous policy stays in force: .*needs a name/,
    );
    writeFileSync(file, good);
    // The refused requests become one summary entry; audit list shows it.
    // The summaries cover fixed intervals of the service's clock, so the burst may straddle two.
    type Denials = { type: string; ip: string; count: number; reasons: Record<string, number> };
    const summaries = await within(30_000, 'summaries of all 5 refused requests in the log', () => {
      const r = ms(['--json', 'audit', 'list', '--server', ready.url, '--type', 'denials']);
      const entries = r.json().entries as Denials[];
      return entries.reduce((n, e) => n + e.count, 0) >= 5 && entries;
    });
    expect(summaries.length).toBeLessThanOrEqual(2);
    for (const e of summaries) {
      expect(e).toMatchObject({ type: 'denials', ip: '127.0.0.1', reasons: { 'malformed-json': e.count } });
    }
    expect(summaries.reduce((n: number, e: { count: number }) => n + e.count, 0)).toBe(5);
    const table = ms(['audit', 'list', '--server', ready.url, '--decision', 'deny']);
    expect(table.code, table.stderr).toBe(0);
    const rows = [...table.stdout.matchAll(/denials\s+deny\s+(\d+) requests? refused \(rate-limited\)/g)];
    expect(rows.map((m) => Number(m[1]))).toEqual(summaries.map((e) => e.count));
    await stop();
  }, 60_000);
});
