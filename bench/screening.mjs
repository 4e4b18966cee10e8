// The screening matcher's bench (bench/README.md, "screening"): quality on the name-pairs benchmark
// (overall, per case group, and a 2-fold estimate), cross-script recall, and speed — one query
// against a 30,000-entity list, a 10,000-query batch including load, and a 1,000,000-entity list's
// memory (in a child process). Runs the built code: `npm run bench:screening`.
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { entities, queries, random } from './screening-data.mjs';
import { screeningEndToEnd } from './screening-e2e.mjs';
import { entity, parseCsv, quality, readPairs, runPairs } from './screening-quality.mjs';
import { readFileSync } from 'node:fs';

const match = await import('../dist/src/compliance/match/index.js');
const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : (process.env[`BENCH_${name.toUpperCase()}`] ?? fallback);
};
const pct = (x) => (100 * x).toFixed(1).padStart(5);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function qualityTable(pairsPath) {
  const results = runPairs(match, readPairs(pairsPath));
  console.log(`\nname pairs: ${pairsPath} (${results.length} pairs; flagged = own candidate among the matches)`);
  console.log('group              pairs  precision  recall     F1');
  const row = (label, q) =>
    console.log(
      `${label.padEnd(18)} ${String(q.n).padStart(5)}     ${pct(q.precision)}   ${pct(q.recall)}  ${pct(q.f1)}`,
    );
  row('all', quality(results));
  for (const g of [...new Set(results.map((r) => r.case_group))])
    row(g, quality(results.filter((r) => r.case_group === g)));
  // 2-fold: pick the review threshold (from the reported floor up) on one half, score the other.
  const rnd = random(19);
  const folds = [[], []];
  for (const r of results) folds[rnd() < 0.5 ? 0 : 1].push(r);
  const ths = Array.from({ length: 21 }, (_, i) => match.REVIEW_THRESHOLD + i * 0.01);
  const f1s = folds.map((test, k) => {
    const train = folds[1 - k];
    const best = ths.reduce((b, t) =>
      quality(train, (r) => r.score >= t).f1 > quality(train, (r) => r.score >= b).f1 ? t : b,
    );
    const q = quality(test, (r) => r.score >= best);
    const scored = `precision ${pct(q.precision)} recall ${pct(q.recall)} F1 ${pct(q.f1)}`;
    console.log(
      `2-fold ${k + 1}: threshold ${best.toFixed(2)} tuned on ${train.length}, on the other ${test.length}: ${scored}`,
    );
    return q.f1;
  });
  console.log(`2-fold F1 estimate: ${pct((f1s[0] + f1s[1]) / 2)}`);
}

const TYPE = { Person: 'person', Company: 'company', Organization: 'organization' };
function crossScript(path) {
  const cases = parseCsv(readFileSync(path, 'utf8'));
  const distractors = [...entities(2000, 7)];
  console.log(`\ncross-script: ${path} (${cases.length} listed names, 2,000 distractors)`);
  for (const [label, listField, queryField] of [
    ['native query, Latin list', 'latin', 'native'],
    ['Latin query, native list', 'native', 'latin'],
  ]) {
    const screener = match.buildScreener([
      { source: 'x', entities: [...cases.map((c) => entity(c.id, c.schema, c[listField])), ...distractors] },
    ]);
    const missed = [];
    const byScript = new Map();
    for (const c of cases) {
      const found = screener
        .screen({ name: c[queryField], type: TYPE[c.schema] })
        .matches.some((m) => m.entity.id === c.id);
      const s = byScript.get(c.script) ?? [0, 0];
      byScript.set(c.script, [s[0] + (found ? 1 : 0), s[1] + 1]);
      if (!found) missed.push(`${c[queryField]} (${c[listField]})`);
    }
    const found = cases.length - missed.length;
    console.log(
      `${label}: found ${found}/${cases.length} = ${pct(found / cases.length)}%   ` +
        [...byScript].map(([k, [f, n]]) => `${k} ${f}/${n}`).join(', '),
    );
    if (missed.length) console.log(`  missed: ${missed.join('; ')}`);
  }
}

/** Passes entities through, counting their names (names, aliases, weak aliases). */
function* counted(list, counter) {
  for (const e of list) {
    counter.names += e.names.length + e.aliases.length + e.weakAliases.length;
    yield e;
  }
}

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const seconds = (ms) => `${(ms / 1000).toFixed(2)} s`;

function speed(listSize, batchSize) {
  const qs = queries(batchSize, listSize);
  let [t0, c0] = [performance.now(), cpuMs()];
  const counter = { names: 0 };
  const screener = match.buildScreener([{ source: 'SYN', entities: counted(entities(listSize), counter) }]);
  screener.screen({ name: 'warm up' });
  const [load, loadCpu] = [performance.now() - t0, cpuMs() - c0];
  const times = [];
  for (const q of qs.slice(0, 2000)) {
    const t = performance.now();
    screener.screen(q);
    times.push(performance.now() - t);
  }
  const sorted = [...times].sort((a, b) => a - b);
  const p95 = sorted[Math.floor(times.length * 0.95)];
  console.log(`\nspeed: ${listSize.toLocaleString('en')}-entity list (${counter.names.toLocaleString('en')} names)`);
  console.log(`  load ${seconds(load)} (cpu ${seconds(loadCpu)})`);
  console.log(`  one query: median ${median(times).toFixed(2)} ms, p95 ${p95.toFixed(2)} ms (${times.length} queries)`);
  [t0, c0] = [performance.now(), cpuMs()];
  const batch = match.buildScreener([{ source: 'SYN', entities: entities(listSize) }]);
  let flagged = 0;
  for (const q of qs) flagged += batch.screen(q).decision === 'clear' ? 0 : 1;
  const [wall, cpu] = [performance.now() - t0, cpuMs() - c0];
  const n = qs.length.toLocaleString('en');
  console.log(`  batch of ${n} queries including load: ${seconds(wall)} (cpu ${seconds(cpu)}; ${flagged} not clear)`);
  console.log(
    `  machine load average while measuring: ${os.loadavg()[0].toFixed(1)} on ${os.availableParallelism()} cores`,
  );
}

function million(size) {
  const t0 = performance.now();
  const counter = { names: 0 };
  const screener = match.buildScreener([{ source: 'SYN', entities: counted(entities(size), counter) }]);
  const load = performance.now() - t0;
  const times = queries(200, size).map((q) => {
    const t = performance.now();
    screener.screen(q);
    return performance.now() - t;
  });
  const rss = process.resourceUsage().maxRSS * 1024;
  const names = counter.names;
  console.log(JSON.stringify({ size, names, loadSeconds: load / 1000, medianMs: median(times), maxRssBytes: rss }));
}

if (args.includes('--child-million')) million(Number(opt('million', 1_000_000)));
else {
  const only = opt('only', 'quality,cross,speed,memory,e2e').split(',');
  if (only.includes('quality')) qualityTable(opt('pairs', here('../../shared/screening/name-pairs-dev.csv')));
  if (only.includes('cross')) crossScript(here('./data/cross-script.csv'));
  if (only.includes('speed')) speed(Number(opt('list', 30_000)), Number(opt('batch', 10_000)));
  if (only.includes('memory')) {
    const child = spawnSync(
      process.execPath,
      [fileURLToPath(import.meta.url), '--child-million', '--million', opt('million', '1000000')],
      { encoding: 'utf8' },
    );
    if (child.status !== 0) throw new Error(`the 1M child failed: ${child.stderr}`);
    const r = JSON.parse(child.stdout.trim().split('\n').pop());
    const gib = (r.maxRssBytes / 2 ** 30).toFixed(2);
    console.log(
      `\nmemory: ${r.size.toLocaleString('en')}-entity list (${r.names.toLocaleString('en')} names), child process`,
    );
    console.log(
      `  load ${r.loadSeconds.toFixed(1)} s, one query median ${r.medianMs.toFixed(2)} ms, peak RSS ${gib} GiB`,
    );
  }
  if (only.includes('e2e')) await screeningEndToEnd(Number(opt('million', 1_000_000)), 1000);
}
