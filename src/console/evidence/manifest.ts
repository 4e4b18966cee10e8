/**
 * The pack's manifest (docs/AUDIT.md, "The manifest"): a C2SP signed note by the log key whose text
 * is "modelseal evidence v1", the log's origin, then one line per file: SHA-256 (hex), size, name.
 * Its second line is not a decimal tree size, so the text can never be read as a checkpoint.
 */
import { openNote, signNote, type NoteSigner, type NoteVerifier } from '../../log/note.js';
import { EVIDENCE_LIMITS, EVIDENCE_VERSION, evidenceInvalid, isPackName, MANIFEST, sha256Hex } from './pack.js';

export interface ManifestFile {
  name: string;
  sha256: string;
  size: number;
}

export interface Manifest {
  origin: string;
  files: ManifestFile[];
  /** Names of the verifier keys whose signatures verified. */
  verifiedBy: string[];
}

/** The signed manifest of `files` (in pack order). */
export async function signManifest(
  origin: string,
  files: ReadonlyMap<string, Buffer>,
  signer: NoteSigner,
): Promise<string> {
  const lines = [EVIDENCE_VERSION, `origin ${origin}`];
  for (const [name, data] of files) lines.push(`${sha256Hex(data)} ${data.length} ${name}`);
  return signNote(lines.join('\n') + '\n', [signer]);
}

const LINE = /^([0-9a-f]{64}) (0|[1-9][0-9]{0,15}) (\S+)$/;

/** Checks the manifest's signature under one of `verifiers` and parses it; EVIDENCE_INVALID naming the manifest. */
export function openManifest(note: string, verifiers: readonly NoteVerifier[]): Manifest {
  let opened;
  try {
    opened = openNote(note, verifiers);
  } catch (cause) {
    throw evidenceInvalid(
      MANIFEST,
      `its signature does not verify under the log key(s) given: ${(cause as Error).message}`,
      cause,
    );
  }
  const [version, originLine, ...rest] = opened.text.slice(0, -1).split('\n');
  if (version !== EVIDENCE_VERSION) throw evidenceInvalid(MANIFEST, `its first line is not "${EVIDENCE_VERSION}"`);
  if (!originLine?.startsWith('origin ') || originLine.length <= 7)
    throw evidenceInvalid(MANIFEST, 'its second line is not "origin <log origin>"');
  if (rest.length > EVIDENCE_LIMITS.files)
    throw evidenceInvalid(MANIFEST, `it lists more than ${EVIDENCE_LIMITS.files} files`);
  const seen = new Set<string>([MANIFEST]);
  const files = rest.map((line, i) => {
    const m = LINE.exec(line);
    if (!m) throw evidenceInvalid(MANIFEST, `line ${i + 3} is not "<sha256 hex> <size> <name>"`);
    const [, sha256, size, name] = m as unknown as [string, string, string, string];
    if (!isPackName(name) || seen.has(name))
      throw evidenceInvalid(MANIFEST, `line ${i + 3} names ${JSON.stringify(name)}: not a pack file name, or twice`);
    seen.add(name);
    if (Number(size) > EVIDENCE_LIMITS.fileBytes)
      throw evidenceInvalid(name, `the manifest gives it ${size} bytes; the limit is ${EVIDENCE_LIMITS.fileBytes}`);
    return { name, sha256, size: Number(size) };
  });
  return { origin: originLine.slice(7), files, verifiedBy: opened.verifiedBy };
}
