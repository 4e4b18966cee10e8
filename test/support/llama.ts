/**
 * The gate's real upstreams (issue 23): llama.cpp's `llama-server`, built by test/peers/setup.sh with
 * cmake from the llama.cpp source in the llama-cpp-python sdist (test/peers/llama.version), and
 * llama-cpp-python's OpenAI-compatible server (`python -m llama_cpp.server`, in .peers/venv, on the same
 * libllama), both serving the tiny random-weight llama that test/peers/make-tiny-llama.py writes; and
 * the openai Python SDK in the same venv, the standard client.
 *
 * What they send (llama.cpp and llama-cpp-python 0.3.36; test/interop/llama-peer.test.ts checks it):
 * - llama-server, /v1/chat/completions streamed: NO usage anywhere unless the request has
 *   `stream_options: {include_usage: true}`; then ONE extra chunk after the finish_reason chunk and
 *   before `[DONE]`: `{"object":"chat.completion.chunk","choices":[],"usage":{prompt_tokens,
 *   completion_tokens,total_tokens,prompt_tokens_details:{cached_tokens}},"timings":{…}}`. The
 *   finish_reason chunk itself carries `timings` (llama.cpp's own) but no usage. A gate that adds
 *   include_usage for its metering strips that one chunk when the client did not ask for it.
 * - llama-server, /v1/completions streamed: the finish_reason chunk (choices of one, text "") ALWAYS
 *   carries `usage`, whatever stream_options says (include_usage true, false or absent): no extra
 *   chunk to strip, usage to read from the last chunk. (Its ids start "chatcmpl-" there too.)
 * - llama-server, plain answers: `usage` always, plus `timings`.
 * - llama-cpp-python's server: plain answers carry `usage`; its streams (chat and completions) NEVER
 *   do, include_usage or not: the gate's estimated path. Its completion_tokens can exceed max_tokens
 *   by up to 3 (it does not stop inside a multi-byte UTF-8 character; finish_reason is still
 *   "length"), so a settle may exceed the max_tokens reserved at admission.
 * - Both: /v1/models lists the alias (`data[0].id`). llama-server answers /v1/embeddings (64 floats,
 *   `usage: {prompt_tokens, total_tokens}`) when started with extraArgs ['--embeddings', '--pooling',
 *   'mean'] (without a pooling it answers 400), and still answers completions then.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { freePort } from './moto.js';
import { within } from './wait.js';

const ROOT = join(import.meta.dirname, '../..');
const PEERS = join(ROOT, '.peers');
const PEER_SRC = join(ROOT, 'test/peers');
const SETUP = 'run `bash test/peers/setup.sh` (npm test does)';

function hash16(files: string[]): string {
  const h = createHash('sha256');
  for (const f of files) h.update(readFileSync(join(PEER_SRC, f)));
  return h.digest('hex').slice(0, 16);
}

/** The llama-cpp-python (and vendored llama.cpp) version the peers are built from. */
export const LLAMA_VERSION = readFileSync(join(PEER_SRC, 'llama.version'), 'utf8').trim();
// The names setup.sh gives them: from the hash of the version and the cmake options (the build), of the
// script and the version (the model).
const LLAMA_DIR = join(PEERS, `llama-${LLAMA_VERSION}-${hash16(['llama.version', 'llama.cmake'])}`);
const LLAMA_LIB = join(LLAMA_DIR, 'build/bin');
/** The llama-server binary setup.sh builds. */
export const LLAMA_SERVER = join(LLAMA_LIB, 'llama-server');
/** The tiny random-weight llama GGUF (2 layers, 64 wide, context 512, the llama SPM vocabulary of 32,000). */
export const TINY_LLAMA = join(PEERS, `llama-tiny-${hash16(['make-tiny-llama.py', 'llama.version'])}.gguf`);
/** The model name both upstreams answer to (their `--alias`), which /v1/models lists. */
export const TINY_LLAMA_NAME = 'tiny-llama';
const PYTHON = join(PEERS, 'venv/bin/python');

/** A running upstream: its base URL (no trailing slash, no /v1), its process id, and how to stop it. */
export interface LlamaPeer {
  url: string;
  pid: number;
  /** The model name to send (the alias it serves the model under). */
  model: string;
  /** Its stderr so far (the last 8 KiB), for failure messages. */
  log(): string;
  close(): Promise<void>;
}

function needFile(path: string, what: string): void {
  if (!existsSync(path)) throw new Error(`${path} is missing: ${SETUP}; ${what}`);
}

/** The venv's python (test/peers/setup.sh makes it); throws, naming the setup, when it is missing. */
export function pythonBin(): string {
  needFile(PYTHON, 'the Python peers live in its venv');
  return PYTHON;
}

let openaiChecked = false;
/** The venv's python after checking that the openai SDK imports there; throws, naming the setup, when not. */
export function openaiPython(): string {
  const py = pythonBin();
  if (!openaiChecked) {
    const r = spawnSync(py, ['-c', 'import openai'], { encoding: 'utf8' });
    if (r.status !== 0)
      throw new Error(`the openai Python SDK does not import in ${py}: ${SETUP} (it installs openai): ${r.stderr}`);
    openaiChecked = true;
  }
  return py;
}

/** Whether the openai SDK imports in the venv (for messages; tests call openaiPython(), which fails). */
export function openaiAvailable(): boolean {
  try {
    openaiPython();
    return true;
  } catch {
    return false;
  }
}

/** Spawns `cmd`, keeps its stderr, and waits until GET `probe` on it answers 200; fails if it exits first. */
async function startPeer(
  name: string,
  cmd: string,
  args: string[],
  port: number,
  probe: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<LlamaPeer> {
  const child: ChildProcess = spawn(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (b: Buffer) => (log = (log + b.toString()).slice(-8192)));
  let spawnError: Error | undefined;
  child.once('error', (e) => (spawnError = e));
  const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
  };
  try {
    await within(120_000, `${name} to answer GET ${probe} on ${url}`, async () => {
      if (spawnError) throw new Error(`${name} did not start: ${spawnError.message}`);
      if (child.exitCode !== null) throw new Error(`${name} exited (${child.exitCode})`);
      return fetch(url + probe).then(
        (r) => r.ok,
        () => false, // not listening yet
      );
    });
  } catch (e) {
    await stop();
    throw new Error(`${e instanceof Error ? e.message : String(e)}; its stderr: ${log}`, { cause: e });
  }
  return { url, pid: child.pid!, model: TINY_LLAMA_NAME, log: () => log, close: stop };
}

/** Options of an upstream: another GGUF than the tiny llama, a context size, more arguments. */
export interface LlamaOptions {
  model?: string;
  ctx?: number;
  /** More llama-server arguments (e.g. ['--embeddings'], ['-np', '4']); later ones win. */
  extraArgs?: string[];
}

/**
 * Starts llama-server on a free loopback port with the tiny llama (or `model`), one slot, one thread,
 * and waits until /health answers (the model is loaded). Fails, naming the setup, when it is not built.
 */
export async function startLlamaServer(opts: LlamaOptions = {}): Promise<LlamaPeer> {
  needFile(join(LLAMA_DIR, 'ok'), `the gate tests need llama-server ${LLAMA_VERSION} built from source`);
  const model = opts.model ?? TINY_LLAMA;
  needFile(model, 'the gate tests serve the tiny llama it writes');
  const port = await freePort();
  const args = ['-m', model, '--alias', TINY_LLAMA_NAME, '--host', '127.0.0.1', '--port', String(port)];
  args.push('-c', String(opts.ctx ?? 512), '-np', '1', '-t', '1', '--no-warmup', '--no-webui');
  return startPeer('llama-server', LLAMA_SERVER, [...args, ...(opts.extraArgs ?? [])], port, '/health');
}

/**
 * Starts llama-cpp-python's server (`python -m llama_cpp.server`, on the libllama setup.sh built) on a
 * free loopback port with the tiny llama (or `model`) and waits until /v1/models answers.
 */
export async function startLlamaCppPython(opts: Pick<LlamaOptions, 'model' | 'ctx'> = {}): Promise<LlamaPeer> {
  const py = pythonBin();
  needFile(join(LLAMA_DIR, 'ok'), `llama-cpp-python's server loads the libllama built with llama-server`);
  const model = opts.model ?? TINY_LLAMA;
  needFile(model, 'the gate tests serve the tiny llama it writes');
  const check = spawnSync(py, ['-c', 'import llama_cpp.server.app'], {
    encoding: 'utf8',
    env: { ...process.env, LLAMA_CPP_LIB_PATH: LLAMA_LIB },
  });
  if (check.status !== 0)
    throw new Error(`llama-cpp-python[server] does not import in ${py}: ${SETUP} (it installs it): ${check.stderr}`);
  const port = await freePort();
  const args = ['-m', 'llama_cpp.server', '--model', model, '--model_alias', TINY_LLAMA_NAME];
  args.push('--host', '127.0.0.1', '--port', String(port), '--n_ctx', String(opts.ctx ?? 512), '--n_threads', '1');
  const env = { ...process.env, LLAMA_CPP_LIB_PATH: LLAMA_LIB };
  return startPeer('llama-cpp-python server', py, args, port, '/v1/models', env);
}

/**
 * Starts an upstream before the tests of the enclosing block and stops it after them; returns a getter
 * (which throws when the upstream did not start, so a missing peer fails with its own message only).
 */
export function usePeer(start: () => Promise<LlamaPeer>): () => LlamaPeer {
  let peer: LlamaPeer | undefined;
  beforeAll(async () => {
    peer = await start();
  });
  afterAll(async () => {
    await peer?.close();
  });
  return () => {
    if (!peer) throw new Error('the upstream did not start (see the error of the hook)');
    return peer;
  };
}
