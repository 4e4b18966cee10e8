/**
 * `pkcs11`: the data key wrapped inside an HSM (any PKCS#11 token) by an AES-256 key that never
 * leaves it: CKM_AES_GCM with a random 96-bit IV and SHA-256(release context) as the AAD. modelseal
 * refuses a key the token would let out (CKA_EXTRACTABLE true, or CKA_SENSITIVE false).
 *
 * Stanza: type "pkcs11", recipient "pkcs11:<token label>/<key label>", args ["aes-gcm"],
 * body = IV (12) ‖ ciphertext ‖ tag (48). Module path, token and key labels are configuration; the
 * PIN comes from a file or the environment, never from the command line. The binding (pkcs11js, a
 * native module) is loaded only when an HSM is used.
 */
import { createHash, randomBytes } from 'node:crypto';
import type * as Pkcs11Module from 'pkcs11js';
import { ModelsealError } from '../errors.js';
import type { Stanza } from '../format/header.js';
import { releaseContextBytes, type Identity, type Recipient, type ReleaseContext, type WrappedKey } from './types.js';

export const PKCS11 = 'pkcs11';
const PREFIX = `${PKCS11}:`;
const IV_BYTES = 12;

export interface Pkcs11Options {
  /** Path of the PKCS#11 module (e.g. /usr/lib/softhsm/libsofthsm2.so). */
  module: string;
  /** The user PIN (read from a file or the environment by the caller). */
  pin: string;
}

type Binding = typeof Pkcs11Module;
let binding: Promise<Binding> | undefined;
const loadBinding = () => (binding ??= import('pkcs11js').then((m) => (m as { default?: Binding }).default ?? m));

/** `pkcs11:<token>/<key>` → its labels. */
export function parsePkcs11Id(id: string): { token: string; key: string } {
  const m = /^pkcs11:([^/]{1,32})\/(.{1,128})$/.exec(id);
  if (!m)
    throw new ModelsealError('INVALID_ARGUMENT', `${JSON.stringify(id)}: expected pkcs11:<token label>/<key label>`);
  return { token: m[1]!, key: m[2]! };
}

/** SHA-256 of the release context: the AAD of the wrap (a fixed 32 bytes, whatever the token's AAD limit). */
function aadOf(context: ReleaseContext): Buffer {
  return createHash('sha256').update(releaseContextBytes(context)).digest();
}

const CKR = (e: unknown): string | undefined => (e instanceof Error ? /CKR_[A-Z_]+/.exec(e.message)?.[0] : undefined);

function hsmError(e: unknown, what: string, token: string): ModelsealError {
  if (e instanceof ModelsealError) return e;
  const ckr = CKR(e);
  if (!ckr)
    return new ModelsealError('INTERNAL', `${what} on token ${token}: ${e instanceof Error ? e.message : String(e)}`, {
      cause: e,
    });
  const details = { provider: PKCS11, token, ckr };
  switch (ckr) {
    case 'CKR_PIN_INCORRECT':
    case 'CKR_PIN_INVALID':
    case 'CKR_PIN_LEN_RANGE':
      return new ModelsealError(
        'KEYSTORE',
        `token ${token} refused the PIN (${ckr}); check the PIN file or MODELSEAL_PKCS11_PIN`,
        { cause: e, details },
      );
    case 'CKR_PIN_LOCKED':
      return new ModelsealError(
        'KEYSTORE',
        `token ${token}: the user PIN is locked (${ckr}); the security officer must unlock it`,
        { cause: e, details },
      );
    default:
      return new ModelsealError('PROVIDER_UNAVAILABLE', `${what} on token ${token} failed (${ckr})`, {
        cause: e,
        details,
      });
  }
}

const TAG_FAILURE = new Set([
  'CKR_ENCRYPTED_DATA_INVALID',
  'CKR_ENCRYPTED_DATA_LEN_RANGE',
  'CKR_GENERAL_ERROR',
  'CKR_FUNCTION_FAILED',
]);
const SESSION_GONE = new Set([
  'CKR_SESSION_HANDLE_INVALID',
  'CKR_SESSION_CLOSED',
  'CKR_USER_NOT_LOGGED_IN',
  'CKR_DEVICE_REMOVED',
  'CKR_TOKEN_NOT_PRESENT',
]);

/** A logged-in session on one token, reopened once if the token closed it (shared with pkcs11-signer.ts). */
export class TokenSession {
  #session: Buffer | undefined;

  constructor(
    readonly p: Pkcs11Module.PKCS11,
    readonly b: Binding,
    readonly token: string,
    readonly pin: string,
  ) {}

  #open(): Buffer {
    const { p, b } = this;
    const slot = p.C_GetSlotList(true).find((s) => p.C_GetTokenInfo(s).label.trim() === this.token);
    if (!slot)
      throw new ModelsealError(
        'PROVIDER_UNAVAILABLE',
        `no PKCS#11 token labelled ${JSON.stringify(this.token)} in this module`,
        { details: { provider: PKCS11, token: this.token } },
      );
    const session = p.C_OpenSession(slot, b.CKF_SERIAL_SESSION | b.CKF_RW_SESSION);
    try {
      p.C_Login(session, b.CKU_USER, this.pin);
    } catch (e) {
      if (CKR(e) !== 'CKR_USER_ALREADY_LOGGED_IN') {
        p.C_CloseSession(session);
        throw e;
      }
    }
    return session;
  }

  /** Runs `f` with a session; if the token closed the session, logs in again once and retries. */
  run<T>(what: string, f: (session: Buffer) => T): T {
    try {
      return f((this.#session ??= this.#open()));
    } catch (e) {
      if (!SESSION_GONE.has(CKR(e) ?? '')) throw hsmError(e, what, this.token);
      this.#session = undefined;
      try {
        return f((this.#session = this.#open()));
      } catch (e2) {
        throw hsmError(e2, what, this.token);
      }
    }
  }

  /** The one object of class `cls` labelled `label` (`what` names it in errors: "secret key"). */
  findOne(session: Buffer, cls: number, label: string, what: string): Buffer {
    const { p, b } = this;
    p.C_FindObjectsInit(session, [
      { type: b.CKA_CLASS, value: cls },
      { type: b.CKA_LABEL, value: label },
    ]);
    let found: Buffer[];
    try {
      found = p.C_FindObjects(session, 2);
    } finally {
      p.C_FindObjectsFinal(session);
    }
    if (found.length !== 1)
      throw new ModelsealError(
        'PROVIDER_UNAVAILABLE',
        found.length === 0
          ? `no ${what} labelled ${JSON.stringify(label)} on token ${this.token}`
          : `two ${what}s are labelled ${JSON.stringify(label)} on token ${this.token}; labels must be unique`,
        { details: { provider: PKCS11, token: this.token, key: label } },
      );
    return found[0]!;
  }

  /** The handle of the secret key labelled `label`, checked to be non-extractable and sensitive. */
  key(session: Buffer, label: string): Buffer {
    const { p, b } = this;
    const handle = this.findOne(session, b.CKO_SECRET_KEY, label, 'secret key');
    const [extractable, sensitive, keyType] = p
      .C_GetAttributeValue(session, handle, [
        { type: b.CKA_EXTRACTABLE },
        { type: b.CKA_SENSITIVE },
        { type: b.CKA_KEY_TYPE },
      ])
      .map((a) => a.value);
    if (extractable?.[0] !== 0 || sensitive?.[0] !== 1) {
      throw new ModelsealError(
        'INVALID_ARGUMENT',
        `the key ${JSON.stringify(label)} on token ${this.token} can leave the HSM (CKA_EXTRACTABLE must be false ` +
          `and CKA_SENSITIVE true); generate a non-extractable key`,
        { details: { provider: PKCS11, token: this.token, key: label } },
      );
    }
    if (!keyType || keyType.length < 4 || keyType.readUInt32LE(0) !== b.CKK_AES)
      throw new ModelsealError(
        'INVALID_ARGUMENT',
        `the key ${JSON.stringify(label)} on token ${this.token} is not an AES key`,
      );
    return handle;
  }
}

/** One loaded module: C_Initialize once per process, sessions per token (shared with pkcs11-signer.ts). */
export class ModuleHandle {
  static #loaded = new Map<string, Promise<ModuleHandle>>();
  #tokens = new Map<string, TokenSession>();

  private constructor(
    readonly p: Pkcs11Module.PKCS11,
    readonly b: Binding,
  ) {}

  static get(path: string): Promise<ModuleHandle> {
    let h = ModuleHandle.#loaded.get(path);
    if (!h) {
      h = loadBinding().then((b) => {
        const p = new b.PKCS11();
        try {
          p.load(path);
          try {
            p.C_Initialize();
          } catch (e) {
            // Another part of this process (the host application) initialised the library first.
            if (CKR(e) !== 'CKR_CRYPTOKI_ALREADY_INITIALIZED') throw e;
          }
        } catch (e) {
          throw new ModelsealError(
            'PROVIDER_UNAVAILABLE',
            `cannot load the PKCS#11 module ${path} (${e instanceof Error ? e.message : String(e)})`,
            { cause: e },
          );
        }
        return new ModuleHandle(p, b);
      });
      h.catch(() => ModuleHandle.#loaded.delete(path));
      ModuleHandle.#loaded.set(path, h);
    }
    return h;
  }

  session(token: string, pin: string): TokenSession {
    const k = `${token}\0${pin}`;
    let s = this.#tokens.get(k);
    if (!s) this.#tokens.set(k, (s = new TokenSession(this.p, this.b, token, pin)));
    return s;
  }
}

function gcm(b: Binding, iv: Buffer, aad: Buffer): Pkcs11Module.Mechanism {
  return {
    mechanism: b.CKM_AES_GCM,
    parameter: { type: b.CK_PARAMS_AES_GCM, iv, aad, ivBits: IV_BYTES * 8, tagBits: 128 } as Pkcs11Module.AesGCM,
  };
}

export class Pkcs11Recipient implements Recipient {
  readonly type = PKCS11;

  private constructor(
    readonly id: string,
    private readonly token: TokenSession,
    private readonly keyLabel: string,
  ) {}

  /** Opens the token and checks the key (present, AES, non-extractable, sensitive) before anything is sealed. */
  static async open(tokenLabel: string, keyLabel: string, opts: Pkcs11Options): Promise<Pkcs11Recipient> {
    const id = `${PREFIX}${tokenLabel}/${keyLabel}`;
    parsePkcs11Id(id);
    const token = (await ModuleHandle.get(opts.module)).session(tokenLabel, opts.pin);
    token.run(`checking key ${keyLabel}`, (s) => token.key(s, keyLabel));
    return new Pkcs11Recipient(id, token, keyLabel);
  }

  wrapDataKey(dataKey: Uint8Array, context: ReleaseContext): WrappedKey {
    const iv = randomBytes(IV_BYTES);
    const ct = this.token.run(`wrapping with ${this.keyLabel}`, (s) => {
      const { p, b } = this.token;
      p.C_EncryptInit(s, gcm(b, iv, aadOf(context)), this.token.key(s, this.keyLabel));
      return p.C_Encrypt(s, Buffer.from(dataKey), Buffer.alloc(dataKey.length + 16));
    });
    return { args: ['aes-gcm'], body: new Uint8Array(Buffer.concat([iv, ct])) };
  }
}

/** The labels of the initialised tokens a module offers (no PIN needed). */
export async function listTokens(module: string): Promise<string[]> {
  const { p } = await ModuleHandle.get(module);
  return p
    .C_GetSlotList(true)
    .map((s) => p.C_GetTokenInfo(s))
    .filter((t) => (t.flags & 0x400) !== 0) // CKF_TOKEN_INITIALIZED
    .map((t) => t.label.trim());
}

/**
 * Opens pkcs11 stanzas of any token the configured module holds, with the configured PIN (asked for only when needed).
 */
export class Pkcs11Identity implements Identity {
  readonly description: string;

  constructor(private readonly opts: { module: string; pin: string | (() => Promise<string>) }) {
    this.description = `PKCS#11 module ${opts.module}`;
  }

  async unwrapDataKey(stanza: Stanza, context: ReleaseContext): Promise<Uint8Array | null> {
    if (stanza.type !== PKCS11 || !stanza.recipient.startsWith(PREFIX)) return null;
    let labels: { token: string; key: string };
    try {
      labels = parsePkcs11Id(stanza.recipient);
    } catch {
      throw new ModelsealError(
        'DECRYPTION_FAILED',
        'a pkcs11 stanza names no valid token and key; the package was tampered with',
      );
    }
    const { token: tokenLabel, key } = labels;
    if (stanza.args.length !== 1 || stanza.args[0] !== 'aes-gcm' || stanza.body.length !== IV_BYTES + 32 + 16) {
      throw new ModelsealError('DECRYPTION_FAILED', 'a pkcs11 stanza is malformed; the package was tampered with');
    }
    const pin = typeof this.opts.pin === 'string' ? this.opts.pin : await this.opts.pin();
    const token = (await ModuleHandle.get(this.opts.module)).session(tokenLabel, pin);
    const body = Buffer.from(stanza.body);
    const dek = token.run(`unwrapping with ${key}`, (s) => {
      const { p, b } = token;
      p.C_DecryptInit(s, gcm(b, body.subarray(0, IV_BYTES), aadOf(context)), token.key(s, key));
      try {
        return p.C_Decrypt(s, body.subarray(IV_BYTES), Buffer.alloc(body.length - IV_BYTES));
      } catch (e) {
        // A GCM tag that does not verify: CKR_ENCRYPTED_DATA_INVALID by the standard; SoftHSM2 says
        // CKR_GENERAL_ERROR, and some tokens CKR_FUNCTION_FAILED. Here (the key was found and the
        // operation started) each can only mean that.
        const ckr = CKR(e);
        if (ckr && TAG_FAILURE.has(ckr)) {
          throw new ModelsealError(
            'DECRYPTION_FAILED',
            `unwrapping with ${key} on token ${tokenLabel}: the stanza was not made for this package, recipient, ` +
              `license or policy (${ckr})`,
            { cause: e, details: { provider: PKCS11, token: tokenLabel, ckr } },
          );
        }
        throw e;
      }
    });
    if (dek.length !== 32)
      throw new ModelsealError('DECRYPTION_FAILED', `token ${tokenLabel} returned no 32-byte data key`);
    return new Uint8Array(dek);
  }
}
