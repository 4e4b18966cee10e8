/**
 * How clients find the test registry's credentials, as the ecosystem keeps them: a Docker config
 * folder (DOCKER_CONFIG) with the credentials inline (`auths`), or one naming a credential helper
 * (`credHelpers`, docker-credential-helpers protocol: `get` reads the server on stdin, prints
 * {ServerURL, Username, Secret}) with the helper in a folder of its own for PATH.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The helper's name: `docker-credential-<HELPER>` on PATH. */
export const HELPER = 'modelseal-test';

export interface CredentialHelper {
  /** A Docker config folder whose config.json sends `host` to the helper. */
  readonly dockerConfig: string;
  /** The folder holding `docker-credential-modelseal-test`, to put first on PATH. */
  readonly path: string;
  /** The helper's calls so far (`get`, `store`, …), in order. */
  readonly calls: () => string[];
}

function writeConfig(folder: string, config: object): string {
  mkdirSync(folder, { mode: 0o700 });
  writeFileSync(join(folder, 'config.json'), JSON.stringify(config, null, 2) + '\n', { mode: 0o600 });
  return folder;
}

/** A Docker config folder with the credentials for `host` inline, or no credentials at all. */
export function writeDockerConfig(dir: string, host: string, username?: string, password?: string): string {
  const auths =
    username === undefined ? {} : { [host]: { auth: Buffer.from(`${username}:${password ?? ''}`).toString('base64') } };
  return writeConfig(join(dir, 'docker-config'), { auths });
}

/** A credential helper answering `get` for `host` (with or without a scheme) and nothing else. */
export function writeCredentialHelper(dir: string, host: string, username: string, password: string): CredentialHelper {
  const path = join(dir, 'credential-helper');
  mkdirSync(path, { mode: 0o700 });
  const secret = join(path, 'credentials.json');
  writeFileSync(secret, JSON.stringify({ ServerURL: host, Username: username, Secret: password }), { mode: 0o600 });
  const calls = join(path, 'calls');
  // POSIX sh: the helper runs where node may not be on PATH. The secret stays in its file.
  const script = [
    '#!/bin/sh',
    `echo "$1" >>'${calls}'`,
    'case "$1" in',
    '  get)',
    '    read -r server',
    '    case "$server" in',
    `      ${host}|http://${host}|https://${host}) exec cat '${secret}' ;;`,
    '    esac',
    '    echo "credentials not found in native keychain"',
    '    exit 1 ;;',
    '  *) echo "docker-credential-' + HELPER + ': $1 is not supported" >&2; exit 1 ;;',
    'esac',
    '',
  ].join('\n');
  const bin = join(path, `docker-credential-${HELPER}`);
  writeFileSync(bin, script);
  chmodSync(bin, 0o700);
  return {
    dockerConfig: writeConfig(join(dir, 'docker-config-helper'), { auths: {}, credHelpers: { [host]: HELPER } }),
    path,
    calls: () => (existsSync(calls) ? readFileSync(calls, 'utf8').split('\n').filter(Boolean) : []),
  };
}
