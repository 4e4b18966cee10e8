// The gateway of `npm run bench:gate` through its library entry, as `modelseal gate` assembles it:
// the release service over the data directory (its log, policy, recipients), the gateway
// (src/gate/open.ts `openGate`: API keys, quota file, extraction monitor, Infer decisions) on the
// service's listener. Prints {"url"} on its first line, like `modelseal serve --json`; SIGTERM
// closes it. Used until the CLI's `gate` command is merged, and with BENCH_GATE_LIBRARY=1 after.
//   node bench/gate-server.mjs <data> <keys> <upstream URL> <model> <package>
import { join } from 'node:path';
import { ROOT } from './load.mjs';

const [data, keys, upstream, model, pkg] = process.argv.slice(2);
const lib = async (path) => import(join(ROOT, 'dist/src', path));
const { openReleaseService } = await lib('server/setup.js');
const { startServer } = await lib('server/http.js');
const { openGate } = await lib('gate/open.js');
const { createExtractionMonitor } = await lib('gate/monitor/index.js');

const onError = (what, e) => process.stderr.write(`gate: ${what}: ${e?.message ?? e}\n`);
// BENCH_GATE_COMMIT_MS: the log's least time between commits (default the log's own, 15 ms), to see its share.
const commit = process.env.BENCH_GATE_COMMIT_MS;
const setup = await openReleaseService(data, keys, {
  geoip: null,
  ...(commit !== undefined ? { commitIntervalMs: Number(commit) } : {}),
});
const gate = await openGate(data, setup, {
  upstream,
  model,
  package: pkg,
  monitor: createExtractionMonitor(),
  onError,
});
const server = await startServer(setup.service, setup.log, { port: 0, routes: gate.gateway.routes });
console.log(JSON.stringify({ url: server.url }));
process.on('SIGTERM', async () => {
  await server.close();
  await gate.close();
  await setup.close();
  process.exit(0);
});
