/**
 * `serve --retain <period>` (docs/SERVER.md, "Retention"): at start, every record that the log's
 * entries of the period rest on — the policy set of each logged hash, the snapshot file and record
 * of each logged list, the recipient record of each logged recipient — is looked up, and what is
 * missing is reported (service log, GET /v1/info). Never a reason not to start: an old missing
 * record must not stop today's releases. Nothing modelseal does deletes these records.
 */
import { isModelsealError, ModelsealError } from '../errors.js';
import { recordsRestedOn, type EvidenceRecords } from '../compliance/records.js';
import { storeEvents } from '../log/events.js';
import type { LogStore } from '../log/store.js';
import type { MissingRecord, RetentionStatus } from '../release/response.js';

export type { MissingRecord, RetentionStatus };

/** A retention period as given: whole years, months or days ("5y", "18mo", "400d"). */
export interface RetentionPeriod {
  text: string;
  amount: number;
  unit: 'y' | 'mo' | 'd';
}

/** Parses `5y`, `18mo`, `400d` (whole numbers, at least 1); INVALID_ARGUMENT otherwise. */
export function parseRetention(text: string): RetentionPeriod {
  const m = /^([1-9]\d{0,4})(y|mo|d)$/.exec(text.trim());
  if (!m || (m[2] === 'y' && Number(m[1]) > 100))
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `--retain ${JSON.stringify(text)}: expected whole years, months or days, e.g. 5y (15 CFR 762.6), 18mo or 400d`,
    );
  return { text: `${m[1]}${m[2]}`, amount: Number(m[1]), unit: m[2] as RetentionPeriod['unit'] };
}

/** The start of `period` ending at `now`, by the calendar (UTC). */
export function retentionStart(period: RetentionPeriod, now: Date): Date {
  const d = new Date(now.getTime());
  if (period.unit === 'y') d.setUTCFullYear(d.getUTCFullYear() - period.amount);
  else if (period.unit === 'mo') d.setUTCMonth(d.getUTCMonth() - period.amount);
  else d.setUTCDate(d.getUTCDate() - period.amount);
  return d;
}

/** Looks up one record; the problem with it, or null when it is kept. */
async function problemWith(records: EvidenceRecords, kind: MissingRecord['kind'], id: string): Promise<string | null> {
  try {
    const found =
      kind === 'policy-set'
        ? await records.policySet(id)
        : kind === 'snapshot'
          ? await records.snapshot(id)
          : await records.recipient(id);
    return found ? null : 'missing';
  } catch (e) {
    if (isModelsealError(e)) return e.message;
    throw e;
  }
}

/** Checks that every record the entries of `store` logged since the period's start rest on is kept. */
export async function checkRetention(
  store: LogStore,
  records: EvidenceRecords,
  period: RetentionPeriod,
  now: Date,
): Promise<RetentionStatus> {
  const since = retentionStart(period, now);
  const seen = new Set<string>();
  const missing: MissingRecord[] = [];
  for await (const { index, event } of storeEvents(store)) {
    if (!event || !(Date.parse(event.time) >= since.getTime())) continue;
    for (const { kind, ref: id } of recordsRestedOn(event)) {
      if (kind === 'classification') continue; // in the log itself, in the package's export event
      if (seen.has(`${kind}\n${id}`)) continue;
      seen.add(`${kind}\n${id}`);
      const problem = await problemWith(records, kind, id);
      if (problem) missing.push({ kind, id, entry: index, problem });
    }
  }
  return { period: period.text, since: since.toISOString(), complete: missing.length === 0, missing };
}
