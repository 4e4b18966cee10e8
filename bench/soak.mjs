#!/usr/bin/env node
// npm run soak [-- --seconds S --rounds N --concurrency C --backend file|postgres --json]
//
// Keeps `modelseal serve` (a child process, loopback) under release load from many clients, in
// rounds: each round starts the service anew on the same data directory (a fresh process meets the
// JIT's optimise/deoptimise cycle again, which is where Node 20 and 22 died, see README.md,
// "Node.js"), drives `--seconds` of mixed requests (bench/load.mjs, SOAK_MIX), stops it with
// SIGTERM and audits the log. Prints releases/s per round and any death. Exits 1 on any death (an
// exit nobody asked for, a signal, a fatal error on stderr), any 5xx but a deliberate 503, an exit
// other than 0 on SIGTERM, or a log that does not audit clean. Default: 5 rounds of 60 s (file).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  auditLog,
  driveLoad,
  dropSchema,
  licensedTemplate,
  option,
  postgresStore,
  prepare,
  SOAK_MIX,
  startServe,
} from './load.mjs';

const opt = (name, def) => option('SOAK', name, def);
const seconds = Number(opt('seconds', 60));
const rounds = Number(opt('rounds', 5));
const concurrency = Number(opt('concurrency', 32));
const backend = String(opt('backend', 'file'));
const json = process.argv.includes('--json');
const log = (s) => json || process.stderr.write(s + '\n');
if (
  !(seconds > 0) ||
  !(Number.isInteger(rounds) && rounds > 0) ||
  !(Number.isInteger(concurrency) && concurrency > 0) ||
  !['file', 'postgres'].includes(backend)
) {
  console.error(
    'usage: node bench/soak.mjs [--seconds S] [--rounds N] [--concurrency C] [--backend file|postgres] [--json]',
  );
  process.exit(2);
}

const work = mkdtempSync(join(tmpdir(), 'modelseal-soak-'));
let service;
process.on('exit', () => {
  service?.child.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

const env = prepare(work);
const store = backend === 'postgres' ? postgresStore(log) : undefined;
const results = [];
let failed = false;
try {
  let template;
  for (let round = 1; round <= rounds; round++) {
    service = await startServe(env, { store });
    template ??= await licensedTemplate(env, service.url);
    log(
      `soak: round ${round}/${rounds}, ${backend} store, ${concurrency} clients for ${seconds} s ` +
        `against ${service.url}`,
    );
    const t0 = performance.now();
    const stats = await driveLoad({
      url: service.url,
      template,
      privateKey: env.privateKey,
      seconds,
      concurrency,
      mix: SOAK_MIX,
      dead: () => service.death(),
    });
    const elapsed = (performance.now() - t0) / 1000;
    const death = service.death() ?? (await service.stop());
    service = undefined;
    const audit = auditLog(env, store);
    const r = {
      round,
      seconds: elapsed,
      requests: stats.requests,
      releases: stats.allowed,
      releasesPerSecond: stats.allowed / elapsed,
      byStatus: stats.byStatus,
      deliberate503: stats.deliberate503,
      unexpected5xx: stats.unexpected5xx,
      noAnswer: stats.noAnswer,
      death,
      logEntries: audit.size,
      auditOk: audit.ok,
    };
    results.push(r);
    const bad = death || stats.unexpected5xx > 0 || !audit.ok;
    failed ||= Boolean(bad);
    log(
      `  ${r.releasesPerSecond.toFixed(0)} releases/s, ${r.requests} answers ${JSON.stringify(r.byStatus)}, ` +
        `${r.deliberate503} deliberate 503, no answer: ${JSON.stringify(r.noAnswer)}`,
    );
    log(
      `  service: ${death ?? 'alive, stopped cleanly'}; unexpected 5xx: ${stats.unexpected5xx}` +
        `${stats.unexpected5xx ? ` ${JSON.stringify(stats.unexpected5xxSamples.slice(0, 3))}` : ''}; ` +
        `log: ${audit.size} entries, audit ${audit.ok ? 'clean' : `FAILED ${audit.stderr}`}`,
    );
    if (bad) break;
  }
} finally {
  if (store) dropSchema(store);
}
const deaths = results.filter((r) => r.death).length;
const total = results.reduce((a, r) => a + r.releases, 0);
const time = results.reduce((a, r) => a + r.seconds, 0);
if (json)
  console.log(
    JSON.stringify({
      node: process.version,
      backend,
      concurrency,
      rounds: results,
      deaths,
      releasesPerSecond: total / time,
      ok: !failed,
    }),
  );
else
  console.log(
    `soak (${process.version}, ${backend}): ${results.length} of ${rounds} rounds, ${time.toFixed(0)} s, ${total} ` +
      `releases (${(total / time).toFixed(0)}/s), ${deaths} deaths: ${failed ? 'FAIL' : 'PASS'}`,
  );
process.exit(failed ? 1 : 0);
