import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import {
  DEFAULT_GEO_MAX_AGE_DAYS,
  DEFAULT_RATE_LIMITS,
  ModelsealError,
  openReleaseService,
  originOfPrefix,
  startServer,
  type ExchangeRecord,
  type ForwardedHeader,
  type ReleaseServiceSetup,
} from '../../src/index.js';
import { collect, emitJson, keysDir, passphraseSource, say, signerFrom, warn, type GlobalOptions } from '../util.js';
import { dataDir, DATA_HELP, sayPolicyUpgrade } from './policy.js';

/** The geofencing flags as commander parses them. */
export type GeoFlags = Pick<ServeFlags, 'geoip' | 'geoipAsn' | 'geoipMaxAge' | 'trustedProxy' | 'forwardedHeader'>;

interface ServeFlags {
  data?: string;
  host: string;
  port: string;
  tlsCert?: string;
  tlsKey?: string;
  skew: string;
  pseudonymKey?: string;
  store?: string;
  logUrl?: string;
  denyBurst: string;
  denyRate: string;
  summaryInterval: string;
  logSigner?: string;
  geoip?: string;
  geoipAsn?: string;
  geoipMaxAge: string;
  trustedProxy?: string[];
  forwardedHeader: string;
  retain?: string;
}

/** `serve`: the key-release service and its log. */
export function registerServe(program: Command): void {
  const serve = program
    .command('serve')
    .description(
      'run the key-release service: policy decisions (Cedar), a transparency log written before any key leaves, ' +
        'and the log read side (C2SP tlog-tiles)',
    )
    .option('--data <dir>', DATA_HELP)
    .option(
      '--store <postgres-url>',
      'keep the log, nonces and release counts in PostgreSQL (postgres://user@host:port/db[?schema=name]), ' +
        'shared by several serve replicas; default: <data>/log',
    )
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--port <n>', 'port to listen on (0: any free port)', '7411')
    .option('--tls-cert <pem>', 'serve https with this certificate (with --tls-key)')
    .option('--tls-key <pem>', 'the private key of --tls-cert')
    .option('--skew <seconds>', "accepted difference between a request's time and this server's clock", '300')
    .option(
      '--log-url <prefix>',
      "the log's public URL prefix (C2SP tlog-tiles), e.g. https://releases.example/log: the read side is served " +
        "under its path too, and the log key's origin must be this URL without the scheme (init --log-url makes " +
        'such a key)',
    )
    .option(
      '--log-signer <spec>',
      "sign the log's checkpoints with an Ed25519 key in an HSM instead of the key store's log.key: " +
        'pkcs11:<token>/<label> (PIN from --pkcs11-pin-file or the environment); the log is the one the key ' +
        "store's log.vkey names, written by `signer pubkey <spec> --log-name <origin> -o <keys>/log.vkey --force`. " +
        'AWS KMS keys are refused (no Ed25519 signer for them yet). docs/SERVER.md, "The log key in an HSM"',
    )
    .option(
      '--summary-interval <seconds>',
      'how often the requests refused with 429 are written to the log as one summary entry per source',
      '60',
    )
    .option(
      '--pseudonym-key <file>',
      'log recipient names and source addresses as keyed hashes (HMAC-SHA-256) under this key; created ' +
        '(mode 0600) when missing. Keep it: audit list needs it to find a recipient',
    )
    .option(
      '--retain <period>',
      'keep the records of the log entries of this period (5y, 18mo, 400d): at start, check that every policy ' +
        'set, list snapshot and recipient record they rest on is kept, and report what is missing on the service ' +
        'log and in GET /v1/info (docs/SERVER.md, "Retention"). Never stops the service from starting',
    );
  withGeoFlags(withDenyFlags(serve))
    .addHelpText(
      'after',
      `
With no flags: loopback only, data in ./modelseal-data, keys from the key store (./keys): its log.key
signs checkpoints and its x25519 identity is the service's own key. Default policy files are written
to <data>/policy on first start; edit them and check with \`modelseal policy check\`.

A log key in an HSM (Ed25519) instead of log.key:
  modelseal signer pubkey pkcs11:log-hsm/log --log-name releases.example/log -o keys/log.vkey --force
  MODELSEAL_PKCS11_PIN_FILE=/run/secrets/pin modelseal --pkcs11-module /usr/lib/softhsm/libsofthsm2.so \\
    serve --log-signer pkcs11:log-hsm/log

API (docs/API.md): GET /v1/info, POST /v1/release, GET /checkpoint, GET /tile/<L>/<N>,
GET /tile/entries/<N>, GET /v1/checkpoints (every stored checkpoint, for \`audit verify --log <url>\`).

Geofencing (docs/GEOFENCING.md): each request's source is located offline; the policies
observed-embargoed and observed-destination-mismatch deny a release from an embargoed country, or
from another country than the declared destination (unknown and private addresses are allowed and
logged as unknown). Behind a reverse proxy, name it, or every request is located at the proxy:
  modelseal serve --geoip /var/lib/GeoIP/GeoLite2-Country.mmdb --trusted-proxy 10.0.0.0/8 \\
    --forwarded-header x-forwarded-for

Stop with Ctrl-C: pending log appends finish first.`,
    )
    .action(serveAction);
}

/** The limits on failing requests per source (docs/SERVER.md, "Limits"); `gate` takes them too. */
export function withDenyFlags(c: Command): Command {
  return c
    .option(
      '--deny-burst <n>',
      'failing requests one source (an address, or an IPv6 /64) may make at once before it gets 429',
      String(DEFAULT_RATE_LIMITS.burst),
    )
    .option(
      '--deny-rate <per-second>',
      'failing requests per second one source may make after the burst',
      String(DEFAULT_RATE_LIMITS.perSecond),
    );
}

/** The geofencing flags (docs/GEOFENCING.md); `gate` takes them too. */
export function withGeoFlags(c: Command): Command {
  return c
    .option(
      '--geoip <mmdb|none>',
      "locate each request's source offline in this MaxMind-format country database (GeoLite2-Country, " +
        'GeoIP2-Country or -City, ip-location-db); default: the CC0 database of ' +
        '@ip-location-db/geo-whois-asn-country-mmdb when installed. none: do not locate (observed country unknown)',
    )
    .option(
      '--geoip-asn <mmdb>',
      'an ASN database (GeoLite2-ASN layout): marks requests from hosting and anonymiser (VPN) networks',
    )
    .option(
      '--geoip-max-age <days>',
      'days after its build past which the country database is stale: a warning at start, and every log ' +
        'entry marked stale (geoStale in the policy context)',
      String(DEFAULT_GEO_MAX_AGE_DAYS),
    )
    .option(
      '--trusted-proxy <cidr>',
      'a reverse proxy (address or CIDR range, IPv4 or IPv6; repeatable) whose X-Forwarded-For / Forwarded ' +
        'headers are honoured: the client is the rightmost hop that is not a trusted proxy. From any other ' +
        'peer the headers are ignored',
      collect,
    )
    .option(
      '--forwarded-header <name>',
      'the header your proxies write: x-forwarded-for, forwarded (RFC 7239), or any (either; a request ' +
        'carrying both must name the same client in both, or its peer is taken)',
      'any',
    );
}

/** A flag that must be a number above 0. */
export function positive(flag: string, v: string): number {
  const n = Number(v);
  if (!(Number.isFinite(n) && n > 0))
    throw new ModelsealError('INVALID_ARGUMENT', `--${flag} ${JSON.stringify(v)}: expected a number above 0`);
  return n;
}

const HEADERS: readonly ForwardedHeader[] = ['x-forwarded-for', 'forwarded', 'any'];

/** The geofencing flags as setup options (the databases are checked when the service opens). */
export function geoOptions(o: GeoFlags) {
  if (!HEADERS.includes(o.forwardedHeader as ForwardedHeader))
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `--forwarded-header ${JSON.stringify(o.forwardedHeader)}: expected ${HEADERS.join(', ')}`,
    );
  if (o.geoip === 'none' && o.geoipAsn !== undefined)
    throw new ModelsealError('INVALID_ARGUMENT', '--geoip-asn needs a country database: drop --geoip none');
  return {
    geoip: o.geoip === 'none' ? null : o.geoip,
    ...(o.geoipAsn !== undefined && { geoipAsn: o.geoipAsn }),
    geoipMaxAgeDays: positive('geoip-max-age', o.geoipMaxAge),
    trustedProxies: o.trustedProxy ?? [],
    forwardedHeader: o.forwardedHeader as ForwardedHeader,
  };
}

/** The service log: one line per failure that is not a log entry of its own, on stderr (never a body or a key). */
const serviceLog = (line: string) => process.stderr.write(`modelseal serve: ${line}\n`);
const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

async function serveAction(o: ServeFlags, cmd: Command): Promise<void> {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  if (!!o.tlsCert !== !!o.tlsKey)
    throw new ModelsealError('INVALID_ARGUMENT', 'give both --tls-cert and --tls-key, or neither');
  const rateLimits = { burst: positive('deny-burst', o.denyBurst), perSecond: positive('deny-rate', o.denyRate) };
  const summaryIntervalMs = positive('summary-interval', o.summaryInterval) * 1000;
  // originOfPrefix checks the URL first, so a malformed one is a usage error.
  const logPrefix =
    o.logUrl !== undefined && originOfPrefix(o.logUrl) ? new URL(o.logUrl).pathname.replace(/\/+$/, '') : undefined;
  const geo = geoOptions(o);
  const logSigner = o.logSigner !== undefined ? await signerFrom(g, o.logSigner, 'log') : undefined;
  const setup = await openReleaseService(dataDir(o), keysDir(g), {
    passphrase: passphraseSource(g),
    ...(logSigner ? { logSigner } : {}),
    skewSeconds: Number(o.skew),
    ...(o.pseudonymKey ? { pseudonymKey: o.pseudonymKey } : {}),
    ...(o.store ? { store: o.store } : {}),
    ...(o.retain !== undefined ? { retain: o.retain } : {}),
    onPolicyError: (e) =>
      serviceLog(`the edited policy files do not validate, the previous policy stays in force: ${errorText(e)}`),
    onPolicyChange: (s) => s.status === 'ok' && serviceLog(`policy set ${s.hash.slice(0, 16)}… in force`),
    onError: (what, e) => serviceLog(`${what}: ${errorText(e)}`),
    onListsError: (e) =>
      serviceLog(`the screening lists could not be reloaded, the previous ones stay in force: ${errorText(e)}`),
    onListsReload: (lists) => serviceLog(`screening lists in force: ${lists.join(', ') || 'none'}`),
    rateLimits,
    summaryIntervalMs,
    ...geo,
  });
  if (o.logUrl !== undefined && originOfPrefix(o.logUrl) !== setup.log.origin) {
    await setup.close();
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `--log-url ${o.logUrl} means the origin ${originOfPrefix(o.logUrl)}, but this log is ${setup.log.origin}; ` +
        "a log's origin cannot change once it has entries (make a new key store with `init --log-url` for a new log)",
    );
  }
  const tls = o.tlsCert && o.tlsKey ? { cert: await readFile(o.tlsCert), key: await readFile(o.tlsKey) } : undefined;
  const server = await startServer(setup.service, setup.log, {
    host: o.host,
    port: Number(o.port),
    onExchange: exchangeLogger(serviceLog),
    ...(tls ? { tls } : {}),
    ...(logPrefix ? { logPrefix } : {}),
  });
  printServing(g, o, setup, server.url, { rateLimits, summaryIntervalMs });
  logRetention(setup);
  await untilSignal();
  await server.close();
  await setup.close();
  say(g, 'stopped');
}

/** The service log's line for each exchange that is on no log entry of its own (serve's and gate's). */
export function exchangeLogger(line: (text: string) => void): (r: ExchangeRecord) => void {
  return (r) => {
    if (r.logged === 'service-log')
      line(`${r.id} ${r.ip} ${r.method} ${r.path} → ${r.status} ${r.reason ?? ''}${r.error ? ` (${r.error})` : ''}`);
  };
}

/** Resolves at the first SIGINT or SIGTERM. */
export function untilSignal(): Promise<void> {
  return new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

/** What the retention check found, on the service log: one line, and one per missing record (at most 50). */
function logRetention(setup: ReleaseServiceSetup): void {
  const r = setup.retention;
  if (!r) return;
  if (r.error) serviceLog(`retention ${r.period}: not checked: ${r.error}`);
  else if (r.complete)
    serviceLog(`retention ${r.period}: every record the log entries since ${r.since} rest on is kept`);
  else
    serviceLog(
      `retention ${r.period}: ${r.missing.length === 1 ? '1 record' : `${r.missing.length} records`} the log ` +
        `entries since ${r.since} rest on ${r.missing.length === 1 ? 'is' : 'are'} not kept`,
    );
  for (const m of r.missing.slice(0, 50)) serviceLog(`  ${m.kind} ${m.id} (entry ${m.entry}): ${m.problem}`);
  if (r.missing.length > 50) serviceLog(`  … and ${r.missing.length - 50} more: GET /v1/info lists them all`);
}

/** The --json object and the human banner of a started service. */
function printServing(
  g: GlobalOptions,
  o: ServeFlags,
  setup: ReleaseServiceSetup,
  url: string,
  limits: { rateLimits: { burst: number; perSecond: number }; summaryIntervalMs: number },
): void {
  const info = setup.service.info();
  const { engine } = setup.policy;
  warnStale(setup);
  emitJson(g, 'serve', {
    url,
    data: dataDir(o),
    ...info,
    entries: setup.log.size,
    policies: engine.policyIds,
    licenses: engine.licenses.map((l) => l.id),
    lists: setup.lists ? { inForce: [...setup.lists.screening.listIds], stale: setup.lists.stale() } : null,
    geoip: geoSummary(setup),
    trustedProxies: setup.service.trustedProxies,
  });
  say(g, `modelseal release service on ${url}`);
  const wrote = setup.createdPolicyFiles.length ? `; wrote default policy files to ${dataDir(o)}/policy` : '';
  say(g, `  data     ${dataDir(o)} (${setup.log.size} log entries${o.store ? ' in PostgreSQL' : ''})${wrote}`);
  say(g, `  log      ${info.origin}; verifier key ${info.logKey}${o.logSigner ? `; signed by ${o.logSigner}` : ''}`);
  say(
    g,
    `  policy   ${engine.policyIds.length} policies, ${engine.licenses.length} licenses, ` +
      `policy set ${info.policySet.slice(0, 16)}… (edits are picked up within a second)`,
  );
  sayPolicyUpgrade(g, engine);
  const { rateLimits: rl, summaryIntervalMs } = limits;
  say(
    g,
    `  limits   ${rl.burst} failing requests per source, then ${rl.perSecond}/s ` +
      `(429 beyond; summarised in the log every ${summaryIntervalMs / 1000} s)`,
  );
  printLists(g, setup);
  printGeo(g, setup);
  say(g, `  seal for it with --to release:${url}#<recipient>`);
}

/** The databases locating request sources, for --json (null: none). */
function geoSummary(setup: ReleaseServiceSetup) {
  const geo = setup.geo;
  if (!geo) return null;
  const db = (d: { path: string; digest: string; type: string; built: Date }) => ({
    path: d.path,
    digest: d.digest,
    type: d.type,
    built: d.built.toISOString(),
  });
  return {
    ...db(geo.country),
    ageDays: geo.ageDays,
    maxAgeDays: geo.maxAgeDays,
    stale: geo.stale,
    asn: geo.asn ? db(geo.asn) : null,
  };
}

/** The banner's screening line: the lists in force, or that there are none. */
function printLists(g: GlobalOptions, setup: ReleaseServiceSetup): void {
  const ids = setup.lists?.screening.listIds ?? [];
  if (ids.length === 0)
    say(g, '  lists    none imported: every recipient screens clear (`modelseal lists import`, docs/SCREENING.md)');
  else say(g, `  lists    ${ids.join(', ')} (imports are picked up within a second)`);
}

/** The warnings for stale lists and a stale geolocation database (whatever the output mode; before the --json line). */
function warnStale(setup: ReleaseServiceSetup): void {
  const stale = setup.lists?.stale() ?? [];
  if (stale.length)
    warn(
      `the screening lists ${stale.join(', ')} are past their maximum age: releases are denied ` +
        '(screening-list-stale) until a current list is imported (`modelseal lists import`)',
    );
  if ((setup.lists?.screening.listIds.length ?? 1) === 0)
    warn('no screening lists are imported: every recipient screens clear (`modelseal lists import`)');
  const geo = setup.geo;
  if (geo?.stale)
    warn(
      `the geolocation database ${geo.country.path} is ${geo.ageDays} days old, past --geoip-max-age ` +
        `${geo.maxAgeDays}: every log entry marks its location stale; install a newer one`,
    );
}

/** The banner's geofencing lines. */
function printGeo(g: GlobalOptions, setup: ReleaseServiceSetup): void {
  const geo = setup.geo;
  const proxies = setup.service.trustedProxies;
  say(
    g,
    `  proxies  ${proxies.length ? `${proxies.join(', ')} trusted (forwarding headers honoured)` : 'none trusted'}`,
  );
  if (!geo) {
    say(g, '  geoip    none: request sources are not located (every observed country is unknown)');
    return;
  }
  const built = geo.country.built.toISOString().slice(0, 10);
  say(g, `  geoip    ${geo.country.path}`);
  say(g, `           ${geo.country.digest}, built ${built}, ${geo.ageDays} days old (max ${geo.maxAgeDays})`);
  if (geo.asn) say(g, `  asn      ${geo.asn.path} (${geo.asn.digest})`);
}
