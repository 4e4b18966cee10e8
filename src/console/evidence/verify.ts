/**
 * `audit verify-export`: checks a pack offline, with no access to the log or the records: the tar
 * structure against the signed manifest, every digest, every checkpoint signature, every inclusion
 * proof, the consistency proof, and that each selected decision's records are there and bound to
 * the log entry. docs/AUDIT.md, "Checking a pack".
 */
import { readFile, stat } from 'node:fs/promises';
import { ModelsealError } from '../../errors.js';
import { fsReason } from '../../keystore/secretfile.js';
import { parseCheckpoint, parseProof, type Checkpoint } from '../../log/checkpoint.js';
import { decodeEvent, type LogEvent } from '../../log/events.js';
import { leafHash, verifyConsistency, verifyInclusion } from '../../log/merkle.js';
import { openNote, parseVerifierKey, type NoteVerifier } from '../../log/note.js';
import { openManifest, type Manifest } from './manifest.js';
import { checkEnd, EVIDENCE_LIMITS, evidenceInvalid, MANIFEST, readEntry, sha256Hex } from './pack.js';
import { parseConsistency } from './proofs.js';
import { checkRecord, decisionOf, needsOf, type RecordNeed } from './records.js';
import type { EvidenceGap, EvidenceVerification } from './types.js';

const FIXED = [
  'README.txt',
  'log.vkey',
  'checkpoint',
  'latest',
  'consistency',
  'decisions.json',
  'report.json',
  'report.html',
];

/** The manifest and every file it lists, read in order from the pack's bytes with each digest checked. */
function readPackFiles(
  pack: Buffer,
  verifiers: readonly NoteVerifier[],
): { manifest: Manifest; files: Map<string, Buffer> } {
  const first = readEntry(pack, 0, MANIFEST, EVIDENCE_LIMITS.manifestBytes);
  const manifest = openManifest(first.data.toString('utf8'), verifiers);
  if (!Buffer.from(first.data.toString('utf8'), 'utf8').equals(first.data))
    throw evidenceInvalid(MANIFEST, 'not UTF-8');
  const files = new Map<string, Buffer>();
  let at = first.next;
  for (const f of manifest.files) {
    const { data, next } = readEntry(pack, at, f.name, EVIDENCE_LIMITS.fileBytes, f.size);
    if (sha256Hex(data) !== f.sha256)
      throw evidenceInvalid(f.name, 'its SHA-256 differs from the one the manifest signs');
    files.set(f.name, data);
    at = next;
  }
  checkEnd(pack, at);
  for (const name of FIXED) if (!files.has(name)) throw evidenceInvalid(name, 'missing from the pack');
  return { manifest, files };
}

function signedCheckpoint(name: string, note: string, verifiers: readonly NoteVerifier[], origin: string): Checkpoint {
  let c: Checkpoint;
  try {
    c = parseCheckpoint(openNote(note, verifiers).text);
  } catch (cause) {
    throw evidenceInvalid(name, `not a checkpoint signed by the log key(s) given: ${(cause as Error).message}`, cause);
  }
  if (c.origin !== origin)
    throw evidenceInvalid(name, `a checkpoint of log ${JSON.stringify(c.origin)}, not ${origin}`);
  return c;
}

/** The logged entries of the pack's proofs, each checked against the checkpoint, by index. */
function provenEntries(
  files: ReadonlyMap<string, Buffer>,
  checkpointNote: string,
  c: Checkpoint,
): Map<number, LogEvent> {
  const out = new Map<number, LogEvent>();
  for (const [name, data] of files) {
    const m = /^entries\/(0|[1-9][0-9]{0,15})\.proof$/.exec(name);
    if (!m) continue;
    let p;
    try {
      p = parseProof(data.toString('utf8'));
    } catch (cause) {
      throw evidenceInvalid(name, `not a tlog-proof: ${(cause as Error).message}`, cause);
    }
    if (p.index !== Number(m[1]) || p.checkpoint !== checkpointNote || !p.extra)
      throw evidenceInvalid(name, "its index, its checkpoint or its entry is not the pack's");
    if (!verifyInclusion(leafHash(p.extra), p.index, c.size, p.proof, c.root))
      throw evidenceInvalid(name, `the inclusion proof of entry ${p.index} does not match the checkpoint`);
    const event = decodeEvent(p.extra);
    if (!event) throw evidenceInvalid(name, 'the proven entry is not a modelseal event');
    out.set(p.index, event);
  }
  return out;
}

interface DecisionEntry {
  index: number;
  type: string;
  decision: string | null;
  time: string;
  proof: string;
  records: string[];
  gaps: EvidenceGap[];
}

/** Checks decisions.json against the proven entries and binds every record; returns the gaps it declares. */
function checkDecisions(
  files: ReadonlyMap<string, Buffer>,
  entries: ReadonlyMap<number, LogEvent>,
  heads: { origin: string; checkpoint: unknown; latest: unknown },
): EvidenceGap[] {
  const file = 'decisions.json';
  let doc: { entries?: DecisionEntry[]; origin?: unknown; checkpoint?: unknown; latest?: unknown };
  try {
    doc = JSON.parse(files.get(file)!.toString('utf8')) as typeof doc;
  } catch (cause) {
    throw evidenceInvalid(file, 'not JSON', cause);
  }
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  if (doc.origin !== heads.origin || !same(doc.checkpoint, heads.checkpoint) || !same(doc.latest, heads.latest))
    throw evidenceInvalid(file, "its origin or checkpoints are not the pack's");
  const listed = Array.isArray(doc.entries) ? doc.entries : [];
  const indexes = [...entries.keys()].sort((a, b) => a - b);
  if (listed.length !== indexes.length || listed.some((d, i) => (d as DecisionEntry | null)?.index !== indexes[i]))
    throw evidenceInvalid(file, 'its entries are not exactly the entries proven in entries/');
  const used = new Set([MANIFEST, ...FIXED, ...indexes.map((i) => `entries/${i}.proof`)]);
  const gaps: EvidenceGap[] = [];
  for (const d of listed) {
    const event = entries.get(d.index)!;
    let needs: RecordNeed[];
    try {
      needs = needsOf(event);
    } catch (cause) {
      throw evidenceInvalid(d.proof, 'its entry is not a well-formed modelseal event', cause);
    }
    const present = needs.filter((n) => n.files.some((f) => files.has(f)));
    for (const n of present)
      for (const f of n.files) if (!files.has(f)) throw evidenceInvalid(f, 'missing from the pack');
    const absent = needs.filter((n) => !present.includes(n)).map(({ kind, ref }) => ({ kind, ref, entry: d.index }));
    const expected = {
      index: d.index,
      type: event.type,
      decision: decisionOf(event),
      time: event.time,
      proof: `entries/${d.index}.proof`,
      records: present.flatMap((n) => n.files),
      gaps: absent.map(({ kind, ref }) => ({ kind, ref })),
    };
    if (JSON.stringify(d) !== JSON.stringify(expected))
      throw evidenceInvalid(
        file,
        `its entry ${d.index} does not list the records that entry rests on, and its gaps, as the pack holds them`,
      );
    for (const n of present) {
      checkRecord(n, files, event);
      n.files.forEach((f) => used.add(f));
    }
    gaps.push(...absent);
  }
  const stray = [...files.keys()].find((f) => !used.has(f));
  if (stray !== undefined) throw evidenceInvalid(stray, 'no selected decision rests on this file');
  return gaps;
}

/** Checks the pack at `file`; gaps are returned, not thrown, unless the caller does not accept them. */
export async function verifyPack(
  file: string,
  verifiers: readonly NoteVerifier[],
  o: { acceptGaps?: boolean } = {},
): Promise<EvidenceVerification> {
  if (verifiers.length === 0)
    throw new ModelsealError('INVALID_ARGUMENT', 'give the log verifier key(s) to check the pack under');
  const limit = EVIDENCE_LIMITS.manifestBytes + EVIDENCE_LIMITS.files * 1024 + 4 * EVIDENCE_LIMITS.fileBytes;
  let pack: Buffer;
  try {
    if ((await stat(file)).size > limit) throw evidenceInvalid('(archive)', `larger than ${limit} bytes`);
    pack = await readFile(file);
  } catch (cause) {
    if (cause instanceof ModelsealError) throw cause;
    throw new ModelsealError('INVALID_ARGUMENT', `cannot read the evidence pack ${file}: ${fsReason(cause)}`, {
      cause,
    });
  }
  const { manifest, files } = readPackFiles(pack, verifiers);
  const text = (name: string) => files.get(name)!.toString('utf8');
  const c = signedCheckpoint('checkpoint', text('checkpoint'), verifiers, manifest.origin);
  const latest = signedCheckpoint('latest', text('latest'), verifiers, manifest.origin);
  const k = parseConsistency(text('consistency'));
  if (
    k.first !== c.size ||
    k.second !== latest.size ||
    !verifyConsistency(c.size, latest.size, k.proof, c.root, latest.root)
  )
    throw evidenceInvalid(
      'consistency',
      `does not prove the checkpoint of size ${c.size} a prefix of the latest, size ${latest.size}`,
    );
  let vkey: NoteVerifier;
  try {
    vkey = parseVerifierKey(text('log.vkey'));
  } catch (cause) {
    throw evidenceInvalid('log.vkey', 'not a note verifier key', cause);
  }
  if (vkey.name !== manifest.origin) throw evidenceInvalid('log.vkey', `not a key of log ${manifest.origin}`);
  const entries = provenEntries(files, text('checkpoint'), c);
  const head = (x: Checkpoint) => ({ size: x.size, root: x.root.toString('base64') });
  const gaps = checkDecisions(files, entries, { origin: manifest.origin, checkpoint: head(c), latest: head(latest) });
  try {
    JSON.parse(text('report.json'));
  } catch (cause) {
    throw evidenceInvalid('report.json', 'not JSON', cause);
  }
  if (gaps.length > 0 && !o.acceptGaps)
    throw new ModelsealError(
      'EVIDENCE_INCOMPLETE',
      `decisions.json: the pack declares ${gaps.length} missing record(s): ` +
        gaps.map((g) => `${g.kind} ${g.ref} (entry ${g.entry})`).join('; ') +
        '. The signatures, proofs and digests check; pass --accept-gaps to accept a pack with these gaps',
      { details: { gaps } },
    );
  return {
    ok: true,
    origin: manifest.origin,
    entries: entries.size,
    decisions: entries.size,
    files: files.size + 1,
    checkpoint: head(c),
    latest: head(latest),
    gaps,
    verifiedBy: manifest.verifiedBy,
  };
}
