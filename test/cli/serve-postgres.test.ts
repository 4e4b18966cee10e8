/** Two `modelseal serve` replicas sharing one PostgreSQL log: one total order, one quota, one set of nonces. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../support/fixtures.js';
import { usePostgres } from '../support/postgres.js';
import { signedRequest } from '../support/release.js';
import { policyInForce } from '../support/wait.js';

const BIN = resolve('dist/cli/modelseal.bundle.mjs');
const dir = tempDir('modelseal-cli-serve-pg-');
const keys = join(dir, 'keys');
const data = join(dir, 'data');
const pg = usePostgres();
const servers: ChildProcess[] = [];

function ms(args: string[]) {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` (npm test does)`);
  const r = spawnSync(process.execPath, [BIN, '--keys', keys, ...args], { cwd: dir, maxBuffer: 64 << 20 });
  return {
    code: r.status,
    stdout: r.stdout.toString(),
    stderr: r.stderr.toString(),
    json: () => JSON.parse(r.stdout.toString()),
  };
}

async function serve(store: string): Promise<string> {
  // 35 quota denials from one address at once: more failing requests than the default limit lets through.
  const s = spawn(
    process.execPath,
    [BIN, '--keys', keys, '--json', 'serve', '--data', data, '--port', '0', '--store', store, '--deny-burst', '1000'],
    { cwd: dir },
  );
  servers.push(s);
  const line = await new Promise<string>((res, rej) => {
    createInterface({ input: s.stdout }).once('line', res);
    s.once('exit', (code) => rej(new Error(`serve exited ${code}`)));
  });
  return (JSON.parse(line) as { url: string }).url;
}

const post = (url: string, body: unknown) =>
  fetch(`${url}/v1/release`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

afterAll(async () => {
  for (const s of servers) s.kill('SIGTERM');
  await Promise.all(servers.filter((s) => s.exitCode === null).map((s) => new Promise((r) => s.once('exit', r))));
});

describe('serve --store postgres://', () => {
  it('two replicas: every request in one log, a quota of 5 holds across both, a nonce is used once', async () => {
    expect(ms(['init', '--log-origin', 'replicas.test/log']).code).toBe(0);
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    writeFileSync(join(dir, 'r.pub'), publicKey.export({ format: 'pem', type: 'spki' }));
    expect(
      ms([
        'recipient',
        'register',
        'acme-labs',
        '--data',
        data,
        '--org',
        'Acme',
        '--country',
        'DE',
        '--nationality',
        'DE',
        '--public-key',
        join(dir, 'r.pub'),
      ]).code,
    ).toBe(0);
    const store = `${pg.url}?schema=${pg.schema()}`;
    const [a, b] = [await serve(store), await serve(store)];
    const sealed = ms([
      '--json',
      'seal',
      resolve('samples/checkpoint'),
      '--to',
      `release:${a}#acme-labs`,
      '--license',
      'Q5',
      // Sealed ahead of its license (issued below, once the model's digest is known).
      '--no-license-check',
      '-o',
      join(dir, 'm.mseal'),
      '--log',
      b,
    ]);
    expect(sealed.code, sealed.stderr).toBe(0);
    writeFileSync(
      join(data, 'policy', 'licenses.json'),
      JSON.stringify({
        licenses: [
          {
            id: 'Q5',
            holder: 'acme-labs',
            artifacts: [sealed.json().model.rootDigest],
            destinations: ['DE'],
            notBefore: '2020-01-01T00:00:00Z',
            notAfter: '2100-01-01T00:00:00Z',
            maxReleases: 5,
          },
        ],
      }),
    );
    const policySet = (ms(['--json', 'policy', 'check', '--data', data]).json() as { hash: string }).hash;
    await Promise.all([policyInForce(a, policySet), policyInForce(b, policySet)]);

    // 40 requests at once, alternating between the replicas.
    const requests = await Promise.all(
      Array.from({ length: 40 }, () => signedRequest(join(dir, 'm.mseal'), 'acme-labs', privateKey)),
    );
    const answers = await Promise.all(
      requests.map(
        async (r, i) => (await (await post(i % 2 ? b : a, r.body)).json()) as { decision: string; reason?: string },
      ),
    );
    expect(answers.filter((x) => x.decision === 'allow')).toHaveLength(5);
    expect(new Set(answers.filter((x) => x.decision === 'deny').map((x) => x.reason))).toEqual(
      new Set(['license-quota-used']),
    );
    // A request that one replica answered is a replay at the other.
    const replay = (await (await post(b, requests[0]!.body)).json()) as { reason: string };
    expect(replay.reason).toBe('replayed-nonce');

    // One log: 1 export + 41 requests, verified from the database and from either replica.
    const audit = ms(['--json', 'audit', 'verify', '--store', store]);
    expect(audit.code, audit.stderr).toBe(0);
    expect(audit.json()).toMatchObject({ ok: true, size: 42 });
    for (const url of [a, b])
      expect(ms(['--json', 'audit', 'verify', '--server', url]).json()).toMatchObject({ ok: true, size: 42 });
    const allowed = ms(['--json', 'audit', 'list', '--store', store, '--decision', 'allow', '--type', 'release']).json()
      .entries;
    expect(allowed).toHaveLength(5);
  }, 60_000);
});
