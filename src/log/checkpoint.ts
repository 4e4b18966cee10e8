/**
 * C2SP tlog-checkpoint bodies (https://c2sp.org/tlog-checkpoint) and tlog-proof receipts
 * (https://c2sp.org/tlog-proof): the text a log signs about its tree, and the offline proof that
 * one entry is in it.
 */
import { ModelsealError } from '../errors.js';
import { HASH_SIZE, leafHash, verifyInclusion, type Hash } from './merkle.js';
import { openNote, type NoteVerifier } from './note.js';

export interface Checkpoint {
  origin: string;
  size: number;
  root: Hash;
  /** Extension lines after the root, if any. */
  extensions: string[];
}

function invalid(message: string): ModelsealError {
  return new ModelsealError('LOG_INVALID', message);
}

const DECIMAL = /^(0|[1-9][0-9]*)$/;

function parseSize(s: string | undefined, what: string): number {
  const n = s !== undefined && DECIMAL.test(s) ? Number(s) : NaN;
  if (!Number.isSafeInteger(n)) throw invalid(`${what} is not a decimal number: ${JSON.stringify(s?.slice(0, 40))}`);
  return n;
}

function parseHash(s: string | undefined, what: string): Hash {
  const h = s !== undefined ? Buffer.from(s, 'base64') : Buffer.alloc(0);
  if (h.length !== HASH_SIZE || h.toString('base64') !== s) throw invalid(`${what} is not a base64 SHA-256 hash`);
  return h;
}

/** The checkpoint text that the log signs. */
export function formatCheckpoint(c: Checkpoint): string {
  return [c.origin, String(c.size), c.root.toString('base64'), ...c.extensions].join('\n') + '\n';
}

/** Parses a checkpoint body (the text of a signed note). */
export function parseCheckpoint(text: string): Checkpoint {
  const lines = text.split('\n');
  if (lines.pop() !== '' || lines.length < 3)
    throw invalid('a checkpoint has an origin, a size and a root hash, each on a line');
  const [origin, size, root, ...extensions] = lines;
  if (!origin) throw invalid('the checkpoint origin line is empty');
  if (extensions.some((e) => e === '')) throw invalid('a checkpoint extension line is empty');
  return {
    origin,
    size: parseSize(size, 'the checkpoint size'),
    root: parseHash(root, 'the checkpoint root'),
    extensions,
  };
}

/** The checkpoint in a signed note, without checking its signatures (for a log's own stored notes). */
export function unverifiedCheckpoint(note: string): Checkpoint {
  return parseCheckpoint(note.slice(0, note.lastIndexOf('\n\n') + 1));
}

/** Checks a signed checkpoint note against the log's key and origin; returns the checkpoint. */
export function openCheckpoint(note: string, log: NoteVerifier, origin = log.name): Checkpoint {
  const c = parseCheckpoint(openNote(note, [log]).text);
  if (c.origin !== origin)
    throw invalid(`the checkpoint is for log ${JSON.stringify(c.origin)}, not ${JSON.stringify(origin)}`);
  return c;
}

const PROOF_HEADER = 'c2sp.org/tlog-proof@v1';

/** A tlog-proof: where an entry is, the inclusion proof, and the signed checkpoint it proves against. */
export interface TlogProof {
  index: number;
  proof: Hash[];
  /** The signed checkpoint note, verbatim. */
  checkpoint: string;
  extra?: Buffer;
}

export function formatProof(p: TlogProof): string {
  const lines = [PROOF_HEADER];
  if (p.extra) lines.push(`extra ${p.extra.toString('base64')}`);
  lines.push(`index ${p.index}`, ...p.proof.map((h) => h.toString('base64')));
  return `${lines.join('\n')}\n\n${p.checkpoint}`;
}

export function parseProof(text: string): TlogProof {
  const split = text.indexOf('\n\n');
  if (!text.startsWith(PROOF_HEADER + '\n') || split < 0) throw invalid(`not a ${PROOF_HEADER} proof`);
  const lines = text.slice(0, split).split('\n').slice(1);
  let extra: Buffer | undefined;
  if (lines[0]?.startsWith('extra ')) {
    const b64 = lines.shift()!.slice(6);
    extra = Buffer.from(b64, 'base64');
    if (extra.toString('base64') !== b64) throw invalid('the proof extra data is not base64');
  }
  const index = lines.shift();
  if (!index?.startsWith('index ')) throw invalid('the proof has no index line');
  return {
    index: parseSize(index.slice(6), 'the proof index'),
    proof: lines.map((l, i) => parseHash(l, `inclusion proof line ${i + 1}`)),
    checkpoint: text.slice(split + 2),
    ...(extra ? { extra } : {}),
  };
}

/**
 * Verifies a tlog-proof offline: the checkpoint's signature by the log, its origin, and the
 * inclusion of `entry` at the stated index. `entry` defaults to the proof's extra data (modelseal
 * receipts carry the logged entry there); when both are present they must be equal.
 * Returns the entry, its index and the checkpoint; throws LOG_INVALID.
 */
export function verifyProof(
  text: string,
  entry: Uint8Array | undefined,
  log: NoteVerifier,
  origin = log.name,
): { index: number; entry: Buffer; checkpoint: Checkpoint } {
  const p = parseProof(text);
  const checkpoint = openCheckpoint(p.checkpoint, log, origin);
  const logged = entry ? Buffer.from(entry) : p.extra;
  if (!logged) throw invalid('the proof carries no entry and none was given: pass the logged entry');
  if (entry && p.extra && !p.extra.equals(logged))
    throw invalid('the entry given differs from the entry the proof carries');
  if (!verifyInclusion(leafHash(logged), p.index, checkpoint.size, p.proof, checkpoint.root)) {
    throw invalid(`the inclusion proof for entry ${p.index} does not match the checkpoint of size ${checkpoint.size}`);
  }
  return { index: p.index, entry: logged, checkpoint };
}

/**
 * The checkpoint origin C2SP tlog-tiles recommends for a log served at `prefix`: the URL without
 * its scheme and trailing slashes ("https://rome.example/tevere/" → "rome.example/tevere").
 */
export function originOfPrefix(prefix: string): string {
  let u: URL;
  try {
    u = new URL(prefix);
  } catch (cause) {
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `${JSON.stringify(prefix)} is not a URL; give the log's URL prefix, e.g. https://releases.example/log`,
      { cause },
    );
  }
  if ((u.protocol !== 'https:' && u.protocol !== 'http:') || u.search || u.hash || u.username || u.password) {
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `${JSON.stringify(prefix)}: the log's URL prefix is an http(s) URL without query, fragment or credentials`,
    );
  }
  const origin = `${u.host}${u.pathname.replace(/\/+$/, '')}`;
  if (/[\s+]/.test(origin))
    throw new ModelsealError('INVALID_ARGUMENT', `${JSON.stringify(prefix)}: a log origin cannot hold spaces or "+"`);
  return origin;
}
