/**
 * The token server of the test registry in token mode: test/peers/registry-token-server.mjs as a
 * child process (./child-server.ts says why), with a P-256 signing key and a self-signed
 * certificate (./registry-certs.ts). What it issued and refused is read back from its events file.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startChildServer } from './child-server.js';
import { selfSigned } from './registry-certs.js';

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
  const { keyFile, certFile } = selfSigned(dir, 'token-signing', ISSUER);
  const events = join(dir, 'token-events.jsonl');
  writeFileSync(events, '');
  // The credentials go in its environment, never in argv.
  const child = await startChildServer(SERVER, {
    TOKEN_USERNAME: username,
    TOKEN_PASSWORD: password,
    TOKEN_KEY: keyFile,
    TOKEN_CERT: certFile,
    TOKEN_ISSUER: ISSUER,
    TOKEN_EVENTS: events,
  });
  return {
    realm: `http://127.0.0.1:${child.port}/token`,
    issuer: ISSUER,
    service: SERVICE,
    rootCertBundle: certFile,
    issued: () =>
      readEvents(events)
        .filter((e) => e.kind === 'issued')
        .map(({ kind: _, ...t }) => t),
    refused: () => readEvents(events).filter((e) => e.kind === 'refused').length,
    close: () => child.close(),
  };
}
