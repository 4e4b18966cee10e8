import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createExtractionMonitor,
  DEFAULT_UPSTREAM_TIMEOUTS,
  CA_FILES,
  ModelsealError,
  openGate,
  openReleaseService,
  startServer,
  type GateSetup,
  type ReleaseServiceSetup,
} from '../../src/index.js';
import { emitJson, keysDir, passphraseSource, say, type GlobalOptions } from '../util.js';
import { dataDir, DATA_HELP } from './policy.js';
import {
  exchangeLogger,
  geoOptions,
  positive,
  untilSignal,
  withDenyFlags,
  withGeoFlags,
  type GeoFlags,
} from './serve.js';

interface GateFlags extends GeoFlags {
  upstream?: string;
  model?: string;
  package?: string;
  parameters?: string;
  data?: string;
  store?: string;
  host: string;
  port: string;
  tlsCert?: string;
  tlsKey?: string;
  clientCa?: string;
  pseudonymKey?: string;
  quotas?: string;
  connectTimeout: string;
  firstByteTimeout: string;
  idleTimeout: string;
  denyBurst: string;
  denyRate: string;
  commitInterval: string;
}

const seconds = (ms: number) => String(ms / 1000);

/** `gate`: the inference gateway (docs/GATE.md); returns the command, for its subcommands. */
export function registerGate(program: Command): Command {
  const gate = program
    .command('gate')
    .description(
      'run the inference gateway: an OpenAI-compatible proxy in front of a model server where every call is ' +
        'identified, decided by policy (Cedar action Infer), metered against quotas and logged before it is forwarded',
    )
    .option(
      '--upstream <url>',
      'the OpenAI-compatible model server (llama-server, vLLM, …), e.g. http://127.0.0.1:8080',
    )
    .option('--model <name>', 'the name callers use for the served model (keys are scoped to it; GET /v1/models)')
    .option(
      '--package <pkg.mseal>',
      "the sealed package the model server's weights were opened from: the model's digest, classification and " +
        'exact parameter count come from its signed header (no key needed)',
    )
    .option('--parameters <n>', 'without --package: the parameter count for FLOPs (2 × parameters × tokens); default 0')
    .option('--data <dir>', DATA_HELP)
    .option(
      '--store <postgres-url>',
      'keep the log, nonces and quotas in PostgreSQL, shared by several gate (and serve) replicas; default: <data>/log',
    )
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--port <n>', 'port to listen on (0: any free port)', '7412')
    .option('--tls-cert <pem>', 'serve https with this certificate (with --tls-key)')
    .option('--tls-key <pem>', 'the private key of --tls-cert')
    .option(
      '--client-ca <pem>',
      "with --tls-cert: ask callers for a client certificate issued by this CA (default: the key store's ca.pem, " +
        "which issues the recipients' certificates); its SHA-256 must be a registered recipient's fingerprint",
    )
    .option('--quotas <file>', 'the quota file (docs/GATE.md, "Quotas and metering"); default <data>/gate/quotas.json')
    .option(
      '--connect-timeout <s>',
      'seconds to connect to the model server',
      seconds(DEFAULT_UPSTREAM_TIMEOUTS.connectMs),
    )
    .option(
      '--first-byte-timeout <s>',
      "seconds until the model server's answer begins",
      seconds(DEFAULT_UPSTREAM_TIMEOUTS.firstByteMs),
    )
    .option(
      '--idle-timeout <s>',
      'seconds the model server may stay silent within an answer (a stream)',
      seconds(DEFAULT_UPSTREAM_TIMEOUTS.idleMs),
    )
    .option(
      '--pseudonym-key <file>',
      'log recipient names and source addresses as keyed hashes (HMAC-SHA-256) under this key; created when missing',
    )
    .option(
      '--commit-interval <ms>',
      'least time between the starts of two commits of the log; 0: the next commit starts as soon as the one in ' +
        'flight ends, and the admit entries that arrived meanwhile share it (one fsync round, one checkpoint). ' +
        'Higher: fewer checkpoints, more added latency',
      '0',
    );
  withGeoFlags(withDenyFlags(gate))
    .addHelpText(
      'after',
      `
Typical use (docs/GATE.md):
  modelseal recipient key issue acme --model tiny-llama --out acme.key
  modelseal gate --upstream http://127.0.0.1:8080 --model tiny-llama --package tiny.mseal
  OPENAI_BASE_URL=http://127.0.0.1:7412/v1 OPENAI_API_KEY=$(cat acme.key) python my_client.py

Every call gets an infer-admit entry in the log before it is forwarded (allowed or denied; the log down:
503, nothing forwarded) and, once it ends, an infer-settle entry (tokens, FLOPs, outcome). The admit
receipt is in the x-modelseal-receipt header (base64); GET /v1/gate/receipts/<x-request-id> serves both.
The release API (POST /v1/release, GET /v1/info, the log's tiles) is served on the same listener:
one process writes the data directory's log. With --store postgres://… replicas share log and quotas.

Callers may declare X-Modelseal-Destination (ISO country) and X-Modelseal-Application (free text).`,
    )
    .action(gateAction);
  return gate;
}

const serviceLog = (line: string) => process.stderr.write(`modelseal gate: ${line}\n`);
const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** The flags every gate needs, checked before anything opens. */
function required(o: GateFlags): { upstream: string; model: string; parameters?: bigint } {
  if (!o.upstream) throw new ModelsealError('INVALID_ARGUMENT', 'gate needs --upstream <url> (the model server)');
  if (!o.model) throw new ModelsealError('INVALID_ARGUMENT', 'gate needs --model <name> (what callers call it)');
  if (!!o.tlsCert !== !!o.tlsKey)
    throw new ModelsealError('INVALID_ARGUMENT', 'give both --tls-cert and --tls-key, or neither');
  if (o.clientCa && !o.tlsCert)
    throw new ModelsealError('INVALID_ARGUMENT', '--client-ca needs --tls-cert and --tls-key');
  if (o.parameters !== undefined && !/^\d{1,20}$/.test(o.parameters))
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `--parameters ${JSON.stringify(o.parameters)}: expected a whole number`,
    );
  return {
    upstream: o.upstream,
    model: o.model,
    ...(o.parameters !== undefined && { parameters: BigInt(o.parameters) }),
  };
}

async function gateAction(o: GateFlags, cmd: Command): Promise<void> {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  const need = required(o);
  const timeouts = {
    connectMs: positive('connect-timeout', o.connectTimeout) * 1000,
    firstByteMs: positive('first-byte-timeout', o.firstByteTimeout) * 1000,
    idleMs: positive('idle-timeout', o.idleTimeout) * 1000,
  };
  const commitIntervalMs = Number(o.commitInterval);
  if (!(Number.isFinite(commitIntervalMs) && commitIntervalMs >= 0 && commitIntervalMs <= 1000))
    throw new ModelsealError('INVALID_ARGUMENT', `--commit-interval ${o.commitInterval}: expected 0 to 1000 ms`);
  const setup = await openReleaseService(dataDir(o), keysDir(g), {
    passphrase: passphraseSource(g),
    commitIntervalMs,
    ...(o.pseudonymKey ? { pseudonymKey: o.pseudonymKey } : {}),
    ...(o.store ? { store: o.store } : {}),
    onPolicyError: (e) =>
      serviceLog(`the edited policy files do not validate, the previous policy stays in force: ${errorText(e)}`),
    onPolicyChange: (s) => s.status === 'ok' && serviceLog(`policy set ${s.hash.slice(0, 16)}… in force`),
    onError: (what, e) => serviceLog(`${what}: ${errorText(e)}`),
    rateLimits: { burst: positive('deny-burst', o.denyBurst), perSecond: positive('deny-rate', o.denyRate) },
    ...geoOptions(o),
  });
  let gate: GateSetup;
  try {
    gate = await openGate(dataDir(o), setup, {
      ...need,
      ...(o.package && { package: o.package }),
      ...(o.quotas && { quotas: o.quotas }),
      timeouts,
      monitor: createExtractionMonitor(),
      onError: (what, e) => serviceLog(`${what}: ${errorText(e)}`),
    });
  } catch (e) {
    await setup.close();
    throw e;
  }
  await serveGate(g, o, setup, gate);
}

/** Listens, says where, and runs until a signal; then closes listener, gateway and service in that order. */
async function serveGate(g: GlobalOptions, o: GateFlags, setup: ReleaseServiceSetup, gate: GateSetup): Promise<void> {
  const tls = o.tlsCert && o.tlsKey ? { cert: await readFile(o.tlsCert), key: await readFile(o.tlsKey) } : undefined;
  const clientCa = tls ? await readFile(o.clientCa ?? join(keysDir(g), CA_FILES.cert)) : null;
  const server = await startServer(setup.service, setup.log, {
    host: o.host,
    port: Number(o.port),
    onExchange: exchangeLogger(serviceLog),
    routes: gate.gateway.routes,
    ...(tls && { tls }),
    ...(clientCa && { clientCa }),
  }).catch(async (e: unknown) => {
    await gate.close();
    await setup.close();
    throw e;
  });
  printGate(g, o, setup, gate, server.url, clientCa !== null);
  await untilSignal();
  await server.close();
  await gate.close();
  await setup.close();
  say(g, 'stopped');
}

/** The --json object and the start lines (on stderr: the URL first). */
function printGate(
  g: GlobalOptions,
  o: GateFlags,
  setup: ReleaseServiceSetup,
  gate: GateSetup,
  url: string,
  mtls: boolean,
): void {
  const m = gate.model;
  const info = setup.service.info();
  serviceLog(`serving ${m.name} on ${url}/v1 (upstream ${o.upstream})`);
  emitJson(g, 'gate', {
    url,
    upstream: o.upstream,
    model: {
      name: m.name,
      digest: m.digest,
      tier: m.tier,
      parameters: m.parameters.toString(),
      parametersFrom: m.parametersFrom,
      classification: m.classification ?? null,
    },
    data: dataDir(o),
    origin: info.origin,
    logKey: info.logKey,
    policySet: info.policySet,
    quotas: gate.quotas.digest,
    mtls,
  });
  say(g, `modelseal gate on ${url}/v1 → ${o.upstream}`);
  const params = `${m.parameters} parameters${parametersNote(m.parametersFrom)}`;
  say(g, `  model    ${m.name}: ${m.digest ?? 'no package'}, tier ${m.tier}, ${params}`);
  const entries = `${setup.log.size} log entries${o.store ? ' in PostgreSQL' : ''}`;
  say(g, `  data     ${dataDir(o)} (${entries}); the release API on the same listener`);
  say(g, `  log      ${info.origin}; policy set ${info.policySet.slice(0, 16)}…`);
  say(g, `  quotas   ${gate.quotas.digest || 'none (no quota file): no limits'}`);
  say(g, `  callers  API keys (Authorization: Bearer)${mtls ? ' or client certificates (mutual TLS)' : ''}`);
}

function parametersNote(from: GateSetup['model']['parametersFrom']): string {
  if (from === 'package') return " (the package's classification record)";
  if (from === 'flag') return ' (--parameters)';
  return ' (unknown: FLOPs are logged as 0; give --package or --parameters)';
}
