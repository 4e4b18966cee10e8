/**
 * OpenSSF Model Signing (OMS) signatures, byte-compatible with the reference `model-signing`
 * Python package 1.1.1 (`model_signing sign key` / `model_signing verify key`).
 *
 * A `model.sig` is a Sigstore bundle v0.3 holding a DSSE envelope over an in-toto Statement v1
 * whose predicate lists every file of the model with its SHA-256 ("files" serialization).
 * References: model_signing/_signing/signing.py (Payload, dsse_payload_to_manifest),
 * model_signing/_signing/sign_ec_key.py, model_signing/_signing/sign_sigstore_pb.py,
 * model_signing/manifest.py, https://github.com/secure-systems-lab/dsse/blob/v1.0.0/protocol.md.
 */
import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { ModelsealError } from '../errors.js';

/** One file of the model: its POSIX path relative to the model root and its SHA-256. */
export interface ManifestEntry {
  path: string;
  /** Informative only: the "files" serialization does not record sizes. */
  size: number;
  sha256: Uint8Array;
}

const BUNDLE_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const PAYLOAD_TYPE = 'application/vnd.in-toto+json';
const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
const PREDICATE_TYPE = 'https://model_signing/signature/v1.0';
/** sign_ec_key.get_ec_key_hash: the ECDSA hash follows the curve size. */
const CURVE_HASH: Record<string, string> = { prime256v1: 'sha256', secp384r1: 'sha384', secp521r1: 'sha512' };

const sha256 = (data: Uint8Array | string): Buffer => createHash('sha256').update(data).digest();
const bad = (message: string, cause?: unknown): ModelsealError =>
  new ModelsealError('SIGNATURE_INVALID', `model signature: ${message}`, cause === undefined ? undefined : { cause });
const invalid = (message: string): ModelsealError => new ModelsealError('INVALID_ARGUMENT', message);

/**
 * The resource name of a single-file model: `path.relative_to(model_path)` of the file itself
 * (serialization/file.py).
 */
const SINGLE_FILE_RESOURCE = '.';
/**
 * What `model_signing sign key` records as ignore_paths for a single file: its default
 * --ignore-git-paths (hashing.Config).
 */
const REFERENCE_GIT_PATHS = ['.github', '.gitignore', '.gitattributes', '.git'];

/** A path as `str(pathlib.PurePosixPath(p))` prints it: relative, no empty, "." or ".." segment. */
function checkPath(p: unknown, what: string): string {
  if (typeof p !== 'string' || p === '' || p.split('/').some((s) => s === '' || s === '.' || s === '..')) {
    throw invalid(`${what}: expected a normalized relative POSIX path, got ${JSON.stringify(p)}`);
  }
  return p;
}

/**
 * Python sorts manifest keys with `sorted()`; a key is a dataclass around `PurePosixPath`, whose
 * order compares the tuples of path components, each by code point (= UTF-8 byte order).
 * So "a/b" < "a.txt" (component "a" < "a.txt"), unlike a plain string sort.
 */
function comparePaths(a: string, b: string): number {
  const pa = a.split('/');
  const pb = b.split('/');
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const c = Buffer.compare(Buffer.from(pa[i]!, 'utf8'), Buffer.from(pb[i]!, 'utf8'));
    if (c !== 0) return c;
  }
  return pa.length - pb.length;
}

/** `PurePosixPath.is_relative_to`: equal to or below `base`. */
const isUnder = (path: string, base: string): boolean => path === base || path.startsWith(`${base}/`);

function sortedEntries(entries: readonly ManifestEntry[]): ManifestEntry[] {
  const seen = new Set<string>();
  for (const e of entries) {
    checkPath(e.path, 'entry path');
    if (!(e.sha256 instanceof Uint8Array) || e.sha256.length !== 32)
      throw invalid(`${e.path}: sha256 must be 32 bytes`);
    if (seen.has(e.path)) throw invalid(`${e.path}: listed twice`);
    seen.add(e.path);
  }
  return [...entries].sort((x, y) => comparePaths(x.path, y.path));
}

/** SHA-256 of a file's content, read in 1 MiB pieces: a manifest entry's digest. */
export async function hashFile(path: string): Promise<Uint8Array> {
  const h = createHash('sha256');
  for await (const b of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(b as Buffer);
  return new Uint8Array(h.digest());
}

/**
 * The model root digest exactly as model-signing's "files" serialization computes the in-toto
 * subject digest: SHA-256 over the concatenated raw file digests, files in Manifest order
 * (signing.Payload.__init__ over manifest.resource_descriptors(), which sorts). Order-independent.
 */
export function computeRootDigest(entries: readonly ManifestEntry[]): Uint8Array {
  const h = createHash('sha256');
  for (const e of sortedEntries(entries)) h.update(e.sha256);
  return new Uint8Array(h.digest());
}

/** DSSE v1 pre-authentication encoding (sign_sigstore_pb.pae); lengths are byte counts. */
function pae(payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`DSSEv1 ${PAYLOAD_TYPE.length} ${PAYLOAD_TYPE} ${payload.length} `), payload]);
}

/** ECDSA hash for the key's curve, and the key hint: SHA-256 (hex) of the SubjectPublicKeyInfo
 *  PEM as Python `cryptography` re-serializes it (64-column base64, "\n" endings), not the file's bytes. */
function keyInfo(key: KeyObject): { hash: string; hint: string; pem: string } {
  const pub = key.type === 'public' ? key : createPublicKey(key);
  const hash = pub.asymmetricKeyType === 'ec' ? CURVE_HASH[pub.asymmetricKeyDetails?.namedCurve ?? ''] : undefined;
  if (hash === undefined) throw invalid('model signature: the key must be EC P-256, P-384 or P-521');
  const pem = pub.export({ type: 'spki', format: 'pem' }) as string;
  return { hash, hint: sha256(pem).toString('hex'), pem };
}

/**
 * What signs a model signature: a crypto `Signer` with algorithm ecdsa-p256-sha256 (declared here
 * by shape, as provenance sits beside crypto, not above it). `sign` returns DER ECDSA over SHA-256.
 */
export interface ModelSigner {
  readonly algorithm: string;
  /** SubjectPublicKeyInfo DER. */
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Promise<Uint8Array>;
}

/**
 * Returns the text of a `model.sig` file: a Sigstore bundle v0.3 whose DSSE envelope holds an
 * in-toto Statement with predicateType "https://model_signing/signature/v1.0", signed with an
 * ECDSA P-256 key through `signer` (the verifier also takes P-384/P-521, as model-signing does).
 * `ignorePaths` (sidecars such as "model.sig") go to predicate.serialization.ignore_paths, where
 * `model_signing verify` reads them.
 * With `singleFile` the model is one file (its one entry) and the statement is what
 * `model_signing sign key <file>` writes: the resource named "." and the default git ignore paths.
 */
export async function signModel(opts: {
  modelName: string;
  entries: readonly ManifestEntry[];
  ignorePaths: readonly string[];
  signer: ModelSigner;
  singleFile?: boolean;
}): Promise<string> {
  if (typeof opts.modelName !== 'string') throw invalid('modelName: expected a string');
  if ((opts.signer as ModelSigner | undefined)?.algorithm !== 'ecdsa-p256-sha256')
    throw invalid('signer: expected an ECDSA P-256 signer');
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: Buffer.from(opts.signer.publicKey), format: 'der', type: 'spki' });
  } catch (e) {
    throw new ModelsealError('INVALID_ARGUMENT', 'signer: its public key is not SubjectPublicKeyInfo DER', {
      cause: e,
    });
  }
  const { hash, hint } = keyInfo(publicKey);
  if (hash !== 'sha256') throw invalid('signer: expected an ECDSA P-256 key');

  if (opts.singleFile && (opts.entries.length !== 1 || opts.ignorePaths.length !== 0))
    throw invalid('a single-file model signature covers exactly one file and ignores nothing');
  const ignorePaths = opts.singleFile
    ? REFERENCE_GIT_PATHS
    : [...new Set(opts.ignorePaths.map((p) => checkPath(p, 'ignore path')))];
  const entries = sortedEntries(opts.entries);
  for (const e of opts.singleFile ? [] : entries) {
    // The verifier skips ignored paths when hashing the model, so such a file would be "missing".
    const ig = ignorePaths.find((p) => isUnder(e.path, p));
    if (ig !== undefined) throw invalid(`${e.path}: lies under ignored path ${ig}`);
  }

  // manifest._FileSerialization.serialization_parameters: ignore_paths only when non-empty.
  const serialization: Record<string, unknown> = { method: 'files', hash_type: 'sha256', allow_symlinks: false };
  if (ignorePaths.length > 0) serialization.ignore_paths = ignorePaths;
  const statement = {
    _type: STATEMENT_TYPE,
    subject: [{ name: opts.modelName, digest: { sha256: Buffer.from(computeRootDigest(entries)).toString('hex') } }],
    predicateType: PREDICATE_TYPE,
    predicate: {
      serialization,
      resources: entries.map((e) => ({
        name: opts.singleFile ? SINGLE_FILE_RESOURCE : e.path,
        algorithm: 'sha256',
        digest: Buffer.from(e.sha256).toString('hex'),
      })),
    },
  };
  const payload = Buffer.from(JSON.stringify(statement, null, 2), 'utf8');
  // cryptography's ec.ECDSA signs DER (ASN.1 SEQUENCE{r,s}), not raw r||s, as a Signer does.
  const sig = Buffer.from(await opts.signer.sign(pae(payload)));
  return JSON.stringify({
    mediaType: BUNDLE_MEDIA_TYPE,
    // A bare key: only a hint, no rawBytes or certificate; no transparency log entries.
    verificationMaterial: { publicKey: { hint }, tlogEntries: [] },
    dsseEnvelope: {
      payload: payload.toString('base64'),
      payloadType: PAYLOAD_TYPE,
      signatures: [{ sig: sig.toString('base64'), keyid: '' }],
    },
  });
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function base64(v: unknown, what: string): Buffer {
  if (typeof v !== 'string' || v.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(v))
    throw bad(`${what} is not base64`);
  const out = Buffer.from(v, 'base64');
  if (out.toString('base64') !== v) throw bad(`${what} is not canonical base64`);
  return out;
}

/**
 * Parses and verifies a `model.sig` bundle with the given public key, as `model_signing verify key`
 * does before hashing the model; returns what it signs. The caller compares `entries` with the
 * files on disk. A single-file signature's one resource, ".", is returned under the model name
 * (the file's name), the path the caller knows it by. Throws ModelsealError('SIGNATURE_INVALID') on anything wrong.
 */
export function verifyModelSignature(
  bundleText: string,
  publicKey: KeyObject,
): {
  modelName: string;
  rootDigest: Uint8Array;
  entries: { path: string; sha256: Uint8Array }[];
  ignorePaths: string[];
} {
  const { hash, hint } = keyInfo(publicKey);
  let bundle: unknown;
  try {
    bundle = JSON.parse(bundleText);
  } catch (e) {
    throw bad('not JSON', e);
  }
  if (!isObject(bundle) || bundle.mediaType !== BUNDLE_MEDIA_TYPE) throw bad(`media type is not ${BUNDLE_MEDIA_TYPE}`);
  const vm = bundle.verificationMaterial;
  if (!isObject(vm) || !isObject(vm.publicKey)) throw bad('verificationMaterial.publicKey is missing');
  // Like sign_ec_key.Verifier: an absent/empty hint is accepted (older signers); a wrong one is not.
  const given = vm.publicKey.hint;
  if (given !== undefined && given !== null && given !== '' && given !== hint)
    throw bad('key hint does not match the public key');
  const env = bundle.dsseEnvelope;
  if (!isObject(env) || env.payloadType !== PAYLOAD_TYPE) throw bad(`DSSE payload type is not ${PAYLOAD_TYPE}`);
  if (!Array.isArray(env.signatures) || env.signatures.length !== 1 || !isObject(env.signatures[0])) {
    throw bad('expected exactly one DSSE signature');
  }
  const payload = base64(env.payload, 'payload');
  const sig = base64(env.signatures[0].sig, 'signature');
  if (!verify(hash, pae(payload), { key: publicKey, dsaEncoding: 'der' }, sig))
    throw bad('the signature does not verify');

  let st: unknown;
  try {
    st = JSON.parse(payload.toString('utf8'));
  } catch (e) {
    throw bad('payload is not JSON', e);
  }
  if (!isObject(st) || st._type !== STATEMENT_TYPE) throw bad(`statement type is not ${STATEMENT_TYPE}`);
  if (st.predicateType !== PREDICATE_TYPE) throw bad(`predicate type is not ${PREDICATE_TYPE}`);
  const subject: unknown = Array.isArray(st.subject) && st.subject.length === 1 ? st.subject[0] : undefined;
  if (!isObject(subject) || typeof subject.name !== 'string' || !isObject(subject.digest))
    throw bad('expected one subject');
  const rootHex = subject.digest.sha256;
  if (typeof rootHex !== 'string' || !/^[0-9a-f]{64}$/.test(rootHex)) throw bad('subject sha256 digest is malformed');
  const pred = st.predicate;
  if (!isObject(pred) || !isObject(pred.serialization) || !Array.isArray(pred.resources))
    throw bad('predicate is malformed');
  const ser = pred.serialization;
  if (ser.method !== 'files' || ser.hash_type !== 'sha256')
    throw bad('only the "files" serialization with sha256 is supported');
  const ignorePaths = ser.ignore_paths ?? [];
  if (!Array.isArray(ignorePaths) || !ignorePaths.every((p): p is string => typeof p === 'string')) {
    throw bad('ignore_paths is malformed');
  }

  // signing.dsse_payload_to_manifest: the subject digest is recomputed over the resources in the
  // order they are listed (the signer lists them sorted), then compared as lowercase hex.
  const root = createHash('sha256');
  const seen = new Set<string>();
  const entries = pred.resources.map((r: unknown) => {
    if (!isObject(r) || typeof r.name !== 'string' || r.algorithm !== 'sha256') throw bad('a resource is malformed');
    if (typeof r.digest !== 'string' || !/^[0-9a-fA-F]{64}$/.test(r.digest))
      throw bad(`${r.name}: digest is malformed`);
    if (seen.has(r.name)) throw bad(`${r.name}: listed twice`);
    seen.add(r.name);
    const d = new Uint8Array(Buffer.from(r.digest, 'hex'));
    root.update(d);
    return { path: r.name, sha256: d };
  });
  if (root.digest('hex') !== rootHex) throw bad('subject digest does not match the resources');
  if (entries.length === 1 && entries[0]!.path === SINGLE_FILE_RESOURCE) entries[0]!.path = subject.name;
  return { modelName: subject.name, rootDigest: new Uint8Array(Buffer.from(rootHex, 'hex')), entries, ignorePaths };
}
