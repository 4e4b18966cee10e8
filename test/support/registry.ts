/**
 * A real OCI registry for the tests: Debian's `docker-registry` (distribution 2.8, installed by
 * test/peers/setup.sh) on a free loopback port, with storage of its own under a temporary folder
 * and deletes enabled; no auth, basic auth (htpasswd, bcrypt) or token auth (a token server of
 * our own, ./registry-token.ts). distribution 2.8 has no referrers API (GET /v2/<name>/referrers/
 * answers 404), so clients exercise the referrers tag schema (`sha256-<hex>`) against it; with
 * `referrers: 'api'` a proxy of our own in front of it adds the API (test/peers/registry-proxy.mjs),
 * everything else staying the registry's; the proxy also injects faults (429, 5xx, a connection cut
 * mid-body) and records the requests, for retry and resume tests.
 * HTTPS with `tls: true` (a CA of the test's own). Also the `oras` CLI setup.sh builds, to
 * cross-check what the code pushes and pulls.
 *
 *   const reg = await startRegistry({ auth: 'token' });   // in beforeAll; reg.stop() in afterAll
 *   the CLI with DOCKER_CONFIG=reg.dockerConfig pushes to `oci://${reg.host}/models/m:v1` (plain HTTP);
 *   spawnSync(orasBin(), ['pull', '--plain-http', '-o', out, `${reg.host}/models/m:v1`], { env: … });
 *   reg.token.issued() // the tokens its token server issued
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startTokenServer, type IssuedToken, type TokenServer } from './registry-token.js';
import { startChildServer, type ChildServer } from './child-server.js';
import { serverCert } from './registry-certs.js';
import { writeCredentialHelper, writeDockerConfig, type CredentialHelper } from './registry-credentials.js';
import { within } from './wait.js';

export type { IssuedToken } from './registry-token.js';
export type { CredentialHelper } from './registry-credentials.js';

const REGISTRY = '/usr/bin/docker-registry';
const TIED = resolve(import.meta.dirname, '../peers/tied-to-parent.mjs');
const PROXY = resolve(import.meta.dirname, '../peers/registry-proxy.mjs');
const PEERS = resolve(import.meta.dirname, '../../.peers');
const ORAS_VERSION = readFileSync(resolve(import.meta.dirname, '../peers/oras.version'), 'utf8').trim();

export type RegistryAuth = 'none' | 'basic' | 'token';

/** A fault the proxy injects into the next `times` (default 1) requests whose method and path match. */
export interface Fault {
  /** The method to match (any when absent). */
  method?: string;
  /** A regular expression the request path with its query must match, e.g. `/blobs/sha256:`. */
  path: string;
  times?: number;
  /** Answer this status (429, 500, 503 …) instead of the registry, with `Retry-After: retryAfter` when given. */
  status?: number;
  retryAfter?: number;
  /** Pass the request on, but cut the connection after this many bytes of the response body. */
  cutAfter?: number;
}

/** One request the proxy answered. */
export interface ProxiedRequest {
  readonly method: string;
  /** The path with its query. */
  readonly path: string;
  readonly status: number;
  /** The Range header the client sent, if any. */
  readonly range?: string;
  /** Whether an injected fault answered or cut it. */
  readonly fault: boolean;
}

/** 'tag-schema': the registry as it is, without the referrers API; 'api': with it, through the proxy. */
export type RegistryReferrers = 'tag-schema' | 'api';

export interface RegistryOptions {
  auth: RegistryAuth;
  /** Default 'tag-schema'; 'api' puts the proxy in front. */
  referrers?: RegistryReferrers;
  /** Put the proxy of our own (test/peers/registry-proxy.mjs) in front, for `inject` and `requests`. */
  proxy?: boolean;
  /** Serve HTTPS with a certificate from a CA of the test's own (`caFile`) instead of plain HTTP. */
  tls?: boolean;
}

export interface TestRegistry {
  /** `http://127.0.0.1:<port>` (plain HTTP on loopback), or `https://…` with `tls`. */
  readonly url: string;
  /** `127.0.0.1:<port>`: what an `oci://` reference and the Docker config name the registry by. */
  readonly host: string;
  readonly auth: RegistryAuth;
  readonly referrers: RegistryReferrers;
  /** The account that may push and pull (basic and token modes). */
  readonly username?: string;
  readonly password?: string;
  /** A folder whose config.json holds the credentials for `host` (for DOCKER_CONFIG); empty `auths` without auth. */
  readonly dockerConfig: string;
  /** With auth: the same credentials through a credential helper (its config folder, its PATH folder, its calls). */
  readonly credentialHelper?: CredentialHelper;
  /** With `tls`: the PEM of the CA that issued the registry's certificate (NODE_EXTRA_CA_CERTS, oras --ca-file). */
  readonly caFile?: string;
  /** The registry's storage folder (filesystem driver), to look at what was stored. */
  readonly storage: string;
  /** Token mode: the token server's realm and service, the tokens it issued so far, how many requests it refused. */
  readonly token?: {
    readonly realm: string;
    readonly service: string;
    readonly issued: () => IssuedToken[];
    readonly refused: () => number;
  };
  /** With the proxy: injects `fault` into the requests that follow (throws without the proxy). */
  inject(fault: Fault): void;
  /** With the proxy: every request it answered so far, in order (throws without the proxy). */
  requests(): ProxiedRequest[];
  /** The registry's log so far (its last 64 KiB), for failure messages. */
  log(): string;
  /** Stops the registry (and token server) and removes its folder. */
  stop(): Promise<void>;
}

function missing(what: string): Error {
  return new Error(`${what} is missing: run \`bash test/peers/setup.sh\` (npm test does); the registry tests need it`);
}

/** The path of the `oras` CLI setup.sh built (`.peers/oras-<version>`); throws when it is absent. */
export function orasBin(): string {
  const bin = join(PEERS, `oras-${ORAS_VERSION}`);
  if (!existsSync(bin)) throw missing(bin);
  return bin;
}

/** The registry's config.yml (docs/configuration.md of distribution 2.8). */
function configYml(storage: string, auth: string, tls?: { keyFile: string; certFile: string }): string {
  return [
    'version: 0.1',
    'log:',
    '  level: info',
    '  accesslog:',
    '    disabled: false',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${storage}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    // Port 0: the kernel picks a free port, which the registry logs ("listening on …"); no race.
    '  addr: 127.0.0.1:0',
    `  secret: ${randomBytes(16).toString('hex')}`,
    ...(tls ? ['  tls:', `    certificate: ${tls.certFile}`, `    key: ${tls.keyFile}`] : []),
    auth,
  ].join('\n');
}

/** Writes the htpasswd file (bcrypt) with the password on stdin, never in argv. */
function writeHtpasswd(file: string, username: string, password: string): void {
  const made = spawnSync('htpasswd', ['-B', '-i', '-c', file, username], { input: password });
  if (made.error) throw missing('htpasswd (apache2-utils)');
  if (made.status !== 0) throw new Error(`htpasswd failed: ${made.stderr.toString()}`);
}

/** The `auth:` section of the config for each mode. */
function authSection(dir: string, auth: RegistryAuth, username: string, password: string, token?: TokenServer) {
  if (auth === 'none') return '';
  if (auth === 'basic') {
    const file = join(dir, 'htpasswd');
    writeHtpasswd(file, username, password);
    return ['auth:', '  htpasswd:', '    realm: modelseal-test', `    path: ${file}`].join('\n');
  }
  return [
    'auth:',
    '  token:',
    `    realm: ${token!.realm}`,
    `    service: ${token!.service}`,
    `    issuer: ${token!.issuer}`,
    `    rootcertbundle: ${token!.rootCertBundle}`,
  ].join('\n');
}

/** The status `GET <url>` answers, trusting `ca` for https; 0 when nothing answers. */
function probe(url: string, ca?: string): Promise<number> {
  const get = url.startsWith('https:') ? httpsGet : httpGet;
  return new Promise((ok) => {
    get(url, { agent: false, ...(ca !== undefined && { ca }) }, (res) => {
      res.resume();
      ok(res.statusCode ?? 0);
    }).on('error', () => ok(0));
  });
}

/** Spawns the registry, reads its port from its log and waits for `GET /v2/` to answer 200 or 401. */
async function launch(configFile: string, scheme: 'http' | 'https', ca?: string) {
  // Through tied-to-parent.mjs: the registry ends when this process does, even when killed.
  const child: ChildProcess = spawn(process.execPath, [TIED, REGISTRY, 'serve', configFile], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let log = '';
  const keep = (b: Buffer) => (log = (log + b.toString()).slice(-65536));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
  const stop = async () => {
    child.stdin!.end();
    await exited;
  };
  const dead = () => {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`docker-registry exited (${child.exitCode ?? child.signalCode}): ${log.slice(-2000)}`);
  };
  try {
    const host = await within(30_000, 'docker-registry to say which port it listens on', () => {
      dead();
      return /listening on (127\.0\.0\.1:\d+)/.exec(log)?.[1];
    });
    await within(30_000, `docker-registry to answer on ${scheme}://${host}/v2/`, async () => {
      dead();
      const status = await probe(`${scheme}://${host}/v2/`, ca);
      return status === 200 || status === 401;
    });
    return { host, stop, log: () => log };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** Starts a registry; a missing docker-registry fails with what to run. */
export async function startRegistry(opts: RegistryOptions): Promise<TestRegistry> {
  if (!existsSync(REGISTRY)) throw missing(`${REGISTRY} (Debian's docker-registry)`);
  const dir = mkdtempSync(join(tmpdir(), 'modelseal-registry-'));
  const storage = join(dir, 'storage');
  mkdirSync(storage);
  const creds = opts.auth === 'none' ? undefined : { username: 'modelseal', password: randomBytes(12).toString('hex') };
  let token: TokenServer | undefined;
  try {
    if (opts.auth === 'token') token = await startTokenServer(dir, creds!.username, creds!.password);
    const auth = authSection(dir, opts.auth, creds?.username ?? '', creds?.password ?? '', token);
    const configFile = join(dir, 'config.yml');
    const tls = opts.tls ? serverCert(dir) : undefined;
    writeFileSync(configFile, configYml(storage, auth, tls));
    const referrers = opts.referrers ?? 'tag-schema';
    const proxied = opts.proxy === true || referrers === 'api';
    // The proxy speaks plain HTTP to its clients and its upstream.
    if (tls && proxied) throw new Error('startRegistry: the proxy (referrers: api, proxy: true) does not serve TLS');
    const run = await launch(configFile, tls ? 'https' : 'http', tls && readFileSync(tls.caFile, 'utf8'));
    const faults = join(dir, 'proxy-faults.jsonl');
    const requests = join(dir, 'proxy-requests.jsonl');
    let proxy: ChildServer | undefined;
    try {
      const env = { UPSTREAM: `http://${run.host}`, REFERRERS: referrers, FAULTS: faults, REQUESTS: requests };
      if (proxied) proxy = await startChildServer(PROXY, env);
    } catch (e) {
      await run.stop();
      throw e;
    }
    const needProxy = (what: string) => {
      if (!proxy) throw new Error(`TestRegistry.${what} needs startRegistry({ proxy: true })`);
    };
    const host = proxy ? `127.0.0.1:${proxy.port}` : run.host;
    const t = token;
    return {
      url: `${tls ? 'https' : 'http'}://${host}`,
      host,
      auth: opts.auth,
      referrers,
      ...creds,
      dockerConfig: writeDockerConfig(dir, host, creds?.username, creds?.password),
      ...(creds && { credentialHelper: writeCredentialHelper(dir, host, creds.username, creds.password) }),
      ...(tls && { caFile: tls.caFile }),
      storage,
      ...(t && { token: { realm: t.realm, service: t.service, issued: t.issued, refused: t.refused } }),
      inject: (fault) => {
        needProxy('inject');
        appendFileSync(faults, JSON.stringify(fault) + '\n');
      },
      requests: () => {
        needProxy('requests');
        if (!existsSync(requests)) return [];
        const lines = readFileSync(requests, 'utf8').split('\n').filter(Boolean);
        return lines.map((l) => JSON.parse(l) as ProxiedRequest);
      },
      log: () => run.log() + (proxy ? proxy.log() : ''),
      stop: async () => {
        await proxy?.close();
        await run.stop();
        await t?.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await token?.close();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
