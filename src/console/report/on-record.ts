/** The report page's lists of single entries on record: traces, screening overrides, KMS grants. */
import type { ReportData } from './data.js';
import { section, table } from './sections.js';
import { fig } from './text.js';

/** A cell of a string figure, as code (digests, ids) or as a name in its own direction. */
const cell = (path: string, v: string, kind: 'code' | 'name' | 'text' = 'text') =>
  kind === 'code'
    ? `<td class="code">${fig(path, v)}</td>`
    : kind === 'name'
      ? `<td dir="auto">${fig(path, v, { name: true })}</td>`
      : `<td>${fig(path, v)}</td>`;

/** Trace results: the leak, the original, and each accused recipient with z, threshold and bound. */
function traces(r: ReportData): string {
  const rows = r.traces.map((t, i) => {
    const p = `traces.${i}`;
    const accused = t.accused.length
      ? t.accused
          .map(
            (a, j) =>
              `<div><bdi>${fig(`${p}.accused.${j}.recipient`, a.recipient, { name: true })}</bdi> ` +
              `(copy <span class="code">${fig(`${p}.accused.${j}.copy`, a.copy)}</span>): ` +
              `z ${fig(`${p}.accused.${j}.z`, a.z)} ≥ ${fig(`${p}.accused.${j}.threshold`, a.threshold)}, ` +
              `false accusation ≤ 10^${fig(`${p}.accused.${j}.log10Bound`, a.log10Bound)}</div>`,
          )
          .join('')
      : 'nobody accused';
    return (
      `<td class="n">${fig(`${p}.index`, t.index)}</td>${cell(`${p}.time`, t.time)}` +
      `${cell(`${p}.leak`, t.leak, 'code')}${cell(`${p}.original`, t.original, 'code')}` +
      `<td>${fig(`${p}.derived`, t.derived, { shown: t.derived ? 'yes' : 'no' })}</td>` +
      `<td class="n">${fig(`${p}.recipients`, t.recipients)}</td><td>${accused}</td>`
    );
  });
  return table(
    'Trace results on record (trace --record)',
    ['entry', 'time', 'leaked file', 'original model', 'derived', 'recipients scored', 'accused'],
    rows,
    'no traces on record',
  );
}

/** Screening overrides: who, what was overridden, why and by whom. */
function overrides(r: ReportData): string {
  const rows = r.overrides.map((o, i) => {
    const p = `overrides.${i}`;
    const entities = o.entities.map((e, j) => fig(`${p}.entities.${j}`, e)).join(', ');
    return (
      `<td class="n">${fig(`${p}.index`, o.index)}</td>${cell(`${p}.time`, o.time)}` +
      `${cell(`${p}.recipient`, o.recipient, 'name')}${cell(`${p}.org`, o.org, 'name')}` +
      `${cell(`${p}.screening`, o.screening)}<td class="code">${entities}</td>` +
      `${cell(`${p}.reason`, o.reason, 'name')}${cell(`${p}.decidedBy`, o.decidedBy, 'name')}`
    );
  });
  return table(
    'Screening overrides',
    ['entry', 'time', 'recipient', 'organisation', 'screening', 'listed parties', 'reason', 'decided by'],
    rows,
    'no screening overrides',
  );
}

/** KMS grants: the package's recipient and model, the key, grant, grantee and operations. */
function grants(r: ReportData): string {
  const rows = r.grants.map((g, i) => {
    const p = `grants.${i}`;
    const ops = g.operations.map((op, j) => fig(`${p}.operations.${j}`, op)).join(' ');
    return (
      `<td class="n">${fig(`${p}.index`, g.index)}</td>${cell(`${p}.time`, g.time)}` +
      `${cell(`${p}.recipient`, g.recipient, 'name')}${cell(`${p}.artifact`, g.artifact, 'code')}` +
      `${cell(`${p}.license`, g.license)}${cell(`${p}.key`, g.key, 'code')}${cell(`${p}.grant`, g.grant, 'code')}` +
      `${cell(`${p}.grantee`, g.grantee, 'code')}<td>${ops}</td>`
    );
  });
  return table(
    'KMS grants',
    ['entry', 'time', 'recipient', 'model', 'license', 'key', 'grant', 'grantee', 'operations'],
    rows,
    'no KMS grants',
  );
}

/** Traces, overrides and grants on record. */
export function onRecordSection(r: ReportData): string {
  return section(
    'on-record',
    'On record: traces, screening overrides, KMS grants',
    traces(r) + overrides(r) + grants(r),
  );
}
