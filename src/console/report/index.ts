/**
 * The audit report (`audit report`, and report.json/report.html of an evidence pack): figures over
 * log entries, and one self-contained HTML page of them (no network, inline SVG, prints to PDF).
 *
 * CONTRACT PLACEHOLDER: brief P replaces the bodies and fills in ReportData; the signatures stay.
 */
import type { IndexedEvent } from '../../log/query.js';

/** What a report is computed from. */
export interface ReportInput {
  /** The entries reported on (already selected), in log order. */
  entries: readonly IndexedEvent[];
  /** The log: origin, size, latest checkpoint, and whether `auditLog` verified it (null: not checked). */
  log: { origin: string; size: number; checkpoint: { size: number; root: string } | null; verified: boolean | null };
  /** The period asked for (ISO 8601), when one was. */
  period: { since?: string; until?: string };
  /** When the report was made (ISO 8601). */
  generated: string;
}

/** The report's figures: report.json. */
export interface ReportData {
  v: 1;
  generated: string;
}

/** The figures of a report. */
export function buildReport(input: ReportInput): ReportData {
  return { v: 1, generated: input.generated };
}

/** The report as one self-contained HTML page. */
export function renderReportHtml(report: ReportData): string {
  return `<!doctype html><title>modelseal report</title><p>generated ${report.generated}</p>\n`;
}
