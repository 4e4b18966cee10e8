/**
 * The modelseal/v1 header: pure encode and parse over bytes. No crypto and no I/O here; the
 * MAC is computed and checked one level up (src/crypto/keyschedule.ts, src/package/).
 *
 * Wire form (docs/FORMAT.md §Header), three LF-terminated lines:
 *   modelseal/v1
 *   {canonical JSON body}
 *   --- <base64url HMAC-SHA-256 of the two lines above>
 */
import { ModelsealError } from '../errors.js';
import type { ClassificationRecord } from './classification.js';
import {
  SUMMARY_RULE,
  classificationFromJson,
  classificationJson,
  summaryFromUnknown,
  type ClassificationSummary,
} from './classification-json.js';
import { decodeUtf8, fromB64, fromHex, toB64, toHex, utf8 } from './encoding.js';
import { LIMITS, isValidChunkSize } from './limits.js';
import { checkPathSet } from './paths.js';

export const VERSION_LINE = 'modelseal/v1';

export interface FileEntry {
  /** Relative POSIX path inside the model folder (or the file name for a single-file package). */
  path: string;
  size: number;
  /** 0o644, or 0o755 for an executable file; nothing else is recorded. */
  mode: number;
}

/**
 * One recipient's wrapped copy of the data key; the release context it was wrapped under is derived
 * from it and the header.
 */
export interface Stanza {
  /** Provider type, e.g. "local", "x25519". */
  type: string;
  recipient: string;
  license: string;
  /** Hash of the policy the release is bound to ("none" when no policy applies). */
  policy: string;
  /**
   * The original model's root digest, when the package holds a fingerprinted copy of it (release
   * stanzas only, docs/FORMAT.md §5): bound into the release context, so a license naming the model
   * covers the copy.
   */
  model?: Uint8Array;
  /**
   * The key group this stanza belongs to (packages with key groups only): it wraps that group's key,
   * not the data key.
   */
  group?: number;
  /**
   * The package's classification as the release policy reads it (release stanzas of a classified
   * package only, docs/FORMAT.md §5): bound into the release context, so a changed claim does not unwrap.
   */
  classification?: ClassificationSummary;
  /** Provider-specific public arguments (an ephemeral key, a key id). */
  args: string[];
  body: Uint8Array;
}

/**
 * k-of-n custody (docs/FORMAT.md §5): the data key is split by Shamir secret sharing into one share
 * per group, each sealed under its group's key; the stanzas of a group wrap that group key.
 */
export interface KeyGroups {
  threshold: number;
  /** Per group: its Shamir share of the data key, sealed under the group key (SHARE_SEALED_BYTES). */
  shares: Uint8Array[];
}

export interface Header {
  packageId: Uint8Array;
  /** RFC 3339 UTC time of sealing, to the second. */
  created: string;
  chunkSize: number;
  /** A single file, or a folder (whose files are relative paths inside it). */
  model: { name: string; kind: 'file' | 'folder'; rootDigest: Uint8Array };
  /** Plaintext size of the encrypted provenance entry (the OMS bundle). */
  provenanceSize: number;
  files: FileEntry[];
  stanzas: Stanza[];
  /** Present only when opening needs several key groups. */
  keyGroups?: KeyGroups;
  /** Present when the weights carry a recipient's fingerprint (docs/FINGERPRINT.md). */
  fingerprint?: FingerprintTag;
  /** What the checkpoint is under export rules, as `seal` determined it (docs/FORMAT.md §Classification). */
  classification?: ClassificationRecord;
  /** HKDF-derived key commitment (docs/FORMAT.md §Key schedule). */
  commitment: Uint8Array;
}

/** Which fingerprint the weights carry: signed with the header, so the provenance names it. */
export interface FingerprintTag {
  id: string;
  recipient: string;
  keyId: string;
  scheme: string;
  params: { support: number; c: number };
  /** Root digest of the checkpoint before marking. */
  original: Uint8Array;
}

/** A sealed share: a 33-byte Shamir share (32 bytes and its x-coordinate) and a 16-byte GCM tag. */
export const SHARE_SEALED_BYTES = 49;

export interface ParsedHeader {
  header: Header;
  /** The bytes the MAC covers: the version line and the body line. */
  macInput: Uint8Array;
  mac: Uint8Array;
}

const SHORT_TEXT = /^[\x20-\x7e]{1,512}$/;
const CREATED = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

function stanzaJson(s: Stanza): Record<string, unknown> {
  return {
    type: s.type,
    recipient: s.recipient,
    license: s.license,
    policy: s.policy,
    ...(s.model !== undefined ? { model: `sha256:${toHex(s.model)}` } : {}),
    ...(s.group !== undefined ? { group: s.group } : {}),
    ...(s.classification ? { classification: summaryJson(s.classification) } : {}),
    args: s.args,
    body: toB64(s.body),
  };
}

function summaryJson(c: ClassificationSummary): Record<string, unknown> {
  return { record: c.record, usEar: c.usEar, rulePacks: [...c.rulePacks] };
}

function summaryFromJson(v: unknown, what: string): ClassificationSummary {
  const c = summaryFromUnknown(v);
  if (!c) throw bad(`${what}: ${SUMMARY_RULE}`);
  return c;
}

function fingerprintJson(f: FingerprintTag): Record<string, unknown> {
  return {
    id: f.id,
    recipient: f.recipient,
    keyId: f.keyId,
    scheme: f.scheme,
    params: { support: f.params.support, c: f.params.c },
    original: `sha256:${toHex(f.original)}`,
  };
}

function bodyJson(h: Header): string {
  // Key order here IS the canonical order; parse re-encodes and compares bytes.
  return JSON.stringify({
    packageId: toB64(h.packageId),
    created: h.created,
    chunkSize: h.chunkSize,
    model: { name: h.model.name, kind: h.model.kind, rootDigest: `sha256:${toHex(h.model.rootDigest)}` },
    provenance: { size: h.provenanceSize },
    files: h.files.map((f) => ({ path: f.path, size: f.size, mode: f.mode })),
    stanzas: h.stanzas.map(stanzaJson),
    ...(h.keyGroups ? { keyGroups: { threshold: h.keyGroups.threshold, shares: h.keyGroups.shares.map(toB64) } } : {}),
    ...(h.fingerprint ? { fingerprint: fingerprintJson(h.fingerprint) } : {}),
    ...(h.classification ? { classification: classificationJson(h.classification) } : {}),
    commitment: toB64(h.commitment),
  });
}

/** The bytes the header MAC covers. Validates the header first, so nothing invalid is ever written. */
export function encodeHeaderMacInput(h: Header): Uint8Array {
  validateHeader(h);
  return utf8.encode(`${VERSION_LINE}\n${bodyJson(h)}\n`);
}

/** Encodes the complete header entry given its MAC. */
export function encodeHeader(h: Header, mac: Uint8Array): Uint8Array {
  if (mac.length !== 32) throw new ModelsealError('INVALID_ARGUMENT', 'mac: expected 32 bytes');
  return utf8.encode(`${VERSION_LINE}\n${bodyJson(h)}\n--- ${toB64(mac)}\n`);
}

/** Size in bytes of one stanza as stored, for the per-stanza limit. */
export function encodedStanzaSize(s: Stanza): number {
  return utf8.encode(JSON.stringify(stanzaJson(s))).length;
}

/**
 * Parses a header entry. Throws MALFORMED_PACKAGE, UNSUPPORTED_VERSION, HEADER_TOO_LARGE,
 * TOO_MANY_STANZAS, STANZA_TOO_LARGE, TOO_MANY_FILES or UNSAFE_PATH; accepts only the canonical
 * encoding, so encodeHeader(parse(b)) reproduces b exactly.
 */
export function parseHeader(bytes: Uint8Array): ParsedHeader {
  if (bytes.length > LIMITS.maxHeaderBytes) {
    throw new ModelsealError(
      'HEADER_TOO_LARGE',
      `header is ${bytes.length} bytes; the limit is ${LIMITS.maxHeaderBytes}`,
    );
  }
  const text = decodeUtf8(bytes, 'header');
  const firstNl = text.indexOf('\n');
  const version = firstNl < 0 ? text : text.slice(0, firstNl);
  if (version !== VERSION_LINE) {
    if (/^modelseal\/v\d+$/.test(version)) {
      throw new ModelsealError(
        'UNSUPPORTED_VERSION',
        `package format ${version} is not supported by this build (it reads ${VERSION_LINE}); upgrade modelseal`,
      );
    }
    throw new ModelsealError(
      'MALFORMED_PACKAGE',
      'not a modelseal package: the header does not start with "modelseal/v1"',
    );
  }
  const lines = text.split('\n');
  if (lines.length !== 4 || lines[3] !== '' || !lines[2]!.startsWith('--- ')) {
    throw new ModelsealError('MALFORMED_PACKAGE', 'header must be exactly three lines: version, body, "--- <mac>"');
  }
  const mac = fromB64(lines[2]!.slice(4), 'header MAC', 32);
  let raw: unknown;
  try {
    raw = JSON.parse(lines[1]!);
  } catch (cause) {
    throw new ModelsealError('MALFORMED_PACKAGE', 'header body is not valid JSON', { cause });
  }
  const header = headerFromJson(raw);
  validateHeader(header);
  if (bodyJson(header) !== lines[1]) {
    throw new ModelsealError('MALFORMED_PACKAGE', 'header body is not in canonical form');
  }
  const macInput = utf8.encode(`${lines[0]}\n${lines[1]}\n`);
  return { header, macInput, mac };
}

// ---- schema -------------------------------------------------------------------------------

type Json = Record<string, unknown>;

function obj(v: unknown, what: string, keys: readonly string[]): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(`${what} must be an object`);
  const got = Object.keys(v);
  if (got.length !== keys.length || !keys.every((k) => k in v)) {
    throw bad(`${what} must have exactly the fields ${keys.join(', ')}`);
  }
  return v as Json;
}

function str(v: unknown, what: string): string {
  if (typeof v !== 'string') throw bad(`${what} must be a string`);
  return v;
}

function int(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad(`${what} must be a non-negative integer`);
  return v;
}

function arr(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) throw bad(`${what} must be an array`);
  return v;
}

function bad(message: string): ModelsealError {
  return new ModelsealError('MALFORMED_PACKAGE', `header: ${message}`);
}

function headerFromJson(raw: unknown): Header {
  const grouped = typeof raw === 'object' && raw !== null && 'keyGroups' in raw;
  const marked = typeof raw === 'object' && raw !== null && 'fingerprint' in raw;
  const classified = typeof raw === 'object' && raw !== null && 'classification' in raw;
  const o = obj(raw, 'body', [
    'packageId',
    'created',
    'chunkSize',
    'model',
    'provenance',
    'files',
    'stanzas',
    ...(grouped ? ['keyGroups'] : []),
    ...(marked ? ['fingerprint'] : []),
    ...(classified ? ['classification'] : []),
    'commitment',
  ]);
  // Count limits first: they bound all the work below.
  const stanzasRaw = arr(o.stanzas, 'stanzas');
  if (stanzasRaw.length > LIMITS.maxStanzas) {
    throw new ModelsealError(
      'TOO_MANY_STANZAS',
      `package has ${stanzasRaw.length} recipient stanzas; the limit is ${LIMITS.maxStanzas}`,
    );
  }
  const filesRaw = arr(o.files, 'files');
  if (filesRaw.length > LIMITS.maxFiles) {
    throw new ModelsealError(
      'TOO_MANY_FILES',
      `package lists ${filesRaw.length} files; the limit is ${LIMITS.maxFiles}`,
    );
  }
  const model = obj(o.model, 'model', ['name', 'kind', 'rootDigest']);
  const kind = str(model.kind, 'model.kind');
  if (kind !== 'file' && kind !== 'folder') throw bad('model.kind must be "file" or "folder"');
  const rootDigest = str(model.rootDigest, 'model.rootDigest');
  if (!rootDigest.startsWith('sha256:')) throw bad('model.rootDigest must be "sha256:<hex>"');
  const provenance = obj(o.provenance, 'provenance', ['size']);
  return {
    packageId: fromB64(str(o.packageId, 'packageId'), 'packageId', 32),
    created: str(o.created, 'created'),
    chunkSize: int(o.chunkSize, 'chunkSize'),
    model: {
      name: str(model.name, 'model.name'),
      kind,
      rootDigest: fromHex(rootDigest.slice(7), 'model.rootDigest', 32),
    },
    provenanceSize: int(provenance.size, 'provenance.size'),
    files: filesRaw.map((f, i) => {
      const e = obj(f, `files[${i}]`, ['path', 'size', 'mode']);
      return {
        path: str(e.path, `files[${i}].path`),
        size: int(e.size, `files[${i}].size`),
        mode: int(e.mode, `files[${i}].mode`),
      };
    }),
    stanzas: stanzasRaw.map((s, i) => {
      const size = utf8.encode(JSON.stringify(s)).length;
      if (size > LIMITS.maxStanzaBytes) {
        throw new ModelsealError(
          'STANZA_TOO_LARGE',
          `stanza ${i} is ${size} bytes; the limit is ${LIMITS.maxStanzaBytes}`,
        );
      }
      const hasModel = typeof s === 'object' && s !== null && 'model' in s;
      const hasClass = typeof s === 'object' && s !== null && 'classification' in s;
      const e = obj(s, `stanzas[${i}]`, [
        'type',
        'recipient',
        'license',
        'policy',
        ...(hasModel ? ['model'] : []),
        ...(grouped ? ['group'] : []),
        ...(hasClass ? ['classification'] : []),
        'args',
        'body',
      ]);
      return {
        type: str(e.type, `stanzas[${i}].type`),
        recipient: str(e.recipient, `stanzas[${i}].recipient`),
        license: str(e.license, `stanzas[${i}].license`),
        policy: str(e.policy, `stanzas[${i}].policy`),
        ...(hasModel ? { model: digestFromJson(e.model, `stanzas[${i}].model`) } : {}),
        ...(grouped ? { group: int(e.group, `stanzas[${i}].group`) } : {}),
        ...(hasClass ? { classification: summaryFromJson(e.classification, `stanzas[${i}].classification`) } : {}),
        args: arr(e.args, `stanzas[${i}].args`).map((a, j) => str(a, `stanzas[${i}].args[${j}]`)),
        body: fromB64(str(e.body, `stanzas[${i}].body`), `stanzas[${i}].body`),
      };
    }),
    ...(grouped ? { keyGroups: keyGroupsFromJson(o.keyGroups) } : {}),
    ...(marked ? { fingerprint: fingerprintFromJson(o.fingerprint) } : {}),
    ...(classified ? { classification: classificationFromJson(o.classification) } : {}),
    commitment: fromB64(str(o.commitment, 'commitment'), 'commitment', 32),
  };
}

function fingerprintFromJson(raw: unknown): FingerprintTag {
  const f = obj(raw, 'fingerprint', ['id', 'recipient', 'keyId', 'scheme', 'params', 'original']);
  const p = obj(f.params, 'fingerprint.params', ['support', 'c']);
  if (typeof p.support !== 'number' || typeof p.c !== 'number') throw bad('fingerprint.params must hold numbers');
  return {
    id: str(f.id, 'fingerprint.id'),
    recipient: str(f.recipient, 'fingerprint.recipient'),
    keyId: str(f.keyId, 'fingerprint.keyId'),
    scheme: str(f.scheme, 'fingerprint.scheme'),
    params: { support: p.support, c: p.c },
    original: digestFromJson(f.original, 'fingerprint.original'),
  };
}

/** A "sha256:<64 hex>" field as its 32 bytes. */
function digestFromJson(v: unknown, what: string): Uint8Array {
  const d = str(v, what);
  if (!d.startsWith('sha256:')) throw bad(`${what} must be "sha256:<hex>"`);
  return fromHex(d.slice(7), what, 32);
}

function keyGroupsFromJson(raw: unknown): KeyGroups {
  const g = obj(raw, 'keyGroups', ['threshold', 'shares']);
  const shares = arr(g.shares, 'keyGroups.shares');
  if (shares.length > LIMITS.maxKeyGroups) throw bad(`keyGroups: at most ${LIMITS.maxKeyGroups} groups`);
  return {
    threshold: int(g.threshold, 'keyGroups.threshold'),
    shares: shares.map((x, i) =>
      fromB64(str(x, `keyGroups.shares[${i}]`), `keyGroups.shares[${i}]`, SHARE_SEALED_BYTES),
    ),
  };
}

/** Semantic checks shared by encode and parse, so an invalid header can be neither written nor read. */
export function validateHeader(h: Header): void {
  const fail = (m: string) => {
    throw bad(m);
  };
  if (h.packageId.length !== 32) fail('packageId must be 32 bytes');
  if (h.commitment.length !== 32) fail('commitment must be 32 bytes');
  if (h.model.rootDigest.length !== 32) fail('model.rootDigest must be 32 bytes');
  if (!CREATED.test(h.created) || Number.isNaN(Date.parse(h.created)))
    fail('created must be an RFC 3339 UTC time like 2026-01-02T03:04:05Z');
  if (!isValidChunkSize(h.chunkSize)) fail(`chunkSize ${h.chunkSize} is not a power of two from 65536 to 16777216`);
  // eslint-disable-next-line no-control-regex -- the point: a model name holds no control characters
  if (!/^[^\u0000-\u001f\u007f/\\]{1,255}$/.test(h.model.name))
    fail('model.name must be 1-255 characters without "/" or control characters');
  if (!Number.isSafeInteger(h.provenanceSize) || h.provenanceSize < 1 || h.provenanceSize > LIMITS.maxProvenanceBytes) {
    fail(`provenance.size must be 1..${LIMITS.maxProvenanceBytes}`);
  }
  if (h.fingerprint) {
    const f = h.fingerprint;
    if (![f.id, f.recipient, f.keyId, f.scheme].every((x) => SHORT_TEXT.test(x)))
      fail('fingerprint: id, recipient, keyId and scheme must be 1-512 printable ASCII characters');
    if (f.original.length !== 32) fail('fingerprint.original must be 32 bytes');
    if (!(f.params.support > 0 && f.params.support < 1) || !Number.isSafeInteger(f.params.c))
      fail('fingerprint.params out of range');
  }
  if (h.files.length === 0) fail('a package holds at least one file');
  if (h.model.kind === 'file' && (h.files.length !== 1 || h.files[0]!.path !== h.model.name))
    fail('a single-file package holds exactly one file named like the model');
  if (h.files.length > LIMITS.maxFiles) {
    throw new ModelsealError(
      'TOO_MANY_FILES',
      `package lists ${h.files.length} files; the limit is ${LIMITS.maxFiles}`,
    );
  }
  if (h.stanzas.length === 0) fail('a package has at least one recipient stanza');
  if (h.stanzas.length > LIMITS.maxStanzas) {
    throw new ModelsealError(
      'TOO_MANY_STANZAS',
      `package has ${h.stanzas.length} recipient stanzas; the limit is ${LIMITS.maxStanzas}`,
    );
  }
  for (const f of h.files) {
    if (!Number.isSafeInteger(f.size) || f.size < 0) fail(`file ${JSON.stringify(f.path)} has an invalid size`);
    if (f.mode !== 0o644 && f.mode !== 0o755)
      fail(`file ${JSON.stringify(f.path)} has mode ${f.mode.toString(8)}; only 644 and 755 are recorded`);
  }
  checkPathSet(h.files.map((f) => f.path));
  if (h.keyGroups) {
    const n = h.keyGroups.shares.length;
    if (n < 2 || n > LIMITS.maxKeyGroups) fail(`keyGroups: 2 to ${LIMITS.maxKeyGroups} groups`);
    if (!Number.isSafeInteger(h.keyGroups.threshold) || h.keyGroups.threshold < 2 || h.keyGroups.threshold > n)
      fail(`keyGroups.threshold must be 2..${n}`);
    if (h.keyGroups.shares.some((x) => x.length !== SHARE_SEALED_BYTES))
      fail(`keyGroups.shares must be ${SHARE_SEALED_BYTES} bytes each`);
    for (let g = 0; g < n; g++)
      if (!h.stanzas.some((s) => s.group === g)) fail(`key group ${g} has no stanza: nobody could open it`);
  }
  for (const [i, s] of h.stanzas.entries()) {
    if (
      h.keyGroups
        ? !(Number.isSafeInteger(s.group) && s.group! >= 0 && s.group! < h.keyGroups.shares.length)
        : s.group !== undefined
    ) {
      fail(
        h.keyGroups
          ? `stanzas[${i}].group must name one of the ${h.keyGroups.shares.length} key groups`
          : `stanzas[${i}] has a group but the package has no key groups`,
      );
    }
    if (!/^[a-z][a-z0-9-]{0,31}$/.test(s.type)) fail(`stanzas[${i}].type must be a short lowercase name`);
    for (const [k, v] of [
      ['recipient', s.recipient],
      ['license', s.license],
      ['policy', s.policy],
    ] as const) {
      if (!SHORT_TEXT.test(v)) fail(`stanzas[${i}].${k} must be 1-512 printable ASCII characters`);
    }
    if (s.args.length > 8 || s.args.some((a) => !SHORT_TEXT.test(a)))
      fail(`stanzas[${i}].args: at most 8 printable strings of 1-512 characters`);
    if (s.model !== undefined && s.model.length !== 32) fail(`stanzas[${i}].model must be 32 bytes`);
    if (s.classification && !summaryFromUnknown(s.classification))
      fail(`stanzas[${i}].classification: ${SUMMARY_RULE}`);
    if (s.body.length === 0) fail(`stanzas[${i}].body is empty`);
    if (encodedStanzaSize(s) > LIMITS.maxStanzaBytes) {
      throw new ModelsealError('STANZA_TOO_LARGE', `stanza ${i} is larger than ${LIMITS.maxStanzaBytes} bytes`);
    }
  }
}
