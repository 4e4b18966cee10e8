/**
 * The key store: a folder (default ./keys) made by `modelseal init` holding the publisher's
 * signing key, the local key-encryption key and an x25519 identity. Private files are 0600 and
 * git-ignored. docs/KEYS.md.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { NoteSigner, parseVerifierKey, type NoteVerifier } from '../log/note.js';
import { ModelsealError } from '../errors.js';
import { formatX25519Recipient, newX25519, rawPublic, x25519PrivateFromRaw } from '../crypto/x25519.js';
import { makeKeyFile, readKeyFile, unlockKeyFile, writeKeyFile, type KeyFile } from './keyfile.js';
import { pathExists, writeFileAtomic } from '../io/atomic.js';
import { fsReason } from './secretfile.js';
import { localSigner, signerPublicKey, spkiDer, type Signer } from '../crypto/signer.js';

/** The files of a key store folder. */
export const KEYSTORE_FILES = {
  publisher: 'publisher.key',
  publisherPub: 'publisher.pub',
  localKek: 'local.kek',
  identity: 'identity.x25519',
  identityPub: 'identity.x25519.pub',
  log: 'log.key',
  logPub: 'log.vkey',
  trusted: 'trusted',
  fingerprint: 'fingerprint.key',
} as const;

/** Supplies a passphrase when a protected key is used; called at most once per key. */
export type PassphraseSource = () => Promise<string>;
/** The passphrase source of a non-interactive caller: fails with KEYSTORE saying how to give one. */
export const noPassphrase: PassphraseSource = async () => {
  throw new ModelsealError(
    'KEYSTORE',
    'this key is passphrase-protected: set MODELSEAL_PASSPHRASE_FILE or MODELSEAL_PASSPHRASE, pass ' +
      '--passphrase-file, or run in a terminal to be asked',
  );
};

/** The publisher's signing key (local, KMS or HSM: only its signer signs) and its public key in the two forms used. */
export interface Publisher {
  signer: Signer;
  publicKeyPem: string;
  /** SPKI DER, the form stored in a package's signature entry. */
  spki: Uint8Array;
}

/** A publisher whose packages `signer` (ECDSA P-256) signs. */
export function publisherFromSigner(signer: Signer): Publisher {
  const pub = signerPublicKey(signer.publicKey, 'ecdsa-p256-sha256', 'publisher key');
  if (signer.algorithm !== 'ecdsa-p256-sha256')
    throw new ModelsealError('INVALID_ARGUMENT', 'a publisher key signs with ECDSA P-256 (ecdsa-p256-sha256)');
  return { signer, publicKeyPem: pub.export({ format: 'pem', type: 'spki' }).toString(), spki: spkiDer(pub) };
}

/** A publisher whose P-256 private key (PKCS#8 DER) is held in this process. */
export function publisherFromPkcs8(pkcs8: Uint8Array): Publisher {
  return publisherFromSigner(localSigner(createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' })));
}

/** A new ECDSA P-256 publisher key and its key file. */
export function newPublisherKey(passphrase?: string): { file: KeyFile; publisher: Publisher } {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const pkcs8 = new Uint8Array(privateKey.export({ format: 'der', type: 'pkcs8' }));
  const publisher = publisherFromPkcs8(pkcs8);
  const id = Buffer.from(publisher.spki).subarray(-8).toString('hex');
  return { file: makeKeyFile('publisher-p256', id, publisher.publicKeyPem, pkcs8, passphrase), publisher };
}

/** A new x25519 identity's key file, its secret and its recipient string ("x25519:…"). */
export function newX25519KeyFile(passphrase?: string): { file: KeyFile; secret: Uint8Array; recipient: string } {
  const { secret, publicRaw } = newX25519();
  const recipient = formatX25519Recipient(publicRaw);
  return {
    file: makeKeyFile('x25519-identity', recipient.slice(7, 23), recipient, secret, passphrase),
    secret,
    recipient,
  };
}

/** A transparency-log key: Ed25519, named after the log's origin (C2SP signed-note key name). */
export function newLogKey(origin: string, passphrase?: string): { file: KeyFile; signer: NoteSigner } {
  const signer = NoteSigner.generate(origin);
  return {
    file: makeKeyFile(
      'log-ed25519',
      signer.keyId.toString(16).padStart(8, '0'),
      signer.verifierKey,
      signer.seed,
      passphrase,
    ),
    signer,
  };
}

/** The default log origin: C2SP wants the log's URL prefix without the scheme; `serve` on this host. */
export function defaultLogOrigin(): string {
  return `${
    hostname()
      .toLowerCase()
      .replace(/[^a-z0-9.-]/g, '-') || 'localhost'
  }/modelseal-log`;
}

export interface InitResult {
  dir: string;
  created: string[];
  publisherKeyId: string;
  localRecipient: string;
  x25519Recipient: string;
  /** The transparency log's verifier key (`origin+id+key`), for auditors. */
  logVerifierKey: string;
}

/** Creates a key store in `dir`. Refuses to overwrite existing key files unless `force`. */
export async function initKeystore(
  dir: string,
  opts: { passphrase?: string; force?: boolean; logOrigin?: string } = {},
): Promise<InitResult> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const targets = [
    KEYSTORE_FILES.publisher,
    KEYSTORE_FILES.localKek,
    KEYSTORE_FILES.identity,
    KEYSTORE_FILES.log,
    KEYSTORE_FILES.fingerprint,
  ].map((f) => join(dir, f));
  if (!opts.force) {
    for (const t of targets) {
      if (await pathExists(t))
        throw new ModelsealError(
          'OUTPUT_EXISTS',
          `${t} already exists: the key store is already initialised (pass --force to replace it, which makes ` +
            `packages sealed to the old keys unopenable)`,
        );
    }
  }
  const overwrite = opts.force ?? false;
  const pub = newPublisherKey(opts.passphrase);
  const kek = randomBytes(32);
  const kekId = randomBytes(8).toString('hex');
  const x = newX25519KeyFile(opts.passphrase);
  const log = newLogKey(opts.logOrigin ?? defaultLogOrigin(), opts.passphrase);
  await writeKeyFile(targets[0]!, pub.file, { overwrite });
  await writeFileAtomic(join(dir, KEYSTORE_FILES.publisherPub), pub.publisher.publicKeyPem, { overwrite });
  await writeKeyFile(targets[1]!, makeKeyFile('local-kek', kekId, '', kek, opts.passphrase), { overwrite });
  await writeKeyFile(targets[2]!, x.file, { overwrite });
  await writeFileAtomic(join(dir, KEYSTORE_FILES.identityPub), x.recipient + '\n', { overwrite });
  await writeKeyFile(targets[3]!, log.file, { overwrite });
  await writeFileAtomic(join(dir, KEYSTORE_FILES.logPub), log.signer.verifierKey + '\n', { overwrite });
  await writeKeyFile(targets[4]!, newFingerprintKeyFile(opts.passphrase), { overwrite });
  await mkdir(join(dir, KEYSTORE_FILES.trusted), { recursive: true });
  return {
    dir,
    created: [
      KEYSTORE_FILES.publisher,
      KEYSTORE_FILES.publisherPub,
      KEYSTORE_FILES.localKek,
      KEYSTORE_FILES.identity,
      KEYSTORE_FILES.identityPub,
      KEYSTORE_FILES.log,
      KEYSTORE_FILES.logPub,
      KEYSTORE_FILES.fingerprint,
    ].map((f) => join(dir, f)),
    publisherKeyId: pub.file.id,
    localRecipient: `local:${kekId}`,
    x25519Recipient: x.recipient,
    logVerifierKey: log.signer.verifierKey,
  };
}

/** The id of a fingerprint key: it names the key in the fingerprint registry without revealing it. */
export function fingerprintKeyId(key: Uint8Array): string {
  return 'fpk-' + createHash('sha256').update('modelseal fingerprint key id\0').update(key).digest('hex').slice(0, 16);
}

function newFingerprintKeyFile(passphrase?: string): KeyFile {
  const key = randomBytes(32);
  return makeKeyFile('fingerprint', fingerprintKeyId(key), '', key, passphrase);
}

/**
 * The publisher's secret fingerprint key (keys/fingerprint.key). A key store made before
 * fingerprints existed gets one on first use when `create` is set.
 */
export async function loadFingerprintKey(
  dir: string,
  passphrase: PassphraseSource = noPassphrase,
  opts: { create?: boolean } = {},
): Promise<{ id: string; key: Uint8Array }> {
  const path = join(dir, KEYSTORE_FILES.fingerprint);
  if (opts.create && !(await pathExists(path))) {
    if (!(await pathExists(join(dir, KEYSTORE_FILES.publisher))))
      throw new ModelsealError('KEYSTORE', `no key store in ${dir}: run \`modelseal init\` first`);
    await writeKeyFile(path, newFingerprintKeyFile());
  }
  const f = await readKeyFile(path);
  expectKind(f, 'fingerprint', path);
  const key = await unlockKeyFile(f, path, passphrase);
  if (key.length !== 32 || fingerprintKeyId(key) !== f.id)
    throw new ModelsealError('KEYSTORE', `${path}: the key does not match its id`);
  return { id: f.id, key };
}

function expectKind(f: KeyFile, kind: KeyFile['kind'], path: string): void {
  if (f.kind !== kind) throw new ModelsealError('KEYSTORE', `${path} holds a ${f.kind} key, not a ${kind} key`);
}

/** The publisher key of a `publisher-p256` key file (keys/publisher.key). */
export async function loadPublisherKey(path: string, passphrase: PassphraseSource = noPassphrase): Promise<Publisher> {
  const f = await readKeyFile(path);
  expectKind(f, 'publisher-p256', path);
  return publisherFromPkcs8(await unlockKeyFile(f, path, passphrase));
}

/** The key-encryption key of a `local-kek` key file (keys/local.kek) and its id (16 hex characters). */
export async function loadLocalKek(
  path: string,
  passphrase: PassphraseSource = noPassphrase,
): Promise<{ id: string; kek: Uint8Array }> {
  const f = await readKeyFile(path);
  expectKind(f, 'local-kek', path);
  return { id: f.id, kek: await unlockKeyFile(f, path, passphrase) };
}

/** The 32 secret bytes of an `x25519-identity` key file, checked against its recipient string. */
export async function loadX25519Secret(
  path: string,
  passphrase: PassphraseSource = noPassphrase,
): Promise<{ secret: Uint8Array; recipient: string }> {
  const f = await readKeyFile(path);
  expectKind(f, 'x25519-identity', path);
  const secret = await unlockKeyFile(f, path, passphrase);
  const recipient = formatX25519Recipient(rawPublic(x25519PrivateFromRaw(secret)));
  if (recipient !== f.public)
    throw new ModelsealError('KEYSTORE', `${path}: public key does not match the private key`);
  return { secret, recipient };
}

/** A release-service identity (from `modelseal recipient issue`): the recipient name and its signing key. */
export async function loadReleaseIdentity(
  path: string,
  passphrase: PassphraseSource = noPassphrase,
): Promise<{ name: string; key: KeyObject; certificate: string }> {
  const f = await readKeyFile(path);
  expectKind(f, 'release-identity', path);
  const key = createPrivateKey({
    key: Buffer.from(await unlockKeyFile(f, path, passphrase)),
    format: 'der',
    type: 'pkcs8',
  });
  return { name: f.id, key, certificate: f.public };
}

/** The log's checkpoint signer from a `log-ed25519` key file (keys/log.key), checked against its verifier key. */
export async function loadLogSigner(path: string, passphrase: PassphraseSource = noPassphrase): Promise<NoteSigner> {
  const f = await readKeyFile(path);
  expectKind(f, 'log-ed25519', path);
  const signer = NoteSigner.fromSeed(parseVerifierKey(f.public).name, await unlockKeyFile(f, path, passphrase));
  if (signer.verifierKey !== f.public)
    throw new ModelsealError('KEYSTORE', `${path}: public key does not match the private key`);
  return signer;
}

/**
 * The log's checkpoint signer over a key that is not in the key store (an HSM or KMS Ed25519 key):
 * its origin name comes from the verifier key file `vkeyPath` (the key store's log.vkey), which must
 * name `signer`'s public key. log.key is not read. Throws KEYSTORE saying what to run when the file
 * is missing, is no Ed25519 verifier key, or names another key; INVALID_ARGUMENT when `signer` is not Ed25519.
 */
export async function logSignerFromVerifierKey(vkeyPath: string, signer: Signer): Promise<NoteSigner> {
  const what = signer.keyId ?? 'the log signer';
  if (signer.algorithm !== 'ed25519')
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `${what} signs ${signer.algorithm}; a log's checkpoints are signed with an Ed25519 key`,
    );
  const write = `write it with \`modelseal signer pubkey <spec> --log-name <origin> -o ${vkeyPath} --force\``;
  let text: string;
  try {
    text = await readFile(vkeyPath, 'utf8');
  } catch (cause) {
    throw new ModelsealError('KEYSTORE', `cannot read the log verifier key ${vkeyPath}: ${fsReason(cause)}; ${write}`, {
      cause,
    });
  }
  let vkey: NoteVerifier;
  try {
    vkey = parseVerifierKey(text.trim());
  } catch (cause) {
    throw new ModelsealError(
      'KEYSTORE',
      `${vkeyPath}: ${keyTextKind(text)}; the log signer needs its Ed25519 verifier key there: ${write}`,
      { cause },
    );
  }
  const noteSigner = NoteSigner.fromSigner(vkey.name, signer);
  if (!noteSigner.publicKey.equals(vkey.publicKey))
    throw new ModelsealError(
      'KEYSTORE',
      `${vkeyPath} is the verifier key of another public key than ${what}'s: ${write} (a new key is a new log: ` +
        'auditors and recipients must be given the new log.vkey)',
    );
  return noteSigner;
}

/**
 * A log verifier key, given as the key itself (`origin+id+key`) or as a file holding it
 * (a key store's log.vkey).
 */
export async function readLogVerifier(keyOrPath: string): Promise<NoteVerifier> {
  let text = keyOrPath;
  if (await pathExists(keyOrPath)) {
    try {
      text = await readFile(keyOrPath, 'utf8');
    } catch (cause) {
      throw new ModelsealError('IO', `cannot read the log key ${keyOrPath}`, { cause });
    }
  } else if (!/^[^+\s]+\+[0-9a-f]{8}\+/.test(keyOrPath)) {
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `--log-key: ${keyOrPath} is neither a file nor a log verifier key (origin+id+key, as in a key store's log.vkey)`,
    );
  }
  try {
    return parseVerifierKey(text.trim());
  } catch (cause) {
    // A usage error, not LOG_INVALID: no log was checked yet. The text is not echoed: it may be a secret key file.
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `--log-key ${text === keyOrPath ? 'value' : keyOrPath}: ${keyTextKind(text)}; expected the log's Ed25519 ` +
        `verifier key (origin+id+key on one line, as in a key store's log.vkey)`,
      { cause },
    );
  }
}

/** What a text that should have been a log verifier key looks like instead. */
function keyTextKind(text: string): string {
  const t = text.trim();
  const pem = /^-----BEGIN ([A-Z0-9 ]+)-----/.exec(t);
  if (pem) return `this is a PEM ${pem[1]!.toLowerCase()}, not a log verifier key`;
  if (t.startsWith('{')) {
    try {
      const kind = (JSON.parse(t) as { kind?: unknown }).kind;
      if (typeof kind === 'string') {
        const secret = " (the log's secret signing key: keep it private; its public half is log.vkey)";
        return `this is a modelseal ${kind} key file${kind === 'log-ed25519' ? secret : ''}`;
      }
    } catch {
      // not JSON: fall through
    }
  }
  if (t.startsWith('x25519:')) return 'this is an x25519 recipient, not a log verifier key';
  if (/^[^+\s]+\+[0-9a-f]{8}\+/.test(t))
    return 'its key is not a valid Ed25519 key, or its key ID does not match the key';
  return 'this is not a log verifier key';
}

/** Reads a PEM (SPKI) publisher public key file; returns SPKI DER. */
export async function readPublisherPublicKey(path: string): Promise<Uint8Array> {
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (cause) {
    throw new ModelsealError('IO', `cannot read publisher key ${path}`, { cause });
  }
  try {
    const key = createPublicKey(pem);
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
      throw new Error('not P-256');
    return spkiDer(key);
  } catch (cause) {
    throw new ModelsealError('INVALID_ARGUMENT', `${path} is not an ECDSA P-256 public key in PEM form`, { cause });
  }
}

/** Publisher keys trusted by a key store: its own publisher.pub and every *.pub / *.pem under trusted/. */
export async function trustedPublishers(dir: string | undefined): Promise<Uint8Array[]> {
  if (!dir) return [];
  const out: Uint8Array[] = [];
  const own = join(dir, KEYSTORE_FILES.publisherPub);
  if (await pathExists(own)) out.push(await readPublisherPublicKey(own));
  const tdir = join(dir, KEYSTORE_FILES.trusted);
  if (await pathExists(tdir)) {
    for (const name of (await readdir(tdir)).sort()) {
      if (/\.(pub|pem)$/.test(name)) out.push(await readPublisherPublicKey(join(tdir, name)));
    }
  }
  return out;
}
