/**
 * C2SP signed-note (https://c2sp.org/signed-note) with Ed25519 keys: the envelope of log
 * checkpoints. Byte-compatible with golang.org/x/mod/sumdb/note: key ID = SHA-256(name ‖ 0x0A ‖
 * 0x01 ‖ public key)[:4], verifier key `name+hex(id)+base64(0x01 ‖ key)`, signature line
 * `— name base64(id ‖ signature)`, and the signature covers the text including its final newline.
 */
import { createHash, createPrivateKey, createPublicKey, randomBytes, verify, type KeyObject } from 'node:crypto';
import { ModelsealError } from '../errors.js';
import { localSigner, signWith, type Signer } from '../crypto/signer.js';

const ED25519 = 0x01;
const SIG_PREFIX = '\u2014 ';
/** Go's note.Open refuses more; so do we. */
const MAX_SIGNATURES = 100;
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex');

function invalid(message: string): ModelsealError {
  return new ModelsealError('LOG_INVALID', message);
}

/** A key name: non-empty UTF-8 without spaces or '+' (the separators of the key encodings). */
export function isValidKeyName(name: string): boolean {
  return name.length > 0 && !/[\s+]/u.test(name) && Buffer.from(name, 'utf8').toString('utf8') === name;
}

function keyId(name: string, publicKey: Uint8Array): number {
  return createHash('sha256')
    .update(name)
    .update(Buffer.from([0x0a, ED25519]))
    .update(publicKey)
    .digest()
    .readUInt32BE(0);
}

const hex8 = (id: number) => id.toString(16).padStart(8, '0');

/** Checks that `text` can be signed: non-empty UTF-8 ending in a newline, no other control characters. */
function checkText(text: string): void {
  if (!text.endsWith('\n')) throw invalid('a signed note text must end with a newline');
  // eslint-disable-next-line no-control-regex -- C2SP signed-note: the text holds no control characters but newline
  if (/[\x00-\x09\x0b-\x1f\x7f]/.test(text)) throw invalid('a signed note text must not contain control characters');
  if (text.includes('\n\n')) throw invalid('a signed note text must not contain a blank line');
}

/** One Ed25519 note key, able to sign: a local key, or any Ed25519 `Signer` (KMS, HSM). */
export class NoteSigner {
  readonly name: string;
  readonly keyId: number;
  readonly publicKey: Buffer;
  readonly #signer: Signer;
  /** The private key when it is held here (for the key store's seed); undefined for a remote signer. */
  readonly #key: KeyObject | undefined;

  private constructor(name: string, signer: Signer, key?: KeyObject) {
    if (!isValidKeyName(name))
      throw invalid(`note key name ${JSON.stringify(name)} must be non-empty and contain no spaces or '+'`);
    const spki = Buffer.from(signer.publicKey);
    if (
      signer.algorithm !== 'ed25519' ||
      spki.length !== SPKI_ED25519.length + 32 ||
      !spki.subarray(0, SPKI_ED25519.length).equals(SPKI_ED25519)
    )
      throw invalid('a note key must be an Ed25519 key');
    this.name = name;
    this.#signer = signer;
    this.#key = key;
    this.publicKey = spki.subarray(SPKI_ED25519.length);
    this.keyId = keyId(name, this.publicKey);
  }

  /** A note key named `name` whose signatures `signer` (algorithm ed25519) makes. */
  static fromSigner(name: string, signer: Signer): NoteSigner {
    return new NoteSigner(name, signer);
  }

  /** A new random key named `name` (for a log, its origin). */
  static generate(name: string): NoteSigner {
    return NoteSigner.fromSeed(name, randomBytes(32));
  }

  /** From an Ed25519 private KeyObject (e.g. read from a PEM file of the key store). */
  static fromKey(name: string, key: KeyObject): NoteSigner {
    if (key.type !== 'private' || key.asymmetricKeyType !== 'ed25519')
      throw invalid('a note key must be an Ed25519 private key');
    return new NoteSigner(name, localSigner(key), key);
  }

  /** From a 32-byte Ed25519 private key seed (as the key store keeps it). */
  static fromSeed(name: string, seed: Uint8Array): NoteSigner {
    if (seed.length !== 32) throw invalid('an Ed25519 seed is 32 bytes');
    return NoteSigner.fromKey(
      name,
      createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, seed]), format: 'der', type: 'pkcs8' }),
    );
  }

  /** The 32-byte private key seed, for the key store. */
  get seed(): Buffer {
    if (!this.#key) throw invalid(`the note key ${this.name} is held by its signer; it has no seed to export`);
    return this.#key.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_ED25519.length);
  }

  /** From Go's private key encoding `PRIVATE+KEY+name+hex(id)+base64(0x01 ‖ seed)`. */
  static fromSignerKey(skey: string): NoteSigner {
    const m = /^PRIVATE\+KEY\+([^+]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/=]+)$/.exec(skey.trim());
    const raw = m ? Buffer.from(m[3]!, 'base64') : Buffer.alloc(0);
    if (!m || raw.length !== 33 || raw[0] !== ED25519)
      throw invalid('not an Ed25519 note signer key (PRIVATE+KEY+name+id+key)');
    const signer = NoteSigner.fromSeed(m[1]!, raw.subarray(1));
    if (hex8(signer.keyId) !== m[2]) throw invalid('the note signer key has a key ID that does not match its key');
    return signer;
  }

  /** The verifier key string to publish: `name+hex(id)+base64(0x01 ‖ public key)`. */
  get verifierKey(): string {
    const key = Buffer.concat([Buffer.from([ED25519]), this.publicKey]).toString('base64');
    return `${this.name}+${hex8(this.keyId)}+${key}`;
  }

  /** The signature line for `text`, without its newline. */
  async signatureLine(text: string): Promise<string> {
    checkText(text);
    const sig = await signWith(this.#signer, 'ed25519', Buffer.from(text, 'utf8'));
    const id = Buffer.alloc(4);
    id.writeUInt32BE(this.keyId);
    return `${SIG_PREFIX}${this.name} ${Buffer.concat([id, Buffer.from(sig)]).toString('base64')}`;
  }
}

/** A public note key that checks signatures. */
export interface NoteVerifier {
  readonly name: string;
  readonly keyId: number;
  /** The raw 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
  verify(text: Uint8Array, signature: Uint8Array): boolean;
}

/** Parses a verifier key string `name+hex(id)+base64(0x01 ‖ public key)`. */
export function parseVerifierKey(vkey: string): NoteVerifier {
  const m = /^([^+]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/=]+)$/.exec(vkey.trim());
  const raw = m ? Buffer.from(m[3]!, 'base64') : Buffer.alloc(0);
  if (!m || !isValidKeyName(m[1]!) || raw.length !== 33 || raw[0] !== ED25519) {
    throw invalid(`not an Ed25519 note verifier key (name+id+key): ${JSON.stringify(vkey.slice(0, 120))}`);
  }
  const name = m[1]!;
  const publicKey = raw.subarray(1);
  const id = keyId(name, publicKey);
  if (hex8(id) !== m[2]) throw invalid(`the verifier key for ${name} has a key ID that does not match its key`);
  const key = createPublicKey({ key: Buffer.concat([SPKI_ED25519, publicKey]), format: 'der', type: 'spki' });
  return {
    name,
    keyId: id,
    publicKey,
    verify: (text, signature) => signature.length === 64 && verify(null, text, key, signature),
  };
}

/** `text` with one signature line per signer. */
export async function signNote(text: string, signers: readonly NoteSigner[]): Promise<string> {
  if (signers.length === 0) throw invalid('a signed note needs at least one signer');
  let lines = '';
  for (const s of signers) lines += (await s.signatureLine(text)) + '\n';
  return `${text}\n${lines}`;
}

export interface OpenedNote {
  /** The signed text, ending in a newline. */
  text: string;
  /** Names of the trusted keys whose signatures verified. */
  verifiedBy: string[];
  /** Signature lines from keys not among the verifiers (cosignatures, other logs), left unchecked. */
  unknownSignatures: number;
}

/** A parsed note whose signatures by trusted keys are still to be checked. */
export interface ParsedNote {
  text: string;
  /** The signatures by keys among the verifiers, in note order. */
  signatures: { verifier: NoteVerifier; signature: Buffer }[];
  unknownSignatures: number;
}

/** Parses a signed note and picks the signatures by `verifiers`; throws LOG_INVALID when malformed. */
export function parseNote(note: string, verifiers: readonly NoteVerifier[]): ParsedNote {
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw invalid('not a signed note: no blank line before the signatures');
  const text = note.slice(0, split + 1);
  checkText(text);
  const lines = note.slice(split + 2);
  if (!lines.endsWith('\n')) throw invalid('a signed note must end with a newline');
  const sigLines = lines.slice(0, -1).split('\n');
  if (sigLines.length > MAX_SIGNATURES) throw invalid(`a signed note carries more than ${MAX_SIGNATURES} signatures`);
  const signatures: ParsedNote['signatures'] = [];
  let unknownSignatures = 0;
  for (const line of sigLines) {
    const m = /^\u2014 (\S+) ([A-Za-z0-9+/=]+)$/u.exec(line);
    const raw = m ? Buffer.from(m[2]!, 'base64') : Buffer.alloc(0);
    if (!m || raw.length < 5 || raw.toString('base64') !== m[2])
      throw invalid(`malformed signature line in a signed note: ${JSON.stringify(line.slice(0, 120))}`);
    const id = raw.readUInt32BE(0);
    const verifier = verifiers.find((k) => k.name === m[1] && k.keyId === id);
    if (verifier) signatures.push({ verifier, signature: raw.subarray(4) });
    else unknownSignatures++;
  }
  if (signatures.length === 0)
    throw invalid(
      `the note is not signed by a trusted key (${verifiers.map((v) => v.name).join(', ') || 'none given'})`,
    );
  return { text, signatures, unknownSignatures };
}

/**
 * Parses a signed note and checks it against trusted keys. Throws LOG_INVALID when the note is
 * malformed, when a signature by a trusted key does not verify, or when no trusted key signed it.
 */
export function openNote(note: string, verifiers: readonly NoteVerifier[]): OpenedNote {
  const { text, signatures, unknownSignatures } = parseNote(note, verifiers);
  const message = Buffer.from(text, 'utf8');
  const verifiedBy: string[] = [];
  for (const { verifier, signature } of signatures) {
    if (!verifier.verify(message, signature))
      throw invalid(`the signature by ${verifier.name} on the note does not verify`);
    if (!verifiedBy.includes(verifier.name)) verifiedBy.push(verifier.name);
  }
  return { text, verifiedBy, unknownSignatures };
}
