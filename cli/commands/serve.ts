import { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { ModelsealError, openReleaseService, startServer } from '../../src/index.js';
import { emitJson, keysDir, passphraseSource, say, type GlobalOptions } from '../util.js';
import { dataDir, DATA_HELP } from './policy.js';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the key-release service: policy decisions (Cedar), a transparency log written before any key leaves, and the log read side (C2SP tlog-tiles)')
    .option('--data <dir>', DATA_HELP)
    .option('--store <postgres-url>', 'keep the log, nonces and release counts in PostgreSQL (postgres://user@host:port/db[?schema=name]), shared by several serve replicas; default: <data>/log')
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--port <n>', 'port to listen on (0: any free port)', '7411')
    .option('--tls-cert <pem>', 'serve https with this certificate (with --tls-key)')
    .option('--tls-key <pem>', 'the private key of --tls-cert')
    .option('--skew <seconds>', "accepted difference between a request's time and this server's clock", '300')
    .option('--pseudonym-key <file>', 'log recipient names and source addresses as keyed hashes (HMAC-SHA-256) under this key; created (mode 0600) when missing. Keep it: audit list needs it to find a recipient')
    .addHelpText(
      'after',
      `
With no flags: loopback only, data in ./modelseal-data, keys from the key store (./keys): its log.key
signs checkpoints and its x25519 identity is the service's own key. Default policy files are written
to <data>/policy on first start; edit them and check with \`modelseal policy check\`.

API (docs/API.md): GET /v1/info, POST /v1/release, GET /checkpoint, GET /tile/<L>/<N>, GET /tile/entries/<N>,
GET /v1/checkpoints (every stored checkpoint, for \`audit verify --server\`).
Stop with Ctrl-C: pending log appends finish first.`,
    )
    .action(async (o: { data?: string; host: string; port: string; tlsCert?: string; tlsKey?: string; skew: string; pseudonymKey?: string; store?: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      if (!!o.tlsCert !== !!o.tlsKey) throw new ModelsealError('INVALID_ARGUMENT', 'give both --tls-cert and --tls-key, or neither');
      const setup = await openReleaseService(dataDir(o), keysDir(g), {
        passphrase: passphraseSource(g),
        skewSeconds: Number(o.skew),
        ...(o.pseudonymKey ? { pseudonymKey: o.pseudonymKey } : {}),
        ...(o.store ? { store: o.store } : {}),
        onPolicyError: (e) => process.stderr.write(`modelseal serve: the edited policy files do not validate, the previous policy stays in force: ${e instanceof Error ? e.message : String(e)}\n`),
      });
      const tls = o.tlsCert && o.tlsKey ? { cert: await readFile(o.tlsCert), key: await readFile(o.tlsKey) } : undefined;
      const server = await startServer(setup.service, setup.log, { host: o.host, port: Number(o.port), ...(tls ? { tls } : {}) });
      const info = setup.service.info();
      emitJson(g, 'serve', { url: server.url, data: dataDir(o), ...info, entries: setup.log.size, policies: setup.policy.engine.policyIds, licenses: setup.policy.engine.licenses.map((l) => l.id) });
      say(g, `modelseal release service on ${server.url}`);
      say(g, `  data     ${dataDir(o)} (${setup.log.size} log entries${o.store ? ' in PostgreSQL' : ''})${setup.createdPolicyFiles.length ? `; wrote default policy files to ${dataDir(o)}/policy` : ''}`);
      say(g, `  log      ${info.origin}; verifier key ${info.logKey}`);
      say(g, `  policy   ${setup.policy.engine.policyIds.length} policies, ${setup.policy.engine.licenses.length} licenses, policy set ${info.policySet.slice(0, 16)}… (edits are picked up within a second)`);
      say(g, `  seal for it with --to release:${server.url}#<recipient>`);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await server.close();
      await setup.close();
      say(g, 'stopped');
    });
}
