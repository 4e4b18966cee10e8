/**
 * A real OCI registry for the tests: Debian's `docker-registry` (distribution 2.8, installed by
 * test/peers/setup.sh) on a free loopback port, with storage of its own under a temporary folder
 * and deletes enabled; no auth, basic auth (htpasswd, bcrypt) or token auth (a token server of
 * our own, ./registry-token.ts). distribution 2.8 has no referrers API (GET /v2/<name>/referrers/
 * answers 404), so clients exercise the referrers tag schema (`sha256-<hex>`) against it.
 * Also the `oras` CLI setup.sh builds, to cross-check what the code pushes and pulls.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startTokenServer, type IssuedToken, type TokenServer } from './registry-token.js';
import { within } from './wait.js';

export type { IssuedToken } from './registry-token.js';

const REGISTRY = '/usr/bin/docker-registry';
const PEERS = resolve(import.meta.dirname, '../../.peers');
const ORAS_VERSION = readFileSync(resolve(import.meta.dirname, '../peers/oras.version'), 'utf8').trim();

export type RegistryAuth = 'none' | 'basic' | 'token';

export interface RegistryOptions {
  auth: RegistryAuth;
}

export interface TestRegistry {
  /** `http://127.0.0.1:<port>` (plain HTTP on loopback). */
  readonly url: string;
  /** `127.0.0.1:<port>`: what an `oci://` reference and the Docker config name the registry by. */
  readonly host: string;
  readonly auth: RegistryAuth;
  /** The account that may push and pull (basic and token modes). */
  readonly username?: string;
  readonly password?: string;
  /** A folder whose config.json holds the credentials for `host` (for DOCKER_CONFIG); empty `auths` without auth. */
  readonly dockerConfig: string;
  /** The registry's storage folder (filesystem driver), to look at what was stored. */
  readonly storage: string;
  /** Token mode: the token server's realm and service, the tokens it issued so far, how many requests it refused. */
  readonly token?: {
    readonly realm: string;
    readonly service: string;
    readonly issued: () => IssuedToken[];
    readonly refused: () => number;
  };
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
function configYml(storage: string, auth: string): string {
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

function writeDockerConfig(dir: string, host: string, username?: string, password?: string): string {
  const folder = join(dir, 'docker-config');
  mkdirSync(folder, { mode: 0o700 });
  const auths =
    username === undefined ? {} : { [host]: { auth: Buffer.from(`${username}:${password ?? ''}`).toString('base64') } };
  writeFileSync(join(folder, 'config.json'), JSON.stringify({ auths }, null, 2) + '\n', { mode: 0o600 });
  return folder;
}

/** Spawns the registry, reads its port from its log and waits for `GET /v2/` to answer 200 or 401. */
async function launch(configFile: string) {
  const child: ChildProcess = spawn(REGISTRY, ['serve', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const keep = (b: Buffer) => (log = (log + b.toString()).slice(-65536));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
  const dead = () => {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`docker-registry exited (${child.exitCode ?? child.signalCode}): ${log.slice(-2000)}`);
  };
  try {
    const host = await within(30_000, 'docker-registry to say which port it listens on', () => {
      dead();
      return /listening on (127\.0\.0\.1:\d+)/.exec(log)?.[1];
    });
    await within(30_000, `docker-registry to answer on http://${host}/v2/`, async () => {
      dead();
      const status = await fetch(`http://${host}/v2/`).then(
        (r) => r.status,
        () => 0, // not answering yet
      );
      return status === 200 || status === 401;
    });
    return { child, host, exited, log: () => log };
  } catch (e) {
    child.kill();
    await exited;
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
    writeFileSync(configFile, configYml(storage, auth));
    const run = await launch(configFile);
    const t = token;
    return {
      url: `http://${run.host}`,
      host: run.host,
      auth: opts.auth,
      ...creds,
      dockerConfig: writeDockerConfig(dir, run.host, creds?.username, creds?.password),
      storage,
      ...(t && { token: { realm: t.realm, service: t.service, issued: t.issued, refused: t.refused } }),
      log: run.log,
      stop: async () => {
        if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill();
        await run.exited;
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
