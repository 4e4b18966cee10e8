/**
 * `audit list`'s rows: one per log entry, as CSV (RFC 4180, every column) or as a table for people
 * (the columns that fit a terminal). docs/LOG.md.
 */
import type {
  DenialsEvent,
  InferAdmitEvent,
  InferSettleEvent,
  KmsGrantEvent,
  LogEvent,
  ScreeningOverrideEvent,
} from '../../src/index.js';

const CSV_COLUMNS = [
  'index',
  'time',
  'type',
  'decision',
  'reason',
  'recipient',
  'org',
  'country',
  'certificate',
  'destination',
  'artifact',
  'package',
  'license',
  'policies',
  'ip',
  'request',
  'model',
  'nationalities',
  'observed',
  'screening',
  // Inference calls through the gateway (docs/LOG.md, "Inference"); empty for every other entry.
  'endpoint',
  'outcome',
  'prompt_tokens',
  'completion_tokens',
  'estimated',
  'flops',
  'duration_ms',
  'risk',
] as const;

/** "12 requests refused (rate-limited): 9 malformed-json, 3 bad-signature". */
function denialsReason(e: DenialsEvent): string {
  const parts = Object.entries(e.reasons)
    .sort(([a, x], [b, y]) => y - x || (a < b ? -1 : 1))
    .map(([reason, n]) => `${n} ${reason}`);
  return `${e.count} requests refused (rate-limited) ${e.since} to ${e.until}: ${parts.join(', ')}`;
}

/** The columns of one entry, as text (empty where the entry has no such field). */
export function row(index: number, e: LogEvent): Record<(typeof CSV_COLUMNS)[number], string> {
  if (e.type === 'denials') return { ...allowedRow(index, e), decision: 'deny', reason: denialsReason(e), ip: e.ip };
  if (e.type === 'screening-override') return overrideRow(index, e);
  if (e.type === 'kms-grant') return grantRow(index, e);
  if (e.type === 'trace')
    return {
      ...allowedRow(index, e),
      decision: '',
      reason: e.accused.length ? `traced to ${e.accused.map((a) => a.recipient).join(' ')}` : 'traced: nobody accused',
      artifact: e.original,
    };
  if (e.type === 'infer-admit') return admitRow(index, e);
  if (e.type === 'infer-settle') return settleRow(index, e);
  const r = e.type === 'release' ? e : null;
  return {
    ...allowedRow(index, e),
    index: String(index),
    time: e.time,
    type: e.type,
    decision: r ? r.decision : 'allow',
    reason: r ? (r.path ? `${r.path}: ${r.reason}` : r.reason) : 'sealed',
    recipient: e.recipient ?? '',
    org: r?.org ?? '',
    country: r?.country ?? '',
    certificate: r?.certificate ?? '',
    destination: r?.destination ?? '',
    artifact: e.artifact ?? '',
    package: e.package ?? '',
    license: e.license ?? '',
    policies: r ? r.policies.join(' ') : '',
    ip: r?.ip ?? '',
    request: r?.request ?? '',
    model: r?.model ?? '',
    nationalities: r?.nationalities?.join(' ') ?? '',
    observed: r?.observed?.country ?? '',
    screening: r?.screening?.decision ?? '',
  };
}

/** A row with every column empty but the entry's index, time and type, decided 'allow'. */
function allowedRow(index: number, e: LogEvent): ReturnType<typeof row> {
  return {
    ...(Object.fromEntries(CSV_COLUMNS.map((c) => [c, ''])) as ReturnType<typeof row>),
    index: String(index),
    time: e.time,
    type: e.type,
    decision: 'allow',
  };
}

/**
 * An inference call as the gateway admitted or refused it: who, from where, under which license, the
 * served model (name and digest), the call's id in the request column, what was reserved in the reason.
 */
function admitRow(index: number, e: InferAdmitEvent): ReturnType<typeof row> {
  const reserved = e.reserved ? ` (reserved ${e.reserved.tokens} tokens)` : '';
  return {
    ...allowedRow(index, e),
    decision: e.decision,
    reason: `${e.reason}${reserved}`,
    recipient: e.recipient ?? '',
    org: e.org ?? '',
    country: e.country ?? '',
    certificate: e.certificate ?? '',
    destination: e.destination ?? '',
    artifact: e.artifact ?? '',
    license: e.license ?? '',
    policies: e.policies.join(' '),
    ip: e.ip,
    request: e.id,
    model: e.model,
    nationalities: e.nationalities?.join(' ') ?? '',
    observed: e.observed?.country ?? '',
    screening: e.screening?.decision ?? '',
    endpoint: e.endpoint,
    prompt_tokens: e.features ? String(e.features.promptTokens) : '',
    risk: String(e.risk),
  };
}

/** How an admitted call ended: decides nothing; its outcome, status and admit entry in the reason column. */
function settleRow(index: number, e: InferSettleEvent): ReturnType<typeof row> {
  return {
    ...allowedRow(index, e),
    decision: '',
    reason: `${e.outcome}: HTTP ${e.status} (admitted at entry ${e.admit})`,
    recipient: e.recipient ?? '',
    request: e.id,
    model: e.model,
    outcome: e.outcome,
    prompt_tokens: String(e.tokens.prompt),
    completion_tokens: String(e.tokens.completion),
    estimated: String(e.estimated),
    flops: e.flops,
    duration_ms: String(e.durationMs),
  };
}

/** An operator's screening override: the party, and in the reason column what was overridden, why and by whom. */
function overrideRow(index: number, e: ScreeningOverrideEvent): ReturnType<typeof row> {
  const b = e.screening.best;
  const best = b ? ` ${b.name} (${b.source} ${b.score})` : '';
  return {
    ...allowedRow(index, e),
    reason: `${e.screening.decision}${best} overridden by ${e.decidedBy}: ${e.reason}`,
    recipient: e.recipient,
    org: e.org,
    screening: e.screening.decision,
  };
}

/** A KMS grant: the package's recipient and license, and in the reason column the grantee, key and grant id. */
function grantRow(index: number, e: KmsGrantEvent): ReturnType<typeof row> {
  return {
    ...allowedRow(index, e),
    reason: `kms grant ${e.grant} on ${e.key} to ${e.grantee} (${e.operations.join(' ')})`,
    recipient: e.recipient,
    artifact: e.artifact,
    package: e.package,
    license: e.license,
  };
}

const csvField = (v: string) => (/[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);

/** `audit list` as a table for people: the columns that fit a terminal, long values shortened. */
export function printTable(rows: ReturnType<typeof row>[]): void {
  // Certificates, packages, policies, addresses and request ids do not fit a terminal: CSV and JSON have them.
  const hidden = ['certificate', 'package', 'policies', 'ip', 'request', 'model'];
  const cols = CSV_COLUMNS.slice(0, CSV_COLUMNS.indexOf('endpoint')).filter((c) => !hidden.includes(c));
  const cell = (r: (typeof rows)[number], c: (typeof cols)[number]) =>
    (c === 'artifact'
      ? r.artifact.slice(0, 19)
      : c === 'recipient' && r.recipient.length > 24
        ? r.recipient.slice(0, 23) + '…'
        : r[c]) || '-';
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r, c).length)));
  const line = (v: readonly string[]) =>
    v
      .map((x, i) => x.padEnd(width[i]!))
      .join('  ')
      .trimEnd();
  process.stdout.write([line(cols), ...rows.map((r) => line(cols.map((c) => cell(r, c))))].join('\n') + '\n');
}

/** `audit list --csv`: RFC 4180 with a header row. */
export function printCsv(rows: ReturnType<typeof row>[]): void {
  const lines = rows.map((r) => CSV_COLUMNS.map((c) => csvField(r[c])).join(','));
  process.stdout.write([CSV_COLUMNS.join(','), ...lines].join('\r\n') + '\r\n');
}
