import type { Command } from 'commander';
import {
  EVENT_DECISIONS,
  EVENT_TYPES,
  findByRequestId,
  loadPseudonymizer,
  ModelsealError,
  openNote,
  queryEvents,
  receiptFor,
  oneOf,
  SCREENING_DECISIONS,
  verifyProof,
  type EventFilter,
  type IndexedEvent,
} from '../../src/index.js';
import { printCsv, printTable, row } from './audit-rows.js';
import { registerImportCloudTrail } from './audit-cloudtrail.js';
import { registerAuditExport } from './audit-export.js';
import { registerAuditReport } from './audit-report.js';
import {
  LOG_KEY_HELP,
  logKey,
  logOptions,
  requiredLog,
  countries,
  timeOption,
  verifyLog,
  withLog,
  LOG_HELP,
  type LogFlags,
} from './log-flags.js';
import { collect, emitJson, say, type GlobalOptions } from '../util.js';

// The log flags live in log-flags.ts (audit report reads them too); commands importing them from here still can.
export { LOG_KEY_HELP, logFlag, logKey, logOptions, withLog, type LogFlags } from './log-flags.js';

interface ListFilters {
  artifact?: string;
  recipient?: string;
  org?: string;
  country?: string;
  model?: string;
  decision?: string;
  type?: string;
  license: string[];
  destination: string[];
  nationality: string[];
  observedCountry: string[];
  screening: string[];
  since?: string;
  until?: string;
}

/** The `audit list` filter flags, checked, as the library's event filter. */
async function listFilter(f: ListFilters & { pseudonymKey?: string }): Promise<EventFilter> {
  const pseudonyms = f.pseudonymKey ? await loadPseudonymizer(f.pseudonymKey) : undefined;
  if (f.decision && !EVENT_DECISIONS.includes(f.decision))
    throw new ModelsealError('INVALID_ARGUMENT', `--decision: expected ${oneOf(EVENT_DECISIONS)}`);
  if (f.type && !EVENT_TYPES.includes(f.type))
    throw new ModelsealError('INVALID_ARGUMENT', `--type: expected ${oneOf(EVENT_TYPES)}`);
  const screening = f.screening.flatMap((v) => v.split(',')).map((v) => v.trim());
  const badScreening = screening.find((v) => !SCREENING_DECISIONS.includes(v));
  if (badScreening !== undefined)
    throw new ModelsealError('INVALID_ARGUMENT', `--screening ${badScreening}: expected ${oneOf(SCREENING_DECISIONS)}`);
  const since = timeOption('since', f.since);
  const until = timeOption('until', f.until);
  const { artifact, recipient, org, country, model } = f;
  const text = { artifact, recipient, org, country, model };
  const lists = {
    license: f.license,
    destination: countries('destination', f.destination),
    nationality: countries('nationality', f.nationality),
    observedCountry: countries('observed-country', f.observedCountry),
    screening: screening as ('clear' | 'review' | 'hit')[],
  };
  return {
    ...Object.fromEntries(Object.entries(text).filter(([, v]) => v)),
    ...Object.fromEntries(Object.entries(lists).filter(([, v]) => v.length > 0)),
    ...(f.decision ? { decision: f.decision as EventFilter['decision'] } : {}),
    ...(f.type ? { type: f.type as EventFilter['type'] } : {}),
    ...(since !== undefined ? { since } : {}),
    ...(until !== undefined ? { until } : {}),
    ...(pseudonyms ? { pseudonyms } : {}),
  };
}

function registerAuditVerify(audit: Command): void {
  const verify = audit
    .command('verify')
    .description(
      'recompute the whole log from its entries; check every checkpoint signature and that each checkpoint ' +
        'is a prefix of the same tree',
    );
  logOptions(verify)
    .option('--log-key <key|file>', LOG_KEY_HELP)
    .addHelpText(
      'after',
      `
Reports the first problem: an entry changed after it was logged, a stored hash changed, a checkpoint
not signed by the log, a log that shrank, a checkpoint that does not match the entries, or gateway
entries that do not pair (a settle with no admit of its call, or naming another recipient or model; a
call admitted or settled twice). Exit 12 then. Allowed calls never settled are reported as open.
A store is read as of its latest checkpoint, so a running server may go on appending meanwhile.
Over HTTP (--log <url>) there are no stored hashes to compare: the tree is recomputed from the
entry bundles and held against every checkpoint the server stored.`,
    )
    .action(auditVerify);
}

async function auditVerify(o: LogFlags & { logKey?: string }, cmd: Command): Promise<void> {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  const verifier = await logKey(g, o.logKey);
  await withLog(o, async (src) => {
    const { name } = src;
    const r = await verifyLog(g, src, verifier);
    if (!r.ok) throw new ModelsealError('LOG_INVALID', `${name}: ${r.problem!.message}`, { details: { ...r } });
    emitJson(g, 'audit verify', r);
    const latest = r.latest ? `, latest root ${r.latest.root}` : '';
    say(g, `log ${r.origin} verified: ${r.size} entries, ${r.checkpoints} checkpoint(s)${latest}`);
    const c = r.inference;
    if (!c) return;
    say(g, `inference: ${c.admitted} call(s) allowed, ${c.denied} denied, ${c.settled} settled, ${c.open} open`);
    // Open calls are in flight, or the gateway stopped before settling them: worth a look, not a failure.
    for (const o of c.openCalls) say(g, `  open: call ${o.id} admitted at entry ${o.index}, never settled`);
    if (c.open > c.openCalls.length) say(g, `  … and ${c.open - c.openCalls.length} more open call(s)`);
  });
}

function registerAuditList(audit: Command): void {
  const list = audit
    .command('list')
    .description('list the exports (seal), key releases and inference calls (allowed and denied) in the log, filtered');
  logOptions(list)
    .option('--log-key <key|file>', LOG_KEY_HELP)
    .option(
      '--artifact <digest>',
      'only this model (sha256:… root digest), its fingerprinted copies included (releases name the model)',
    )
    .option('--recipient <name>', 'only this recipient (with --pseudonym-key, also where it was logged as a pseudonym)')
    .option('--org <name>', 'only recipients of this organisation (release and inference events; case-insensitive)')
    .option(
      '--country <code>',
      'only recipients registered in this country (ISO 3166 alpha-2; release and inference events)',
    )
    .option('--model <name>', 'only inference calls to this served model (`gate --model`)')
    .option(
      '--decision <allow|deny>',
      'only allowed or only denied (exports count as allowed; inference settles as neither)',
    )
    .option(
      '--type <type>',
      'only packages made (export), key-release requests (release), summaries of requests refused by the rate ' +
        'limits (denials), screening-override, kms-grant, trace, or inference calls admitted or refused ' +
        '(infer-admit) and settled (infer-settle)',
    )
    .option('--license <id>', 'only under this license (repeatable: any of them)', collect, [])
    .option(
      '--destination <CC>',
      'only releases to this declared destination (ISO 3166 alpha-2; repeatable or comma-separated: any of them)',
      collect,
      [],
    )
    .option(
      '--nationality <CC>',
      'only releases to a recipient holding this nationality or citizenship (repeatable: any of them)',
      collect,
      [],
    )
    .option(
      '--observed-country <CC>',
      'only releases whose request came from this country, as the service located it (repeatable: any of them)',
      collect,
      [],
    )
    .option(
      '--screening <clear|review|hit>',
      'only releases with this screening decision (repeatable: any of them)',
      collect,
      [],
    )
    .option('--since <time>', 'only from this time on (ISO 8601)')
    .option('--until <time>', 'only before this time (ISO 8601)')
    .option('--pseudonym-key <file>', "the service's pseudonym key, to match --recipient against logged pseudonyms")
    .option('--csv', 'print CSV (RFC 4180, with a header row)')
    .addHelpText(
      'after',
      `
The latest checkpoint's signature is checked; the entries are listed as stored. To prove they were
never rewritten, run \`modelseal audit verify\` on the same log. With --json: { entries: [...] },
each entry the logged event plus its index.

Examples:
  modelseal audit list --log modelseal-data/log --decision deny --since 2026-11-01
  modelseal audit list --log http://127.0.0.1:7411 --country DE --csv > releases.csv
  modelseal audit list --log modelseal-data/log --nationality IR --nationality CU --screening review

--destination, --nationality, --observed-country and --screening match release events and inference
admits only, and only entries that record the field: entries logged before it existed match none of them.
An inference settle entry matches the filters on what its admit entry records (--artifact, --org,
--country, --license and the four above) when its admit entry does.`,
    )
    .action(auditList);
}

async function auditList(
  o: LogFlags & ListFilters & { logKey?: string; pseudonymKey?: string; csv?: boolean },
  cmd: Command,
): Promise<void> {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  const verifier = await logKey(g, o.logKey);
  const filter = await listFilter(o);
  await withLog(o, async ({ store }) => {
    if (store.checkpoint !== null) openNote(store.checkpoint, [verifier]);
    const { entries, otherEntries } = await queryEvents(store, filter);
    if (g.json) {
      emitJson(g, 'audit list', {
        size: store.size,
        entries: entries.map(({ index, event }: IndexedEvent) => ({ index, ...event })),
        otherEntries,
      });
      return;
    }
    const rows = entries.map(({ index, event }) => row(index, event));
    if (o.csv) {
      printCsv(rows);
      return;
    }
    printTable(rows);
    const other = otherEntries ? ` (${otherEntries} not modelseal events)` : '';
    say(g, `${entries.length} of ${store.size} entries${other}`);
  });
}

function registerAuditProof(audit: Command): void {
  const proof = audit
    .command('proof')
    .description(
      'print the receipt (C2SP tlog-proof, carrying the entry) of one log entry against the latest checkpoint',
    )
    .argument(
      '<entry>',
      'the entry index (as `seal --log` reports it), a release request id (32 hex digits, as `open --server` ' +
        "and the service report it) or an inference call id (the gateway's x-request-id)",
    );
  logOptions(proof, LOG_HELP, true)
    .option('--log-key <key|file>', LOG_KEY_HELP)
    .addHelpText(
      'after',
      '\nThe receipt goes to stdout (with --json, as the "proof" field); ' +
        'check it anywhere with `modelseal receipt verify`.',
    )
    .action(auditProof);
}

async function auditProof(which: string, o: LogFlags & { logKey?: string }, cmd: Command): Promise<void> {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  const byIndex = /^(0|[1-9][0-9]*)$/.test(which);
  if (!byIndex && !/^[0-9a-f]{32}$/.test(which))
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `<entry> ${JSON.stringify(which)}: expected an entry number or a request id (32 hex digits)`,
    );
  if (requiredLog(o).kind === 'service')
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      'audit proof reads the log store (--log <dir|postgres-url>): a log read over HTTP has no stored hashes ' +
        'to prove from',
    );
  const verifier = await logKey(g, o.logKey);
  await withLog(o, async ({ store, name }) => {
    const n = byIndex ? Number(which) : await findByRequestId(store, which);
    if (n === undefined)
      throw new ModelsealError(
        'INVALID_ARGUMENT',
        `no request or inference call ${which} in the log ${name} (${store.size} entries)`,
      );
    const r = await receiptFor(store, n);
    verifyProof(r.proof, undefined, verifier); // never hand out a proof that does not check
    if (g.json) emitJson(g, 'audit proof', { index: r.index, proof: r.proof });
    else process.stdout.write(r.proof);
  });
}

/** `audit verify | list | proof`. */
export function registerAudit(program: Command): void {
  const audit = program
    .command('audit')
    .description('check a transparency log: that it was never rewritten, and what it holds');
  registerAuditVerify(audit);
  registerAuditList(audit);
  registerAuditProof(audit);
  registerImportCloudTrail(audit);
  registerAuditReport(audit);
  registerAuditExport(audit);
}
