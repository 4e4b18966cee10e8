/**
 * `audit export`: reads the log once, selects the entries, proves each against one checkpoint,
 * collects the records they rest on, and writes the pack under a temporary name; the pack is
 * re-read and verified before it is renamed into place. docs/AUDIT.md.
 */
import { createHash } from 'node:crypto';
import { link, open, rename, rm } from 'node:fs/promises';
import { ModelsealError } from '../../errors.js';
import { openCheckpoint } from '../../log/checkpoint.js';
import { decodeEvent } from '../../log/events.js';
import type { HashReader } from '../../log/merkle.js';
import { eventMatcher, type EventFilter, type IndexedEvent } from '../../log/query.js';
import { ioError, tempSibling } from '../../io/atomic.js';
import { buildReport, renderReportHtml } from '../report/index.js';
import { signManifest } from './manifest.js';
import { EVIDENCE_VERSION, writePack } from './pack.js';
import { consistencyText, coveringCheckpoint, entryProof, memoryHashes, type SignedCheckpoint } from './proofs.js';
import {
  classificationsOf,
  decisionOf,
  needsOf,
  recordFiles,
  type ClassificationFile,
  type RecordNeed,
} from './records.js';
import { readmeText } from './readme.js';
import type { EvidenceSummary, ExportEvidenceOptions } from './types.js';
import { verifyPack } from './verify.js';

interface LogRead {
  latest: SignedCheckpoint;
  entries: Buffer[];
  selected: IndexedEvent[];
  /** Every export event's classification record in the log, by digest. */
  classifications: Map<string, ClassificationFile>;
}

function filterOf(o: ExportEvidenceOptions): EventFilter {
  const s = o.selection;
  return {
    ...(s.since !== undefined ? { since: s.since } : {}),
    ...(s.until !== undefined ? { until: s.until } : {}),
    ...(s.model !== undefined ? { artifact: s.model } : {}),
    ...(s.recipient !== undefined ? { recipient: s.recipient } : {}),
    ...(s.destinations?.length ? { destination: s.destinations } : {}),
    ...(o.pseudonyms ? { pseudonyms: o.pseudonyms } : {}),
  };
}

async function readLog(o: ExportEvidenceOptions): Promise<LogRead> {
  const note = o.source.store.checkpoint;
  if (note === null)
    throw new ModelsealError('INVALID_ARGUMENT', `the log ${o.source.name} is empty: there is nothing to export`);
  const latest = { note, checkpoint: openCheckpoint(note, o.verifier) };
  const keep = eventMatcher(filterOf(o));
  const size = latest.checkpoint.size;
  const read: LogRead = { latest, entries: [], selected: [], classifications: new Map() };
  for (let from = 0; from < size; from += 4096) {
    const batch = await o.source.store.readEntries(from, Math.min(size, from + 4096));
    batch.forEach((entry, i) => {
      read.entries.push(entry);
      const event = decodeEvent(entry);
      if (event?.type === 'export') for (const [d, c] of classificationsOf(event)) read.classifications.set(d, c);
      if (event && keep(event)) read.selected.push({ index: from + i, event });
    });
    o.onProgress?.({ done: read.entries.length, total: 2 * size });
  }
  return read;
}

/** The records of every selected entry: their files, and the ones the source does not have. */
async function collect(o: ExportEvidenceOptions, log: LogRead) {
  const files = new Map<string, Buffer>();
  const missing = new Map<string, RecordNeed>();
  for (const { event } of log.selected) {
    for (const n of needsOf(event)) {
      if (files.has(n.files[0]!) || missing.has(n.files[0]!)) continue;
      const got = await recordFiles(n, o.records, log.classifications);
      if (got === null) missing.set(n.files[0]!, n);
      else n.files.forEach((f, i) => files.set(f, got[i]!));
    }
  }
  return { files, missing: [...missing.values()] };
}

const head = (c: SignedCheckpoint) => ({ size: c.checkpoint.size, root: c.checkpoint.root.toString('base64') });

function decisionsJson(o: ExportEvidenceOptions, log: LogRead, c: SignedCheckpoint, records: Map<string, Buffer>) {
  const s = o.selection;
  const selection = {
    ...(s.since !== undefined ? { since: new Date(s.since).toISOString() } : {}),
    ...(s.until !== undefined ? { until: new Date(s.until).toISOString() } : {}),
    ...(s.model !== undefined ? { model: s.model } : {}),
    // A pseudonymised log never names the recipient in the clear: neither does its pack.
    ...(s.recipient !== undefined ? { recipient: o.pseudonyms ? o.pseudonyms.of(s.recipient) : s.recipient } : {}),
    ...(s.destinations?.length ? { destinations: s.destinations } : {}),
  };
  const entries = log.selected.map(({ index, event }) => {
    const needs = needsOf(event);
    return {
      index,
      type: event.type,
      decision: decisionOf(event),
      time: event.time,
      proof: `entries/${index}.proof`,
      records: needs.filter((n) => records.has(n.files[0]!)).flatMap((n) => n.files),
      gaps: needs.filter((n) => !records.has(n.files[0]!)).map(({ kind, ref }) => ({ kind, ref })),
    };
  });
  const gaps = entries.reduce((n, e) => n + e.gaps.length, 0);
  const doc = { v: 1, format: EVIDENCE_VERSION, origin: c.checkpoint.origin, selection };
  return { ...doc, checkpoint: head(c), latest: head(log.latest), entries, gaps };
}

function missingError(missing: readonly RecordNeed[]): ModelsealError {
  const list = missing.map((n) => `${n.kind} ${n.ref}`).join('; ');
  return new ModelsealError(
    'EVIDENCE_INCOMPLETE',
    `the records source lacks ${missing.length} record(s) the selected decisions rest on: ${list}. Point --data at ` +
      'the data directory that kept them, or pass --allow-missing to write a pack that declares these gaps',
    { details: { missing: missing.map(({ kind, ref }) => ({ kind, ref })) } },
  );
}

/** Every file of the pack but the manifest, in pack order. */
async function packFiles(o: ExportEvidenceOptions, log: LogRead, generated: string): Promise<Map<string, Buffer>> {
  const last = log.selected.at(-1)?.index ?? -1;
  const c = await coveringCheckpoint(o.source.store, last, log.latest, o.verifier);
  const read: HashReader = o.source.remote ? await memoryHashes(log.entries) : o.source.store.readHashes;
  const { files: records, missing } = await collect(o, log);
  if (missing.length > 0 && !o.allowMissing) throw missingError(missing);
  const report = buildReport({
    entries: log.selected,
    log: {
      origin: c.checkpoint.origin,
      size: log.latest.checkpoint.size,
      checkpoint: head(log.latest),
      verified: null,
    },
    period: {
      ...(o.selection.since !== undefined ? { since: new Date(o.selection.since).toISOString() } : {}),
      ...(o.selection.until !== undefined ? { until: new Date(o.selection.until).toISOString() } : {}),
    },
    generated,
  });
  const text = (s: string) => Buffer.from(s, 'utf8');
  const files = new Map<string, Buffer>([
    ['README.txt', text(readmeText(c.checkpoint.origin, generated))],
    ['log.vkey', text(o.signer.verifierKey + '\n')],
    ['checkpoint', text(c.note)],
    ['latest', text(log.latest.note)],
    ['consistency', text(await consistencyText(c.checkpoint.size, log.latest.checkpoint.size, read))],
    ['decisions.json', text(JSON.stringify(decisionsJson(o, log, c, records), null, 2) + '\n')],
  ]);
  for (const [i, { index }] of log.selected.entries()) {
    files.set(`entries/${index}.proof`, text(await entryProof(index, log.entries[index]!, c, read)));
    o.onProgress?.({
      done: log.entries.length + Math.round(((i + 1) * log.entries.length) / log.selected.length),
      total: 2 * log.entries.length,
    });
  }
  for (const [name, data] of records) files.set(name, data);
  files.set('report.json', text(JSON.stringify(report, null, 2) + '\n'));
  files.set('report.html', text(renderReportHtml(report)));
  return files;
}

/** Writes the evidence pack of the selected entries; verifies it before it is renamed into place. */
export async function exportEvidence(o: ExportEvidenceOptions): Promise<EvidenceSummary> {
  if (o.signer.name !== o.verifier.name || o.signer.keyId !== o.verifier.keyId)
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `the key that signs the manifest (${o.signer.verifierKey}) is not the log key the checkpoints are checked ` +
        `under (${o.verifier.name}): sign with the log's current key, and check with its verifier key`,
    );
  const log = await readLog(o);
  const generated = (o.now?.() ?? new Date()).toISOString();
  const files = await packFiles(o, log, generated);
  const manifest = await signManifest(log.latest.checkpoint.origin, files, o.signer);
  const pack = writePack(manifest, files);
  const tmp = tempSibling(o.output);
  try {
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(pack);
      await fh.chmod(0o644);
      await fh.sync();
    } finally {
      await fh.close();
    }
    const v = await verifyPack(tmp, [o.verifier], { acceptGaps: !!o.allowMissing });
    if (o.overwrite) await rename(tmp, o.output);
    else await link(tmp, o.output).then(() => rm(tmp)); // link fails with EEXIST instead of replacing
    return {
      output: o.output,
      entries: log.selected.length,
      size: log.latest.checkpoint.size,
      checkpoint: v.checkpoint,
      latest: v.latest,
      files: files.size + 1,
      bytes: pack.length,
      manifest: `sha256:${createHash('sha256').update(manifest).digest('hex')}`,
      gaps: v.gaps,
    };
  } catch (e) {
    await rm(tmp, { force: true });
    if ((e as NodeJS.ErrnoException).code === 'EEXIST')
      throw new ModelsealError('OUTPUT_EXISTS', `${o.output} already exists; choose another name or pass --force`);
    throw e instanceof ModelsealError ? e : ioError(`cannot write ${o.output}`, e);
  }
}
