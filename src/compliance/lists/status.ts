/** `lists status`: each source's active snapshot, its age and whether it is stale. docs/SCREENING.md. */
import { readActive, type ActiveSource, type ImportedFile } from './active-file.js';

/** One source as `lists status` reports it. */
export interface SourceStatus {
  source: string;
  digest: string;
  entries: number;
  names: number;
  imported: string;
  refreshed: string;
  /** Whole seconds since `refreshed`. */
  ageSeconds: number;
  maxAgeDays: number;
  /** Older than its maximum age. */
  stale: boolean;
  files: ImportedFile[];
}

/** Whole seconds since the source was last imported or confirmed, at `now` (ms since the epoch). */
export function sourceAge(s: ActiveSource, now: number): number {
  return Math.max(0, Math.floor((now - Date.parse(s.refreshed)) / 1000));
}

/** Whether the source is past its maximum age at `now` (ms since the epoch). */
export function isStale(s: ActiveSource, now: number): boolean {
  return sourceAge(s, now) > s.maxAgeDays * 86_400;
}

/** Every source of `<data>/lists`, by name. */
export async function listsStatus(data: string, now: Date = new Date()): Promise<SourceStatus[]> {
  const state = await readActive(data);
  return Object.entries(state.sources)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([source, s]) => ({
      source,
      digest: s.digest,
      entries: s.entries,
      names: s.names,
      imported: s.imported,
      refreshed: s.refreshed,
      ageSeconds: sourceAge(s, now.getTime()),
      maxAgeDays: s.maxAgeDays,
      stale: isStale(s, now.getTime()),
      files: s.files,
    }));
}
