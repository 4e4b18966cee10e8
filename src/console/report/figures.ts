/**
 * The report's figures over a selection of log entries (report.json): one pass over the entries,
 * then every table in a stable order, so the same input always gives the same JSON.
 */
import { ModelsealError } from '../../errors.js';
import type { DenialsEvent, ExportEvent, LogEvent, ReleaseEvent } from '../../log/events.js';
import type {
  CountryRow,
  InForceRow,
  ModelRow,
  ReasonRow,
  RecipientRow,
  ReportData,
  ReportInput,
  TimelineBucket,
} from './data.js';
import { InferenceTally } from './inference.js';
import { byKey } from './order.js';
import { bucketIndex, bucketUnit, emptyBuckets } from './timeline.js';

/** The row of `key` in `rows`, made by `make` the first time. */
function rowOf<K, R>(rows: Map<K, R>, key: K, make: () => R): R {
  let r = rows.get(key);
  if (r === undefined) rows.set(key, (r = make()));
  return r;
}

/** A period bound given as ISO 8601, in ms; INVALID_ARGUMENT when it does not parse. */
function parseBound(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const t = Date.parse(v);
  if (Number.isNaN(t))
    throw new ModelsealError('INVALID_ARGUMENT', `report period.${name} ${JSON.stringify(v)}: expected ISO 8601`);
  return t;
}

/** The accumulators of one pass over the entries. */
class Tally {
  readonly totals: ReportData['totals'] = {
    entries: 0,
    exports: 0,
    allowed: 0,
    denied: 0,
    refused: 0,
    traces: 0,
    overrides: 0,
    grants: 0,
  };
  readonly destinations = new Map<string | null, CountryRow>();
  readonly observed = new Map<string | null, CountryRow>();
  readonly reasons = new Map<string, ReasonRow>();
  readonly recipients = new Map<string | null, RecipientRow & { dest: Set<string> }>();
  readonly models = new Map<
    string | null,
    ModelRow & { nameSet: Set<string>; dest: Set<string>; people: Set<string> }
  >();
  readonly lists = new Map<string, InForceRow>();
  readonly policySets = new Map<string, InForceRow>();
  readonly report: Pick<ReportData, 'traces' | 'overrides' | 'grants'> = { traces: [], overrides: [], grants: [] };
  readonly inference: InferenceTally;

  constructor(
    readonly timeline: TimelineBucket[],
    readonly bucketAt: (time: string) => number,
  ) {
    this.inference = new InferenceTally(timeline, bucketAt);
  }

  bucketOf(time: string): TimelineBucket | undefined {
    return this.timeline[this.bucketAt(time)];
  }

  recipient(name: string | null) {
    return rowOf(this.recipients, name, () => ({
      recipient: name,
      exports: 0,
      allowed: 0,
      denied: 0,
      destinations: [],
      dest: new Set<string>(),
    }));
  }

  model(digest: string | null) {
    return rowOf(this.models, digest, () => ({
      model: digest,
      names: [],
      exports: 0,
      allowed: 0,
      denied: 0,
      destinations: [],
      recipients: [],
      nameSet: new Set<string>(),
      dest: new Set<string>(),
      people: new Set<string>(),
    }));
  }

  /** Counts `ref` as in force at `time`. */
  inForce(rows: Map<string, InForceRow>, ref: string, time: string): void {
    const r = rowOf(rows, ref, () => ({ ref, first: time, last: time, count: 0 }));
    r.count++;
    if (byTime(time, r.first) < 0) r.first = time;
    if (byTime(time, r.last) > 0) r.last = time;
  }

  add(index: number, e: LogEvent): void {
    this.totals.entries++;
    if (e.type === 'export') this.export(e);
    else if (e.type === 'release') this.release(e);
    else if (e.type === 'denials') this.denials(e);
    else if (e.type === 'trace') {
      this.totals.traces++;
      const { time, leak, original, derived, recipients } = e;
      const accused = e.accused.map(({ recipient, copy, z, threshold, log10Bound }) => {
        return { recipient, copy, z, threshold, log10Bound };
      });
      this.report.traces.push({ index, time, leak, original, derived, recipients, accused });
    } else if (e.type === 'screening-override') {
      this.totals.overrides++;
      const { time, recipient, org, entities, reason, decidedBy } = e;
      const screening = e.screening.decision;
      this.report.overrides.push({ index, time, recipient, org, screening, entities, reason, decidedBy });
      for (const l of e.screening.lists) this.inForce(this.lists, l, e.time);
    } else if (e.type === 'infer-admit') {
      this.inference.admit(index, e);
      for (const l of e.screening?.lists ?? []) this.inForce(this.lists, l, e.time);
      this.inForce(this.policySets, e.policySet, e.time);
    } else if (e.type === 'infer-settle') this.inference.settle(e);
    else {
      this.totals.grants++;
      const { time, recipient, artifact, license, key, grant, grantee, operations } = e;
      this.report.grants.push({ index, time, recipient, artifact, license, key, grant, grantee, operations });
    }
  }

  export(e: ExportEvent): void {
    this.totals.exports++;
    const b = this.bucketOf(e.time);
    if (b) b.exports++;
    this.recipient(e.recipient).exports++;
    const m = this.model(e.artifact);
    m.exports++;
    m.nameSet.add(e.model);
    m.people.add(e.recipient);
  }

  release(e: ReleaseEvent): void {
    const outcome = e.decision === 'allow' ? 'allowed' : 'denied';
    this.totals[outcome]++;
    const b = this.bucketOf(e.time);
    if (b) b[outcome]++;
    const destination = (e.destination ?? '').toUpperCase();
    const country = (rows: Map<string | null, CountryRow>, c: string | null) =>
      rowOf(rows, c, () => ({ country: c, allowed: 0, denied: 0 }));
    country(this.destinations, destination)[outcome]++;
    country(this.observed, e.observed ? e.observed.country.toUpperCase() : null)[outcome]++;
    if (e.decision === 'deny')
      rowOf(this.reasons, e.reason, () => ({ reason: e.reason, releases: 0, refused: 0, total: 0 })).releases++;
    const r = this.recipient(e.recipient);
    r[outcome]++;
    r.dest.add(destination);
    const m = this.model(e.model ?? e.artifact);
    m[outcome]++;
    m.dest.add(destination);
    if (e.recipient !== null) m.people.add(e.recipient);
    for (const l of e.screening?.lists ?? []) this.inForce(this.lists, l, e.time);
    this.inForce(this.policySets, e.policySet, e.time);
  }

  denials(e: DenialsEvent): void {
    this.totals.refused += e.count;
    const b = this.bucketOf(e.time);
    if (b) b.refused += e.count;
    for (const [reason, n] of Object.entries(e.reasons))
      rowOf(this.reasons, reason, () => ({ reason, releases: 0, refused: 0, total: 0 })).refused += n;
    this.inForce(this.policySets, e.policySet, e.time);
  }
}

/** Two logged times in order (by instant, then as text, so that equal instants still sort the same way every time). */
function byTime(a: string, b: string): number {
  const d = (Date.parse(a) || 0) - (Date.parse(b) || 0);
  return d !== 0 ? Math.sign(d) : byKey(a, b);
}

/** The period: as asked, the entries' first and last times, and the timeline's (empty) buckets. */
function periodOf(input: ReportInput): { period: ReportData['period']; timeline: TimelineBucket[] } {
  const since = parseBound('since', input.period.since);
  const until = parseBound('until', input.period.until);
  const times = input.entries.map((e) => e.event.time).filter((t) => !Number.isNaN(Date.parse(t)));
  times.sort(byTime);
  const first = times[0] ?? null;
  const last = times.at(-1) ?? null;
  // From --since (or the first entry) to --until (exclusive), or else to when the report was made.
  const from = Math.min(since ?? Infinity, first !== null ? Date.parse(first) : Infinity);
  const generated = Date.parse(input.generated);
  const to =
    until !== undefined ? until - 1 : Math.max(last !== null ? Date.parse(last) : -Infinity, generated || -Infinity);
  const span = Number.isFinite(from) && Number.isFinite(to) && to >= from ? to - from : undefined;
  const unit = bucketUnit(span ?? 0);
  const timeline = span === undefined ? [] : emptyBuckets(unit, from, to);
  const period = {
    since: input.period.since ?? null,
    until: input.period.until ?? null,
    first,
    last,
    unit,
  };
  return { period, timeline };
}

const activity = (r: { exports: number; allowed: number; denied: number }) => r.exports + r.allowed + r.denied;

/** The figures of a report over `input.entries`. */
export function buildReport(input: ReportInput): ReportData {
  const { period, timeline } = periodOf(input);
  const t = new Tally(timeline, (time) => bucketIndex(timeline, period.unit, Date.parse(time)));
  for (const { index, event } of input.entries) t.add(index, event);
  const countries = (rows: Map<string | null, CountryRow>) =>
    [...rows.values()].sort((a, b) => b.allowed + b.denied - (a.allowed + a.denied) || byKey(a.country, b.country));
  const sorted = (s: Set<string>) => [...s].sort(byKey);
  const inForce = (rows: Map<string, InForceRow>) =>
    [...rows.values()].sort((a, b) => byTime(a.first, b.first) || byKey(a.ref, b.ref));
  return {
    v: 1,
    generated: input.generated,
    period,
    log: {
      origin: input.log.origin,
      size: input.log.size,
      checkpoint: input.log.checkpoint && { size: input.log.checkpoint.size, root: input.log.checkpoint.root },
      verified: input.log.verified,
      problem: input.log.problem ?? null,
    },
    totals: t.totals,
    timeline,
    destinations: countries(t.destinations),
    observed: countries(t.observed),
    reasons: [...t.reasons.values()]
      .map((r) => ({ ...r, total: r.releases + r.refused }))
      .sort((a, b) => b.total - a.total || byKey(a.reason, b.reason)),
    recipients: [...t.recipients.values()]
      .sort((a, b) => activity(b) - activity(a) || byKey(a.recipient, b.recipient))
      .map(({ dest, ...r }) => ({ ...r, destinations: sorted(dest) })),
    models: [...t.models.values()]
      .sort((a, b) => activity(b) - activity(a) || byKey(a.model, b.model))
      .map(({ nameSet, dest, people, ...m }) => ({
        ...m,
        names: sorted(nameSet),
        destinations: sorted(dest),
        recipients: sorted(people),
      })),
    lists: inForce(t.lists),
    policySets: inForce(t.policySets),
    ...t.report,
    inference: t.inference.result(),
  };
}
