// The screening path as an operator runs it, through the built CLI (bench/README.md, "screening"):
// a FollowTheMoney file of N synthetic entities (default 1,000,000) imported with `lists import`,
// then `screen --data` loading the snapshot and screening a batch; wall time and peak RSS of each
// command (GNU time). `npm run bench:screening -- --only e2e` or `node bench/screening-e2e.mjs`.
import { spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { entities, queries } from './screening-data.mjs';

const BIN = fileURLToPath(new URL('../dist/cli/modelseal.bundle.mjs', import.meta.url));
const TIME = '/usr/bin/time';

/** Writes `count` entities as FtM JSON lines; resolves when the file is complete. */
async function writeFtm(path, count) {
  const out = createWriteStream(path);
  for (const e of entities(count)) {
    const properties = { name: e.names, alias: e.aliases, country: e.countries.map((c) => c.toLowerCase()) };
    if (e.weakAliases.length) properties.weakAlias = e.weakAliases;
    if (e.dob.length) properties.birthDate = e.dob;
    if (e.ids.length) properties.registrationNumber = e.ids;
    const line = JSON.stringify({ id: e.id, schema: e.schema, properties }) + '\n';
    if (!out.write(line)) await new Promise((r) => out.once('drain', r));
  }
  await new Promise((r, j) => out.end((e) => (e ? j(e) : r())));
}

/** Runs the CLI under GNU time: exit code, wall seconds, peak RSS in bytes. */
function timed(args) {
  const t0 = performance.now();
  const r = spawnSync(TIME, ['-f', '%M', process.execPath, BIN, ...args], { encoding: 'utf8', maxBuffer: 1 << 28 });
  const wall = (performance.now() - t0) / 1000;
  const kib = Number(r.stderr.trim().split('\n').pop());
  return { code: r.status, wall, rss: kib * 1024, stderr: r.stderr };
}

export async function screeningEndToEnd(count = 1_000_000, batch = 1_000) {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: npm run build`);
  if (!existsSync(TIME)) throw new Error(`${TIME} is missing: apt-get install time`);
  const dir = mkdtempSync(join(tmpdir(), 'modelseal-bench-screening-'));
  try {
    const file = join(dir, 'list.ftm.jsonl');
    await writeFtm(file, count);
    const qs = join(dir, 'queries.jsonl');
    writeFileSync(
      qs,
      queries(batch, count)
        .map((q) => JSON.stringify(q))
        .join('\n') + '\n',
    );
    const data = join(dir, 'data');
    const gib = (b) => `${(b / 2 ** 30).toFixed(2)} GiB`;
    console.log(`\nend to end (built CLI): ${count.toLocaleString('en')} FtM entities`);
    const imp = timed(['lists', 'import', file, '--data', data, '--source', 'syn']);
    if (imp.code !== 0) throw new Error(`lists import failed: ${imp.stderr}`);
    console.log(`  lists import: ${imp.wall.toFixed(1)} s, peak RSS ${gib(imp.rss)}`);
    const one = timed(['--json', 'screen', '--data', data, '--name', 'Ivan Petrov']);
    if (one.code === null || one.code > 17) throw new Error(`screen failed: ${one.stderr}`);
    console.log(`  screen --data, one query including load: ${one.wall.toFixed(1)} s, peak RSS ${gib(one.rss)}`);
    const many = timed(['--json', 'screen', '--data', data, '--batch', qs]);
    if (many.code === null || many.code > 17) throw new Error(`screen --batch failed: ${many.stderr}`);
    console.log(
      `  screen --data --batch ${batch.toLocaleString('en')} queries including load: ${many.wall.toFixed(1)} s, ` +
        `peak RSS ${gib(many.rss)}`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url))
  await screeningEndToEnd(Number(process.argv[2] ?? 1_000_000), Number(process.argv[3] ?? 1000));
