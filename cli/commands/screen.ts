import { Option, type Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  ErrorCodes,
  LIST_FORMATS,
  ListScreening,
  listsStatus,
  ModelsealError,
  readActive,
  readListFiles,
  type ListFormat,
  type ScreeningQuery,
  type ScreeningResult,
  type ScreeningType,
} from '../../src/index.js';
import { CommandOutcome, emitJson, say, warn, type GlobalOptions } from '../util.js';
import { dataDir, DATA_HELP } from './policy.js';

const TYPES: ScreeningType[] = ['person', 'company', 'organization', 'vessel', 'any'];
const DOB = /^\d{4}(-\d{2}(-\d{2})?)?$/;
const COUNTRY = /^[A-Za-z]{2}$/;

interface ScreenFlags {
  data?: string;
  list?: string[];
  format: ListFormat | 'auto';
  name?: string;
  type?: ScreeningType;
  country: string[];
  dob?: string;
  id: string[];
  limit: string;
  batch?: string;
}

const bad = (message: string) => new ModelsealError('INVALID_ARGUMENT', message);
const collect = (value: string, previous: string[]) => [...previous, value];

/** A query checked as the matcher expects it; `where` names the option or batch line in errors. */
function checkQuery(q: ScreeningQuery, where: string): ScreeningQuery {
  if (typeof q.name !== 'string' || !q.name.trim()) throw bad(`${where}: a query needs a non-empty "name"`);
  if (q.type !== undefined && !TYPES.includes(q.type))
    throw bad(`${where}: type ${JSON.stringify(q.type)}: expected ${TYPES.join(', ')}`);
  if (q.countries !== undefined && !(Array.isArray(q.countries) && q.countries.every((c) => COUNTRY.test(c))))
    throw bad(`${where}: "countries" must be ISO 3166 alpha-2 codes such as ["DE"]`);
  if (q.dob !== undefined && !(typeof q.dob === 'string' && DOB.test(q.dob)))
    throw bad(`${where}: "dob" must be YYYY, YYYY-MM or YYYY-MM-DD`);
  if (q.ids !== undefined && !(Array.isArray(q.ids) && q.ids.every((i) => typeof i === 'string')))
    throw bad(`${where}: "ids" must be a list of strings`);
  return { ...q, ...(q.countries && { countries: q.countries.map((c) => c.toUpperCase()) }) };
}

/** The queries of a batch file, one JSON object a line: {"id", "name", "type", "countries", "dob", "ids"}. */
async function batchQueries(file: string): Promise<ScreeningQuery[]> {
  const text = await readFile(file, 'utf8').catch((e: unknown) => {
    throw new ModelsealError('IO', `cannot read --batch ${file}: ${(e as Error).message}`, { cause: e });
  });
  const queries: ScreeningQuery[] = [];
  for (const [i, line] of text.split('\n').entries()) {
    if (!line.trim()) continue;
    const where = `--batch ${file} line ${i + 1}`;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (cause) {
      throw new ModelsealError('INVALID_ARGUMENT', `${where}: not JSON (${(cause as Error).message})`, { cause });
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(`${where}: expected a JSON object`);
    const q = v as ScreeningQuery;
    if (q.id !== undefined && typeof q.id !== 'string') throw bad(`${where}: "id" must be a string`);
    queries.push(checkQuery({ ...q, id: q.id ?? String(i + 1) }, where));
  }
  return queries;
}

/** The queries the options ask: --batch, or one --name query. */
async function queriesOf(o: ScreenFlags): Promise<ScreeningQuery[]> {
  if ((o.batch === undefined) === (o.name === undefined))
    throw bad('give either --name <name> or --batch <queries.jsonl>');
  if (o.batch !== undefined) {
    if (o.type || o.country.length || o.dob || o.id.length)
      throw bad('--type, --country, --dob and --id go with --name; a --batch line carries its own');
    return batchQueries(resolve(o.batch));
  }
  const q: ScreeningQuery = {
    id: '1',
    name: o.name!,
    ...(o.type && { type: o.type }),
    ...(o.country.length && { countries: o.country }),
    ...(o.dob && { dob: o.dob }),
    ...(o.id.length && { ids: o.id }),
  };
  return [checkQuery(q, '--name')];
}

/** The lists to screen against: --list files read in memory (nothing written), or the data directory's active lists. */
async function screeningOf(o: ScreenFlags): Promise<{ screening: ListScreening; stale: string[] }> {
  if (o.list && o.data !== undefined) throw bad('give either --data <dir> or --list <file>..., not both');
  if (o.list) {
    const snapshot = await readListFiles(
      o.list.map((f) => resolve(f)),
      { format: o.format },
    );
    return { screening: ListScreening.of([snapshot]), stale: [] };
  }
  const data = dataDir(o);
  const stale = (await listsStatus(data)).filter((s) => s.stale).map((s) => s.source);
  return { screening: await ListScreening.load(data, await readActive(data)), stale };
}

/** One result for people: the decision, then each match with its score and why. */
function describe(r: ScreeningResult): string[] {
  const out = [`${r.id} ${JSON.stringify(r.query.name)}: ${r.decision.toUpperCase()}`];
  for (const m of r.matches) {
    const why = m.explanation.features.map((f) => `${f.feature} ${f.value.toFixed(2)}`).join(', ');
    out.push(
      `  ${m.score.toFixed(3)} ${m.decision.padEnd(6)} ${m.entity.name} (${m.entity.source} ${m.entity.id}, ` +
        `${m.entity.schema}): matched ${JSON.stringify(m.explanation.matched)} as ${m.explanation.nameKind}` +
        (why ? `; ${why}` : ''),
    );
  }
  return out;
}

async function runScreen(o: ScreenFlags, cmd: Command): Promise<void> {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  const limit = Number(o.limit);
  if (!/^\d+$/.test(o.limit) || limit < 1 || limit > 1000) throw bad(`--limit ${o.limit}: expected 1 to 1000`);
  const queries = await queriesOf(o);
  const { screening, stale } = await screeningOf(o);
  if (!screening.lists.length) warn('no screening lists: every query is clear (modelseal lists import, or --list)');
  for (const s of stale) warn(`list ${s} is stale: import a fresh copy (modelseal lists status)`);
  const results = queries.map((q) => screening.screen(q, limit));
  const decision = results.some((r) => r.decision === 'hit')
    ? 'hit'
    : results.some((r) => r.decision === 'review')
      ? 'review'
      : 'clear';
  const result = { decision, lists: screening.lists, stale, results };
  if (decision === 'clear') {
    emitJson(g, 'screen', result);
    for (const r of results) for (const line of describe(r)) say(g, line);
    return;
  }
  // Review or hit: the whole result still, with the error a caller checks (`ok` false, the code and exit status).
  const code = decision === 'hit' ? 'SCREENING_HIT' : 'SCREENING_REVIEW';
  const { exit, summary } = ErrorCodes[code];
  const flagged = results.filter((r) => r.decision !== 'clear').length;
  const message = `${summary}: ${flagged} of ${results.length} quer${results.length === 1 ? 'y' : 'ies'} ${decision}`;
  if (g.json) {
    const error = { code, exitCode: exit, message };
    process.stdout.write(JSON.stringify({ ok: false, command: 'screen', error, ...result }) + '\n');
  } else {
    for (const r of results) for (const line of describe(r)) say(g, line);
    process.stderr.write(`modelseal: error ${code}: ${message}\n`);
  }
  throw new CommandOutcome(exit);
}

/** `screen`: names against the screening lists, with explanations (docs/SCREENING.md). */
export function registerScreen(program: Command): void {
  program
    .command('screen')
    .description('screen a name (or a batch of queries) against the active lists of --data, or against --list files')
    .option('--data <dir>', DATA_HELP)
    .option('--list <file...>', 'list files to screen against, read in memory (nothing is imported or written)')
    .addOption(
      new Option('--format <format>', "the --list files' format").choices(['auto', ...LIST_FORMATS]).default('auto'),
    )
    .option('--name <name>', 'the name to screen, in any script')
    .addOption(new Option('--type <type>', 'what the name is').choices(TYPES))
    .option('--country <CC>', 'a country of the party (repeatable): a different one lowers a score', collect, [])
    .option('--dob <date>', 'date of birth or incorporation, YYYY[-MM[-DD]]')
    .option(
      '--id <value>',
      'an identifier (passport, registration, IMO number; repeatable): a match raises a score',
      collect,
      [],
    )
    .option('--batch <queries.jsonl>', 'one query a line: {"id", "name", "type", "countries", "dob", "ids"}')
    .option('--limit <n>', 'matches per query, best first', '10')
    .addHelpText(
      'after',
      '\nExit 0 when every query is clear; 16 (SCREENING_REVIEW) when one needs review and none is a hit; ' +
        '17 (SCREENING_HIT) when one is a hit. With --json the result object is printed on stdout in every case.',
    )
    .action(runScreen);
}
