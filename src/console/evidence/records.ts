/**
 * The records each logged decision rests on (docs/AUDIT.md, "Records"): which ones an entry needs,
 * where they go in the pack, how an export collects them, and how a reader binds each to the log.
 */
import { ARCHITECTURE_FIELDS } from '../../compliance/classify/config.js';
import { configMismatchOf, renderDatasheet } from '../../compliance/classify/index.js';
import {
  recordsRestedOn,
  type EvidenceRecords,
  type PolicySetRecord,
  type RecipientEvidence,
  type RecordKind,
  type SnapshotRecord,
} from '../../compliance/records.js';
import type { ClassificationRecord } from '../../format/classification.js';
import type { ExportEvent, LogEvent } from '../../log/events.js';
import { classificationDigest } from '../../package/classification.js';
import { policySetHash } from '../../policy/engine.js';
import { evidenceInvalid, sha256Hex } from './pack.js';

/** One record an entry rests on: its kind, the reference the log holds, and its files in the pack. */
export interface RecordNeed {
  kind: RecordKind;
  ref: string;
  files: string[];
}

/** A classification record as the pack keeps it: with the package whose export event carries it. */
export interface ClassificationFile {
  package: string;
  artifact: string;
  model: string;
  record: ClassificationRecord;
}

const hexOf = (ref: string, pattern: RegExp) => pattern.exec(ref)?.[1] ?? sha256Hex(Buffer.from(ref, 'utf8'));

function need(kind: RecordKind, ref: string): RecordNeed {
  switch (kind) {
    case 'policy-set':
      return { kind, ref, files: [`records/policy/${hexOf(ref, /^([0-9a-f]{64})$/)}.json`] };
    case 'snapshot':
      return { kind, ref, files: [`records/snapshots/${hexOf(ref, /@sha256:([0-9a-f]{64})$/)}.json`] };
    case 'recipient':
      return { kind, ref, files: [`records/recipients/${sha256Hex(Buffer.from(ref, 'utf8'))}.json`] };
    case 'classification': {
      const hex = hexOf(ref, /^sha256:([0-9a-f]{64})$/);
      return { kind, ref, files: [`records/classification/${hex}.json`, `records/classification/${hex}.md`] };
    }
  }
}

/** The decision an entry records, as decisions.json lists it: a release's or an inference admit's, else null. */
export function decisionOf(e: LogEvent): 'allow' | 'deny' | null {
  return e.type === 'release' || e.type === 'infer-admit' ? e.decision : null;
}

/** The records the decision logged as `e` rests on, in a fixed order, with their files in the pack. */
export function needsOf(e: LogEvent): RecordNeed[] {
  return recordsRestedOn(e).map(({ kind, ref }) => need(kind, ref));
}

/** A logged decimal string that was a number before the log's integers-only rule (src/log/events.ts `integersOnly`). */
function restoreNumbers(v: unknown): unknown {
  if (typeof v === 'string') {
    const n = Number(v);
    return v !== '' && Number.isFinite(n) && !Number.isSafeInteger(n) && String(n) === v ? n : v;
  }
  if (Array.isArray(v)) return v.map(restoreNumbers);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, restoreNumbers(x)]));
  return v;
}

/** `a` with its keys in config.json's order (ARCHITECTURE_FIELDS), the others after them as they were. */
function inFieldOrder(a: Record<string, unknown>): Record<string, unknown> {
  const known: readonly string[] = ARCHITECTURE_FIELDS;
  const keys = [...known.filter((k) => k in a), ...Object.keys(a).filter((k) => !known.includes(k))];
  return Object.fromEntries(keys.map((k) => [k, a[k]]));
}

/**
 * The classification record of an export event, by the digest a release of the package logs. A
 * version 2 record is named by the digest of its logged form (src/package/classification.ts), so the
 * logged record is the one. A version 1 record (sealed before) was named by the digest of the
 * header's JSON, whose architecture fields were in config.json's order and held numbers the log
 * keeps as decimal strings: those candidates are tried too, and the digest tells which it was.
 */
export function classificationsOf(e: ExportEvent): [string, ClassificationFile][] {
  if (!e.classification) return [];
  const base = { package: e.package, artifact: e.artifact, model: e.model };
  const logged = e.classification;
  const arch = logged.facts.architecture;
  const variants =
    logged.v !== 1 || !arch
      ? [arch]
      : [arch, restoreNumbers(arch) as Record<string, unknown>].flatMap((a) => [a, inFieldOrder(a)]);
  return variants.map((architecture) => {
    const record = { ...logged, facts: { ...logged.facts, architecture } };
    return [classificationDigest(record), { ...base, record }];
  });
}

const json = (v: unknown) => Buffer.from(JSON.stringify(v, null, 2) + '\n', 'utf8');

/** The datasheet of a classification record as the pack holds it (src/compliance/classify). */
export function datasheetOf(c: ClassificationFile): string {
  return renderDatasheet({
    record: c.record,
    source: {
      kind: 'package',
      path: `package ${c.package} (${c.model})`,
      digests: { packageId: c.package, headerDigest: 'not recorded in the log', modelRootDigest: c.artifact },
    },
    configMismatch: configMismatchOf(c.record.facts),
  });
}

/** The files of one record, or null when the source does not have it. */
export async function recordFiles(
  n: RecordNeed,
  records: EvidenceRecords,
  classifications: ReadonlyMap<string, ClassificationFile>,
): Promise<Buffer[] | null> {
  if (n.kind === 'classification') {
    const c = classifications.get(n.ref);
    return c ? [json(c), Buffer.from(datasheetOf(c), 'utf8')] : null;
  }
  const r =
    n.kind === 'policy-set'
      ? await records.policySet(n.ref)
      : n.kind === 'snapshot'
        ? await records.snapshot(n.ref)
        : await records.recipient(n.ref);
  return r === null ? null : [json(r)];
}

function parse(file: string, data: Buffer): Record<string, unknown> {
  try {
    const v = JSON.parse(data.toString('utf8')) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TypeError('not a JSON object');
    return v as Record<string, unknown>;
  } catch (cause) {
    throw evidenceInvalid(file, 'not a JSON object', cause);
  }
}

const what = (e: LogEvent) => (e.type === 'infer-admit' ? 'inference call' : 'release');

function checkPolicySet(file: string, r: PolicySetRecord, ref: string, e: LogEvent): void {
  const f = r.files as Partial<PolicySetRecord['files']> | undefined;
  const texts = [f?.schema, f?.policies, f?.licenses, f?.embargoes];
  if (r.hash !== ref || texts.some((t) => typeof t !== 'string'))
    throw evidenceInvalid(file, `not the policy set ${ref} the log names (its hash or its four files)`);
  if (policySetHash(r.files) !== ref) throw evidenceInvalid(file, `its files do not rehash to the logged ${ref}`);
  if ((e.type !== 'release' && e.type !== 'infer-admit') || e.decision !== 'allow' || e.license === null) return;
  const licenses = parse(file, Buffer.from(r.files.licenses, 'utf8')).licenses;
  const has = (l: unknown) => typeof l === 'object' && l !== null && (l as { id?: unknown }).id === e.license;
  if (!Array.isArray(licenses) || !licenses.some(has))
    throw evidenceInvalid(
      file,
      `its licenses.json has no license ${e.license}, under which the ${what(e)} was allowed`,
    );
}

/** Checks that the files of `n` in the pack are the record log entry `e` names; EVIDENCE_INVALID naming the file. */
export function checkRecord(n: RecordNeed, files: ReadonlyMap<string, Buffer>, e: LogEvent): void {
  const file = n.files[0]!;
  const data = files.get(file)!;
  if (n.kind === 'policy-set') {
    checkPolicySet(file, parse(file, data) as unknown as PolicySetRecord, n.ref, e);
    return;
  }
  if (n.kind === 'snapshot') {
    const r = parse(file, data) as unknown as SnapshotRecord;
    const digest = /@(sha256:[0-9a-f]{64})$/.exec(n.ref)?.[1];
    if (r.ref !== n.ref || r.digest !== digest) throw evidenceInvalid(file, `not the snapshot ${n.ref} the log names`);
    return;
  }
  if (n.kind === 'recipient') {
    const r = parse(file, data) as unknown as RecipientEvidence;
    if (r.name !== n.ref) throw evidenceInvalid(file, `not the record of the recipient ${n.ref} the log names`);
    if ((e.type === 'release' || e.type === 'infer-admit') && e.certificate !== null && r.fingerprint !== e.certificate)
      throw evidenceInvalid(file, `its fingerprint is not the certificate ${e.certificate} the log names`);
    return;
  }
  const c = parse(file, data) as unknown as ClassificationFile;
  let digest: string;
  try {
    digest = classificationDigest(c.record);
  } catch (cause) {
    throw evidenceInvalid(file, 'not a classification record', cause);
  }
  if (digest !== n.ref) throw evidenceInvalid(file, `its record's digest is not the logged ${n.ref}`);
  let sheet: string;
  try {
    sheet = datasheetOf(c);
  } catch (cause) {
    throw evidenceInvalid(n.files[1]!, 'its record cannot be rendered', cause);
  }
  if (!files.get(n.files[1]!)!.equals(Buffer.from(sheet, 'utf8')))
    throw evidenceInvalid(n.files[1]!, 'not the datasheet of the classification record beside it');
}
