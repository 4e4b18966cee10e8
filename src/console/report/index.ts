/**
 * The audit report (`audit report`, and report.json/report.html of an evidence pack): figures over
 * log entries, and one self-contained HTML page of them (no network, inline SVG, prints to PDF).
 * docs/REPORT.md.
 */
export type {
  BucketUnit,
  CountryRow,
  GrantRow,
  InForceRow,
  ModelRow,
  OverrideRow,
  ReasonRow,
  RecipientRow,
  ReportData,
  ReportInput,
  TimelineBucket,
  TraceRow,
} from './data.js';
export { buildReport } from './figures.js';
export { renderReportHtml } from './html.js';
