/**
 * Geofencing from the command line: `serve` with the real CC0 country database, a request arriving
 * through a trusted proxy (loopback) with X-Forwarded-For / Forwarded naming an address in Germany,
 * North Korea or the US, each decided and logged with where it came from; the same headers from an
 * untrusted peer ignored (loopback: unknown, allowed, logged unknown); a stale database; no database;
 * and the flags' refusals.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { loadReleaseIdentity } from '../../src/keystore/keystore.js';
import { verifyProof } from '../../src/log/checkpoint.js';
import { decodeEvent, type ReleaseEvent } from '../../src/log/events.js';
import { parseVerifierKey } from '../../src/log/note.js';
import { BIN, cli } from '../support/cli.js';
import { tempDir } from '../support/fixtures.js';
import { realDatabase } from '../support/geo.js';
import { signedRequest } from '../support/release.js';
import { policyInForce, within } from '../support/wait.js';

const dir = tempDir('modelseal-cli-geo-');
const keys = join(dir, 'keys');
const data = join(dir, 'data');
const pkg = join(dir, 'm.mseal');
let server: ChildProcess | undefined;

const ms = cli(keys, dir);

interface Started {
  url: string;
  geoip: null | { path: string; digest: string; ageDays: number; stale: boolean; built: string };
  trustedProxies: string[];
  stderr: () => string;
}

/** `serve --json` on a free loopback port: its first line, and what it wrote on stderr so far. */
async function serve(args: string[]): Promise<Started> {
  const child = spawn(
    process.execPath,
    [BIN, '--keys', keys, '--json', 'serve', '--data', data, '--port', '0', ...args],
    {
      cwd: dir,
    },
  );
  server = child;
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const first = await new Promise<string>((res, rej) => {
    createInterface({ input: child.stdout }).once('line', res);
    child.once('exit', (code) => rej(new Error(`serve exited ${code}: ${stderr}`)));
  });
  return { ...(JSON.parse(first) as Omit<Started, 'stderr'>), stderr: () => stderr };
}

async function stop(): Promise<void> {
  const s = server!;
  server = undefined;
  s.kill('SIGTERM');
  await new Promise((r) => s.once('exit', r));
}

afterAll(() => {
  server?.kill('SIGTERM');
});

/** A signed release request for the package as acme-labs, posted with `headers`; the answer and its logged entry. */
async function ask(url: string, destination: string, headers: Record<string, string> = {}) {
  const { key } = await loadReleaseIdentity(join(dir, 'acme.identity'));
  const { body } = await signedRequest(pkg, 'acme-labs', key, (r) => (r.destination = destination));
  const res = await fetch(`${url}/v1/release`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const answer = (await res.json()) as { decision: string; reason?: string; receipt: string };
  const logKey = parseVerifierKey(readFileSync(join(keys, 'log.vkey'), 'utf8'));
  const entry = decodeEvent(verifyProof(answer.receipt, undefined, logKey).entry) as ReleaseEvent;
  return { status: res.status, answer, entry };
}

describe('modelseal serve: geofencing', () => {
  it('denies a release from another country or an embargoed one through a trusted proxy, and logs where it came from', async () => {
    expect(ms(['init', '--log-origin', 'geo.test/log']).code).toBe(0);
    const issued = ms([
      'recipient',
      'issue',
      'acme-labs',
      '--data',
      data,
      '--org',
      'Acme Inc',
      '--country',
      'US',
      '--nationality',
      'US',
      '-o',
      join(dir, 'acme.identity'),
    ]);
    expect(issued.code, issued.stderr).toBe(0);
    const db = realDatabase();
    const up = await serve(['--trusted-proxy', '127.0.0.1', '--geoip-max-age', '100000']);
    const digest = `sha256:${createHash('sha256').update(readFileSync(db)).digest('hex')}`;
    expect(up.geoip).toMatchObject({ path: db, digest, stale: false });
    expect(up.trustedProxies).toEqual(['127.0.0.1/32']);
    const sealed = ms([
      '--json',
      'seal',
      resolve('samples/checkpoint'),
      '--to',
      `release:${up.url}#acme-labs`,
      '--license',
      'EAR-G',
      '--no-license-check',
      '-o',
      pkg,
    ]);
    expect(sealed.code, sealed.stderr).toBe(0);
    writeFileSync(
      join(data, 'policy', 'licenses.json'),
      JSON.stringify({
        licenses: [
          {
            id: 'EAR-G',
            holder: 'acme-labs',
            artifacts: [sealed.json().model.rootDigest],
            destinations: ['US', 'DE'],
            notBefore: '2020-01-01T00:00:00Z',
            notAfter: '2100-01-01T00:00:00Z',
            maxReleases: 20,
          },
        ],
      }),
    );
    await policyInForce(up.url, ms(['--json', 'policy', 'check', '--data', data]).json().hash);

    // From Germany (heise.de's address), declaring the US.
    const de = await ask(up.url, 'US', { 'x-forwarded-for': '203.0.113.50, 193.99.144.80' });
    expect([de.status, de.answer.reason]).toEqual([403, 'observed-destination-mismatch']);
    expect(de.entry).toMatchObject({
      decision: 'deny',
      reason: 'observed-destination-mismatch',
      ip: '193.99.144.80',
      observed: { address: '193.99.144.80', country: 'DE', network: '', database: digest, stale: false },
    });
    // From North Korea (RFC 7239 Forwarded), declaring Germany.
    const kp = await ask(up.url, 'DE', { forwarded: 'for=175.45.176.1;proto=https' });
    expect([kp.status, kp.answer.reason, kp.entry.observed?.country]).toEqual([403, 'observed-embargoed', 'KP']);
    // From the US, declaring the US: allowed, and the country on record.
    const us = await ask(up.url, 'US', { 'x-forwarded-for': '8.8.8.8' });
    expect([us.answer.decision, us.entry.observed?.country]).toEqual(['allow', 'US']);
    // The proxy itself, no header: loopback, unknown, allowed and logged unknown.
    const local = await ask(up.url, 'DE');
    expect(local.answer.decision).toBe('allow');
    expect(local.entry.observed).toEqual({
      address: '127.0.0.1',
      country: '',
      network: '',
      database: digest,
      ageDays: up.geoip!.ageDays,
      stale: false,
    });
    await stop();
  });

  it('ignores the headers of a peer that is not a trusted proxy; a stale database warns and marks every entry', async () => {
    const up = await serve(['--trusted-proxy', '10.0.0.0/8', '--geoip-max-age', '1']);
    expect(up.geoip).toMatchObject({ stale: true });
    // Written before the --json line; the pipes are read independently.
    await within(5000, 'the stale-database warning on stderr', () =>
      up.stderr().includes('warning: the geolocation database'),
    );
    expect(up.stderr()).toMatch(/warning: the geolocation database .* \d+ days old, past --geoip-max-age 1/);
    const de = await ask(up.url, 'US', { 'x-forwarded-for': '193.99.144.80', forwarded: 'for=193.99.144.80' });
    expect(de.answer.decision).toBe('allow');
    expect(de.entry).toMatchObject({ ip: '127.0.0.1', observed: { address: '127.0.0.1', country: '', stale: true } });
    await stop();
  });

  it('runs without a database when told (--geoip none): every observation unknown', async () => {
    const up = await serve(['--geoip', 'none', '--trusted-proxy', '127.0.0.1']);
    expect(up.geoip).toBeNull();
    const de = await ask(up.url, 'US', { 'x-forwarded-for': '193.99.144.80' });
    expect(de.answer.decision).toBe('allow');
    expect(de.entry.observed).toEqual({
      address: '193.99.144.80',
      country: '',
      network: '',
      database: '',
      ageDays: 0,
      stale: false,
    });
    await stop();
    const human = spawnSync(process.execPath, [BIN, '--keys', keys, 'serve', '--help']).stdout.toString();
    for (const flag of [
      '--geoip <mmdb|none>',
      '--geoip-asn <mmdb>',
      '--geoip-max-age <days>',
      '--trusted-proxy <cidr>',
      '--forwarded-header',
    ])
      expect(human).toContain(flag);
  });

  it('refuses a file that is not a country database, a bad proxy range and an unknown header, before it listens', () => {
    const notes = join(dir, 'notes.mmdb');
    writeFileSync(notes, 'not a database');
    const cases: [string[], number, string, RegExp][] = [
      [['--geoip', notes], 19, 'GEO_DATABASE_INVALID', /notes\.mmdb: is not a MaxMind DB file/],
      [['--geoip-asn', join(dir, 'missing.mmdb')], 19, 'GEO_DATABASE_INVALID', /missing\.mmdb: cannot be read/],
      [['--trusted-proxy', '10.0.0.0/33'], 2, 'INVALID_ARGUMENT', /"10\.0\.0\.0\/33" is not an address or CIDR range/],
      [['--forwarded-header', 'via'], 2, 'INVALID_ARGUMENT', /expected x-forwarded-for, forwarded, any/],
      [['--geoip-max-age', '0'], 2, 'INVALID_ARGUMENT', /--geoip-max-age/],
    ];
    for (const [args, code, name, message] of cases) {
      const r = ms(['--json', 'serve', '--data', data, '--port', '0', ...args]);
      expect({ args, code: r.code, error: r.json().error.code }).toEqual({ args, code, error: name });
      expect(r.json().error.message).toMatch(message);
    }
  });
});
