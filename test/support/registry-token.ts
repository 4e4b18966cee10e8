/**
 * The token server of the test registry in token mode: test/peers/registry-token-server.mjs as a
 * child process (tests that run the CLI with spawnSync block their own event loop), with a P-256
 * signing key and self-signed certificate made here with openssl. What it issued and refused is
 * read back from its events file.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

/** One token the server issued: to whom (`''` when anonymous) and what it grants. */
export interface IssuedToken {
  readonly account: string;
  readonly service: string;
  readonly access: readonly { readonly type: string; readonly name: string; readonly actions: readonly string[] }[];
  /** 'get' (the distribution token flow) or 'post' (the OAuth2 password / refresh-token flow). */
  readonly flow: 'get' | 'post';
}

export interface TokenServer {
  /** The realm URL the registry sends clients to (`WWW-Authenticate: Bearer realm=…`). */
  readonly realm: string;
  readonly issuer: string;
  readonly service: string;
  /** The PEM file of the signing certificate: the registry's `auth.token.rootcertbundle`. */
  readonly rootCertBundle: string;
  /** Every token issued so far, in order. */
  readonly issued: () => IssuedToken[];
  /** How many requests it refused (wrong credentials), so far. */
  readonly refused: () => number;
  close(): Promise<void>;
}

const SERVER = resolve(import.meta.dirname, '../peers/registry-token-server.mjs');
const ISSUER = 'modelseal-test-token-server';
const SERVICE = 'modelseal-test-registry';

/** A P-256 key and a self-signed certificate for it, made with openssl in `dir`. */
function makeSigningCert(dir: string): { keyFile: string; certFile: string } {
  const keyFile = join(dir, 'token-signing.key');
  const certFile = join(dir, 'token-signing.crt');
  const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  const made = spawnSync('openssl', [
    ...args,
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    '2',
    '-subj',
    `/CN=${ISSUER}`,
  ]);
  if (made.status !== 0) {
    const why = made.error ? String(made.error) : made.stderr.toString();
    throw new Error(`openssl could not make the token signing certificate: ${why}`);
  }
  return { keyFile, certFile };
}

type TokenEvent = ({ kind: 'issued' } & IssuedToken) | { kind: 'refused'; flow: 'get' | 'post' };

function readEvents(file: string): TokenEvent[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as TokenEvent);
}

/** Starts the token server on a free loopback port; `dir` receives its key, certificate and events. */
export async function startTokenServer(dir: string, username: string, password: string): Promise<TokenServer> {
  const { keyFile, certFile } = makeSigningCert(dir);
  const events = join(dir, 'token-events.jsonl');
  writeFileSync(events, '');
  const child = spawn(process.execPath, [SERVER], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH,
      TOKEN_USERNAME: username,
      TOKEN_PASSWORD: password,
      TOKEN_KEY: keyFile,
      TOKEN_CERT: certFile,
      TOKEN_ISSUER: ISSUER,
      TOKEN_EVENTS: events,
    },
  });
  let log = '';
  child.stderr.on('data', (b: Buffer) => (log = (log + b.toString()).slice(-4000)));
  const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
  const port = await new Promise<number>((ok, fail) => {
    const lines = createInterface({ input: child.stdout });
    lines.once('line', (l) => ok((JSON.parse(l) as { port: number }).port));
    void exited.then(() => fail(new Error(`the registry token server exited (${child.exitCode}): ${log}`)));
  });
  return {
    realm: `http://127.0.0.1:${port}/token`,
    issuer: ISSUER,
    service: SERVICE,
    rootCertBundle: certFile,
    issued: () =>
      readEvents(events)
        .filter((e) => e.kind === 'issued')
        .map(({ kind: _, ...t }) => t),
    refused: () => readEvents(events).filter((e) => e.kind === 'refused').length,
    close: async () => {
      child.stdin.end();
      await exited;
    },
  };
}
