/**
 * Keyed hashes for the personal data in log events (Vault-style HMAC): with an operator key, the
 * service logs `hmac:v1:<base64url HMAC-SHA-256(key, value)>` instead of a recipient's name or a
 * source address. The same value always gives the same pseudonym, so an auditor holding the key
 * can still find every event of one recipient; without it the log names nobody.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { ModelsealError } from '../errors.js';

export const PSEUDONYM_PREFIX = 'hmac:v1:';

export class Pseudonymizer {
  readonly #key: Buffer;

  constructor(key: Uint8Array) {
    if (key.length !== 32) throw new ModelsealError('INVALID_ARGUMENT', 'a pseudonym key is 32 bytes');
    this.#key = Buffer.from(key);
  }

  /** The pseudonym of `value`. */
  of(value: string): string {
    return PSEUDONYM_PREFIX + createHmac('sha256', this.#key).update(value, 'utf8').digest('base64url');
  }

  /** Whether a logged field is `value`, logged in the clear or as its pseudonym. */
  matches(logged: string | null | undefined, value: string): boolean {
    return logged === value || logged === this.of(value);
  }
}

/** Reads a pseudonym key file (43 base64url characters, as `createPseudonymKey` writes). */
export async function loadPseudonymizer(file: string): Promise<Pseudonymizer> {
  let text: string;
  try {
    text = (await readFile(file, 'utf8')).trim();
  } catch (cause) {
    throw new ModelsealError('KEYSTORE', `cannot read the pseudonym key ${file}`, { cause });
  }
  const key = /^[A-Za-z0-9_-]{43}$/.test(text) ? Buffer.from(text, 'base64url') : Buffer.alloc(0);
  if (key.length !== 32)
    throw new ModelsealError('INVALID_ARGUMENT', `${file} is not a pseudonym key (32 random bytes, base64url)`);
  return new Pseudonymizer(key);
}

/** Writes a new random pseudonym key (mode 0600); refuses to overwrite one. */
export async function createPseudonymKey(file: string): Promise<void> {
  try {
    await writeFile(file, randomBytes(32).toString('base64url') + '\n', { flag: 'wx', mode: 0o600 });
  } catch (cause) {
    const exists = (cause as NodeJS.ErrnoException).code === 'EEXIST';
    throw new ModelsealError(
      exists ? 'INVALID_ARGUMENT' : 'IO',
      exists
        ? `${file} exists; a pseudonym key is never overwritten (the log's pseudonyms depend on it)`
        : `cannot write ${file}`,
      { cause },
    );
  }
}
