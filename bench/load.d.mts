// Types of load.mjs for the TypeScript tests that drive the service with it (test/cli/soak.test.ts).
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import type { KeyObject } from 'node:crypto';
import type { StanzaJson } from '../src/release/stanza.js';

export declare const ROOT: string;
export declare const BIN: string;
/** What a V8 or Node fatal error prints on stderr before the process dies. */
export declare const FATAL: RegExp;

/** `--name value` from the command line, else $<PREFIX>_<NAME>, else `def`. */
export declare function option(prefix: string, name: string, def?: string): string | undefined;

/** A key store with the registered recipient `bench-co`; `ms` runs the CLI there and parses its --json answer. */
export interface LoadEnv {
  dir: string;
  keys: string;
  data: string;
  /** The Ed25519 private key of `bench-co`. */
  privateKey: KeyObject;
  ms(...args: string[]): unknown;
}
export declare function prepare(dir: string): LoadEnv;

/** A running `modelseal serve` child process. */
export interface Service {
  child: ChildProcessWithoutNullStreams;
  url: string;
  stderr(): string;
  /** Null while the service runs as it should, else what went wrong. */
  death(): string | null;
  /** SIGTERM, and the exit it should make: code 0 (a death otherwise). */
  stop(): Promise<string | null>;
}
export declare function startServe(
  env: LoadEnv,
  opts?: {
    store?: string;
    nodeArgs?: string[];
    echo?: boolean;
    extraEnv?: Record<string, string>;
    /** The command and its flags after `modelseal --keys <keys> --json` (default: serve --data <data> --port 0). */
    command?: string[];
  },
): Promise<Service>;

/** The fields of a release request the clients fill in. */
export interface RequestTemplate {
  v: 1;
  package: string;
  artifact: string;
  stanza: StanzaJson;
  destination: string;
  recipient: string;
}
export declare function licensedTemplate(env: LoadEnv, url: string): Promise<RequestTemplate>;

/** One keep-alive connection: each call resolves to the answer's status and body. */
export interface Connection {
  post(path: string, body: string): Promise<{ status: number; body: Buffer }>;
  get(path: string): Promise<{ status: number; body: Buffer }>;
  close(): void;
}
export declare function connection(url: string): Connection;

/** `n` ephemeral X25519 public keys. */
export declare function ephemerals(n: number): Promise<string[]>;

/** A signed release request body from `template`, with `edit` applied to the request before signing. */
export declare function requestSigner(
  template: RequestTemplate,
  privateKey: KeyObject,
): Promise<(ephemeral: string, edit?: (request: Record<string, unknown>) => void) => string>;

/** Audits the service's log (`audit verify`); `inference`: its gateway calls, when it holds any. */
export declare function auditLog(
  env: LoadEnv,
  store?: string,
): { ok: boolean; size: number | null; inference: Record<string, unknown> | null; stderr: string };

export declare function postgresUrl(log: (message: string) => void): string;
export declare function postgresStore(log: (message: string) => void): string;
export declare function dropSchema(store: string): void;

/** What the soak clients send, by weight. */
export declare const SOAK_MIX: Record<
  'release' | 'policyDenied' | 'replay' | 'forged' | 'unknownRecipient' | 'malformed' | 'read',
  number
>;

/** What `driveLoad` counted. */
export interface LoadStats {
  requests: number;
  allowed: number;
  byKind: Record<string, number>;
  byStatus: Record<string, number>;
  deliberate503: number;
  unexpected5xx: number;
  unexpected5xxSamples: { kind: string; status: number; body: string }[];
  noAnswer: Record<string, number>;
  /** Milliseconds of each allowed release. */
  latencies: number[];
}
export declare function driveLoad(opts: {
  url: string;
  template: RequestTemplate;
  privateKey: KeyObject;
  seconds: number;
  concurrency: number;
  mix?: Partial<Record<keyof typeof SOAK_MIX, number>>;
  dead?: () => string | null;
}): Promise<LoadStats>;
