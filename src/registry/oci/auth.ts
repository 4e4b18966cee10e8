/**
 * Registry credentials as Docker and ORAS find them: `$DOCKER_CONFIG/config.json` (or
 * ~/.docker/config.json) `credHelpers` / `credsStore` through `docker-credential-<helper> get`,
 * else `auths`; and the challenge of a 401 (`WWW-Authenticate`, RFC 7235; the distribution token flow).
 * Secrets stay in memory: never in argv, messages or logs.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ModelsealError } from '../../errors.js';

/** A username and secret for one registry. */
export interface Credential {
  username: string;
  password: string;
}

/** The username that marks an identity token (an OAuth2 refresh token) as the credential. */
export const IDENTITY_TOKEN = '<token>';

/** A parsed `WWW-Authenticate` challenge: the scheme and its parameters (realm, service, scope). */
export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

/** The names a registry may go by in a Docker config (Docker Hub's historical key included). */
function configKeys(registry: string): string[] {
  const keys = [
    registry,
    `https://${registry}`,
    `http://${registry}`,
    `https://${registry}/v1/`,
    `https://${registry}/v2/`,
  ];
  if (registry === 'docker.io' || registry === 'registry-1.docker.io') keys.push('https://index.docker.io/v1/');
  return keys;
}

/** Credentials for `registry` from the Docker config in `dir` (default $DOCKER_CONFIG or ~/.docker), or null. */
export async function dockerCredential(registry: string, dir?: string): Promise<Credential | null> {
  const folder = dir ?? process.env.DOCKER_CONFIG ?? join(homedir(), '.docker');
  const path = join(folder, 'config.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return null; // no config: anonymous, as docker does
  }
  let cfg: DockerConfig;
  try {
    cfg = JSON.parse(text) as DockerConfig;
  } catch (cause) {
    throw new ModelsealError('REGISTRY_AUTH', `${path} is not JSON; fix it or point DOCKER_CONFIG elsewhere`, {
      cause,
    });
  }
  const keys = configKeys(registry);
  const helper = keys.map((k) => cfg.credHelpers?.[k]).find((h) => h) ?? cfg.credsStore;
  if (helper) {
    const fromHelper = await helperCredential(helper, registry);
    if (fromHelper) return fromHelper;
  }
  for (const k of keys) {
    const a = cfg.auths?.[k];
    if (!a) continue;
    if (a.identitytoken) return { username: IDENTITY_TOKEN, password: a.identitytoken };
    if (a.username && a.password) return { username: a.username, password: a.password };
    if (a.auth) {
      const plain = Buffer.from(a.auth, 'base64').toString('utf8');
      const colon = plain.indexOf(':');
      if (colon > 0) return { username: plain.slice(0, colon), password: plain.slice(colon + 1) };
      throw new ModelsealError('REGISTRY_AUTH', `${path}: the auth entry of ${k} is not base64 of user:password`);
    }
  }
  return null;
}

/** Runs `docker-credential-<helper> get` with the server on stdin (its protocol); null when it has nothing. */
function helperCredential(helper: string, registry: string): Promise<Credential | null> {
  if (!/^[a-zA-Z0-9_.-]+$/.test(helper))
    throw new ModelsealError('REGISTRY_AUTH', `credential helper name ${helper} is not a plain name`);
  const program = `docker-credential-${helper}`;
  return new Promise((resolve, reject) => {
    const child = spawn(program, ['get'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.resume(); // its text may name the server; not shown, it could hold more
    child.on('error', (cause) =>
      reject(
        new ModelsealError('REGISTRY_AUTH', `cannot run ${program}: install it or fix the Docker config`, { cause }),
      ),
    );
    child.on('close', (code) => {
      const text = Buffer.concat(out).toString('utf8');
      if (code !== 0) {
        resolve(null); // "credentials not found in native keychain": anonymous
        return;
      }
      try {
        const j = JSON.parse(text) as { Username?: string; Secret?: string };
        resolve(j.Secret ? { username: j.Username ?? '', password: j.Secret } : null);
      } catch {
        reject(new ModelsealError('REGISTRY_AUTH', `${program} get answered something that is not JSON`));
      }
    });
    child.stdin.end(`https://${registry}`);
  });
}

/** Parses the first challenge of a `WWW-Authenticate` header: `Bearer realm="…",service="…",scope="…"`. */
export function parseChallenge(header: string): Challenge | null {
  const m = /^\s*([A-Za-z][A-Za-z0-9_-]*)\s*(.*)$/.exec(header);
  if (!m) return null;
  const params: Record<string, string> = {};
  const re = /([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?\s*/gy;
  const rest = m[2]!;
  re.lastIndex = 0;
  let p: RegExpExecArray | null;
  while (re.lastIndex < rest.length && (p = re.exec(rest))) {
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!;
  }
  return { scheme: m[1]!.toLowerCase(), params };
}

/** The Authorization value of basic auth. */
export function basicAuthorization(c: Credential): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`, 'utf8').toString('base64')}`;
}
