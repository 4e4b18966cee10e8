/**
 * Key files (docs/KEYS.md): one JSON object per key, secret part optionally sealed with a
 * passphrase (scrypt → AES-256-GCM). Written 0600 under a temporary name and renamed.
 */
import { randomBytes, scryptSync } from 'node:crypto';
import { ModelsealError } from '../errors.js';
import { fromB64, toB64, utf8 } from '../format/encoding.js';
import { aeadUnwrap, aeadWrap } from '../crypto/aead.js';
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../io/atomic.js';

export type KeyKind =
  'publisher-p256' | 'local-kek' | 'x25519-identity' | 'log-ed25519' | 'ca-rsa' | 'release-identity' | 'fingerprint';

export interface KeyFile {
  kind: KeyKind;
  id: string;
  created: string;
  /**
   * Public part: SPKI PEM for publisher keys, "x25519:…" for identities, the note verifier key for a log key, "" for a
   * KEK.
   */
  public: string;
  secret:
    | { protection: 'none'; key: string }
    | { protection: 'scrypt'; N: number; r: number; p: number; salt: string; ciphertext: string };
}

const SCRYPT = { N: 2 ** 17, r: 8, p: 1 };
const FORMAT = 'modelseal-key/v1';

function scryptKey(passphrase: string, salt: Uint8Array, N: number, r: number, p: number): Uint8Array {
  return new Uint8Array(
    scryptSync(passphrase.normalize('NFC'), salt, 32, { N, r, p, maxmem: 256 * N * r + (1 << 20) }),
  );
}

function aadOf(f: Pick<KeyFile, 'kind' | 'id'>): Uint8Array {
  return utf8.encode(`${FORMAT} ${f.kind} ${f.id}`);
}

/** A key file for `secret`, sealed with `passphrase` (scrypt → AES-256-GCM) when one is given. */
export function makeKeyFile(kind: KeyKind, id: string, pub: string, secret: Uint8Array, passphrase?: string): KeyFile {
  const created = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  if (passphrase === undefined)
    return { kind, id, created, public: pub, secret: { protection: 'none', key: toB64(secret) } };
  if (passphrase.length === 0) throw new ModelsealError('INVALID_ARGUMENT', 'passphrase: must not be empty');
  const salt = randomBytes(16);
  const key = scryptKey(passphrase, salt, SCRYPT.N, SCRYPT.r, SCRYPT.p);
  const ciphertext = aeadWrap(key, secret, aadOf({ kind, id }));
  return {
    kind,
    id,
    created,
    public: pub,
    secret: { protection: 'scrypt', ...SCRYPT, salt: toB64(salt), ciphertext: toB64(ciphertext) },
  };
}

/** Returns the secret bytes; asks `passphrase()` only when the file is protected. */
export async function unlockKeyFile(f: KeyFile, path: string, passphrase: () => Promise<string>): Promise<Uint8Array> {
  if (f.secret.protection === 'none') return fromB64(f.secret.key, `${path}: key`);
  const s = f.secret;
  if (![s.N, s.r, s.p].every(Number.isSafeInteger) || s.N > 2 ** 20 || s.r > 32 || s.p > 16) {
    throw new ModelsealError('KEYSTORE', `${path}: scrypt parameters out of range`);
  }
  const key = scryptKey(await passphrase(), fromB64(s.salt, `${path}: salt`), s.N, s.r, s.p);
  const secret = aeadUnwrap(key, fromB64(s.ciphertext, `${path}: ciphertext`), aadOf(f));
  if (!secret) throw new ModelsealError('KEYSTORE', `${path}: wrong passphrase (or the key file is damaged)`);
  return secret;
}

/** Reads and checks a key file; KEYSTORE naming the file and what to do when it cannot. */
export async function readKeyFile(path: string): Promise<KeyFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new ModelsealError(
      'KEYSTORE',
      `cannot read key file ${path}: ${(cause as NodeJS.ErrnoException).code ?? 'error'}; run \`modelseal init\` or ` +
        `pass the right path`,
      { cause },
    );
  }
  let o: (KeyFile & { format?: string }) | undefined;
  try {
    o = JSON.parse(text) as KeyFile & { format?: string };
  } catch {
    o = undefined;
  }
  if (o?.format !== FORMAT || typeof o.kind !== 'string' || typeof o.id !== 'string' || typeof o.secret !== 'object') {
    throw new ModelsealError(
      'KEYSTORE',
      `${path} is not a modelseal key file (expected JSON with "format": "${FORMAT}")`,
    );
  }
  return { kind: o.kind, id: o.id, created: o.created, public: o.public, secret: o.secret };
}

/** Writes a key file, mode 0600, under a temporary name renamed when complete. */
export async function writeKeyFile(path: string, f: KeyFile, opts: { overwrite?: boolean } = {}): Promise<void> {
  const text = JSON.stringify({ format: FORMAT, ...f }, null, 2) + '\n';
  await writeFileAtomic(path, text, { mode: 0o600, overwrite: opts.overwrite ?? false });
}
