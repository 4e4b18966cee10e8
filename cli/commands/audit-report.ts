/**
 * `audit report`: a log's figures over a period as one self-contained HTML page (-o), and as
 * report.json (--json, the "report" field). The log is verified first; a log that does not verify
 * still gets its report, marked unverified, and the command then exits 12. docs/REPORT.md.
 */
import type { Command } from 'commander';
import {
  buildReport,
  ErrorCodes,
  ModelsealError,
  queryEvents,
  renderReportHtml,
  writeFileAtomic,
  type AuditReport,
  type LogSource,
  type NoteVerifier,
  type ReportData,
} from '../../src/index.js';
import { CommandOutcome, emitJson, removeStaleAt, say, type GlobalOptions } from '../util.js';
import { LOG_KEY_HELP, logKey, logOptions, timeOption, verifyLog, withLog, type LogFlags } from './log-flags.js';

interface ReportFlags extends LogFlags {
  logKey?: string;
  since?: string;
  until?: string;
  output?: string;
  force?: boolean;
}

/** `audit report`'s flags and help. */
export function registerAuditReport(audit: Command): void {
  const report = audit
    .command('report')
    .description(
      'one self-contained HTML page of the log over a period: releases and denials over time, by destination and ' +
        'country, by reason, per recipient and model, lists and policies in force, traces, log health',
    );
  logOptions(report)
    .option('--log-key <key|file>', LOG_KEY_HELP)
    .option('--since <time>', 'only entries from this time on (ISO 8601)')
    .option('--until <time>', 'only entries before this time (ISO 8601)')
    .option('-o, --output <file>', 'the HTML page to write ("-": stdout); needed unless --json')
    .option('--force', 'replace the output if it exists')
    .addHelpText(
      'after',
      `
The whole log is verified first (as \`audit verify\` does); the page says whether it verified, in
large letters. A log that does not verify still gets its report, marked unverified, written to -o:
then the command exits 12 (LOG_INVALID). With --json: { ok, command, output, report }, where
"report" is report.json (docs/REPORT.md), printed whether the log verified or not.

The page has no script and loads nothing (no network); it prints to PDF one section per page.

Examples:
  modelseal audit report --log modelseal-data/log --since 2026-01-01 --until 2027-01-01 -o report-2026.html
  modelseal --json audit report --log http://127.0.0.1:7411 | jq .report > report.json`,
    )
    .action(auditReport);
}

/** The report of the log `src` over [since, until), with the audit's verdict. */
async function reportOf(
  g: GlobalOptions,
  src: LogSource,
  verifier: NoteVerifier,
  period: { since?: number; until?: number },
): Promise<{ report: ReportData; audit: AuditReport }> {
  const audit = await verifyLog(g, src, verifier);
  const { entries } = await queryEvents(src.store, period);
  const iso = (k: 'since' | 'until') => {
    const t = period[k];
    return t === undefined ? {} : { [k]: new Date(t).toISOString() };
  };
  const report = buildReport({
    entries,
    log: {
      origin: audit.origin,
      size: src.store.size,
      checkpoint: audit.latest ?? null,
      verified: audit.ok,
      ...(audit.problem ? { problem: audit.problem.message } : {}),
    },
    period: { ...iso('since'), ...iso('until') },
    generated: new Date().toISOString(),
  });
  return { report, audit };
}

async function auditReport(o: ReportFlags, cmd: Command): Promise<void> {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  if (o.output === undefined && !g.json)
    throw new ModelsealError('INVALID_ARGUMENT', 'give -o report.html (or --json for report.json on stdout)');
  if (o.output === '-' && g.json)
    throw new ModelsealError('INVALID_ARGUMENT', '-o - and --json would both write to stdout: give -o a file name');
  const since = timeOption('since', o.since);
  const until = timeOption('until', o.until);
  const verifier = await logKey(g, o.logKey);
  const period = { ...(since !== undefined ? { since } : {}), ...(until !== undefined ? { until } : {}) };
  const { report, audit, name } = await withLog(o, async (src) => ({
    ...(await reportOf(g, src, verifier, period)),
    name: src.name,
  }));
  const output = o.output === undefined || o.output === '-' ? null : o.output;
  const html = renderReportHtml(report);
  if (o.output === '-') process.stdout.write(html);
  else if (output !== null) {
    await removeStaleAt(output);
    await writeFileAtomic(output, html, { overwrite: o.force ?? false });
  }
  const t = report.totals;
  const where = output !== null ? `${output}: ` : '';
  const summary = `${t.entries} entries, ${t.allowed} allowed, ${t.denied} denied, ${t.exports} exports`;
  if (audit.ok) {
    emitJson(g, 'audit report', { output, report });
    say(g, `${where}report of ${report.log.origin} (log verified): ${summary}`);
    return;
  }
  // The report is written, marked unverified; the command still fails as `audit verify` would.
  const { exit } = ErrorCodes.LOG_INVALID;
  const message = `${name}: ${audit.problem!.message}; the report says the log did not verify`;
  if (g.json) {
    const error = { code: 'LOG_INVALID', exitCode: exit, message };
    process.stdout.write(JSON.stringify({ ok: false, command: 'audit report', error, output, report }) + '\n');
  } else {
    say(g, `${where}report of ${report.log.origin} (LOG NOT VERIFIED): ${summary}`);
    process.stderr.write(`modelseal: error LOG_INVALID: ${message}\n`);
  }
  throw new CommandOutcome(exit);
}
