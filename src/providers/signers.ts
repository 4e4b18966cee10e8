/**
 * Signer specs, as `seal --signer` takes them: where a publisher (or log) key lives when it is not
 * a key file. `aws-kms:<key id, ARN or alias>[?region=…&endpoint=…]`, and `pkcs11:<token>/<label>`
 * or an RFC 7512 style `pkcs11:token=…;object=…[;module-path=…]` (`label` and `module` also read).
 * The PIN never travels in a spec: it comes from the settings (a file or the environment).
 * `serve --log-signer` takes the same specs for the log's Ed25519 checkpoint key (PKCS#11 only).
 */
import { ModelsealError } from '../errors.js';
import type { Signer } from '../crypto/signer.js';
import { AWS_KMS, type AwsKmsOptions } from './awskms-client.js';
import { AwsKmsSigner } from './awskms-signer.js';
import { PKCS11 } from './pkcs11.js';
import { Pkcs11Signer } from './pkcs11-signer.js';

export type SignerSpec =
  | { type: typeof AWS_KMS; key: string; region?: string; endpoint?: string }
  | { type: typeof PKCS11; token: string; label: string; module?: string };

/** What a signer signs: packages (`--signer`, any algorithm here) or log checkpoints (`--log-signer`, Ed25519). */
export type SignerUse = 'publisher' | 'log';

const FLAG: Record<SignerUse, string> = { publisher: '--signer', log: '--log-signer' };

/** What a signer may need besides its spec (the CLI fills it from options and environment). */
export interface SignerSettings {
  kms?: AwsKmsOptions;
  /** The default PKCS#11 module, and how to get the PIN (asked for only when a token is used). */
  pkcs11?: { module?: string; pin: () => Promise<string> };
}

const bad = (spec: string, why: string, flag = FLAG.publisher) =>
  new ModelsealError(
    'INVALID_ARGUMENT',
    `${flag} ${JSON.stringify(spec.slice(0, 200))}: ${why}; expected aws-kms:<key id, ARN or ` +
      `alias>[?region=…&endpoint=…] or pkcs11:<token>/<label> (or pkcs11:token=…;object=…)`,
  );

function decode(spec: string, v: string, flag: string): string {
  try {
    return decodeURIComponent(v);
  } catch {
    throw bad(spec, `${JSON.stringify(v)} is not percent-encoded correctly`, flag);
  }
}

function parseAwsKms(spec: string, rest: string, flag: string): SignerSpec {
  const q = rest.indexOf('?');
  const key = q < 0 ? rest : rest.slice(0, q);
  if (!key) throw bad(spec, 'no KMS key', flag);
  const out: SignerSpec = { type: AWS_KMS, key };
  for (const [k, v] of new URLSearchParams(q < 0 ? '' : rest.slice(q + 1))) {
    if (k === 'region' && /^[a-z0-9-]{1,32}$/.test(v)) out.region = v;
    else if (k === 'endpoint' && /^https?:\/\/[^\s]+$/.test(v)) out.endpoint = v;
    else throw bad(spec, `${k}=${JSON.stringify(v)}: only region=<region> and endpoint=<http(s) URL> are known`, flag);
  }
  return out;
}

function parsePkcs11(spec: string, rest: string, flag: string): SignerSpec {
  // Checked first, and the spec not echoed: it may hold the PIN.
  if (/(?:^|[;?&])pin-(?:value|source)(?:[=;&]|$)/.test(rest))
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      'the PIN never goes in a signer spec: use --pkcs11-pin-file, MODELSEAL_PKCS11_PIN_FILE or MODELSEAL_PKCS11_PIN',
    );
  if (!rest.includes('=')) {
    const m = /^([^/]{1,32})\/(.{1,128})$/.exec(rest);
    if (!m) throw bad(spec, 'expected pkcs11:<token label>/<key label>', flag);
    return { type: PKCS11, token: m[1]!, label: m[2]! };
  }
  const fields: Record<string, string> = {};
  const [path = '', query = ''] = rest.split('?', 2);
  const parts = [...path.split(';'), ...(query ? query.split('&') : [])].filter((p) => p !== '');
  for (const part of parts) {
    const eq = part.indexOf('=');
    const name = eq < 0 ? part : part.slice(0, eq);
    const key = { object: 'label', label: 'label', token: 'token', module: 'module', 'module-path': 'module' }[name];
    if (!key || eq < 0)
      throw bad(spec, `${JSON.stringify(name)}: only token, object (or label) and module-path are known`, flag);
    fields[key] = decode(spec, part.slice(eq + 1), flag);
  }
  if (!fields.token || !fields.label) throw bad(spec, 'a pkcs11 signer names its token and object (key label)', flag);
  return {
    type: PKCS11,
    token: fields.token,
    label: fields.label,
    ...(fields.module ? { module: fields.module } : {}),
  };
}

/** Parses a signer spec (`--signer`'s, or for `use` 'log' `--log-signer`'s); throws INVALID_ARGUMENT saying why. */
export function parseSignerSpec(spec: string, use: SignerUse = 'publisher'): SignerSpec {
  const flag = FLAG[use];
  const colon = spec.indexOf(':');
  const type = colon < 0 ? spec : spec.slice(0, colon);
  const rest = colon < 0 ? '' : spec.slice(colon + 1);
  if (type === AWS_KMS) return parseAwsKms(spec, rest, flag);
  if (type === PKCS11) return parsePkcs11(spec, rest, flag);
  throw bad(spec, `unknown signer type ${JSON.stringify(type)}`, flag);
}

/**
 * The signer a spec names, its key checked (present, of a signing type, and for PKCS#11 non-extractable).
 * For `use` 'log' the key must be Ed25519, and AWS KMS is refused before KMS is called: its signer
 * signs ECDSA P-256 only (the test KMS has no Ed25519 keys to test one against).
 */
export async function signerFromSpec(
  spec: string,
  settings: SignerSettings = {},
  use: SignerUse = 'publisher',
): Promise<Signer> {
  const flag = FLAG[use];
  const s = parseSignerSpec(spec, use);
  if (s.type === AWS_KMS && use === 'log')
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `${flag} ${spec}: AWS KMS keys cannot sign log checkpoints yet (modelseal's KMS signer is ECDSA P-256 only; ` +
        "checkpoints need Ed25519): use an Ed25519 key in an HSM (pkcs11:<token>/<label>), or the key store's log.key",
    );
  const signer = s.type === AWS_KMS ? await kmsSigner(s, settings) : await pkcs11Signer(s, spec, settings, flag);
  if (use === 'log' && signer.algorithm !== 'ed25519')
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `${flag} ${spec}: the key signs ${signer.algorithm}; a log's checkpoints are signed with an Ed25519 key ` +
        '(CKK_EC_EDWARDS on a PKCS#11 token)',
    );
  return signer;
}

function kmsSigner(s: Extract<SignerSpec, { type: typeof AWS_KMS }>, settings: SignerSettings): Promise<Signer> {
  return AwsKmsSigner.resolve(s.key, {
    ...settings.kms,
    ...(s.region ? { region: s.region } : {}),
    ...(s.endpoint ? { endpoint: s.endpoint } : {}),
  });
}

async function pkcs11Signer(
  s: Extract<SignerSpec, { type: typeof PKCS11 }>,
  spec: string,
  settings: SignerSettings,
  flag: string,
): Promise<Signer> {
  const module = s.module ?? settings.pkcs11?.module;
  if (!module)
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `${flag} ${spec}: no PKCS#11 module; give --pkcs11-module, MODELSEAL_PKCS11_MODULE or module-path= in the spec`,
    );
  if (!settings.pkcs11?.pin)
    throw new ModelsealError('KEYSTORE', `${flag} ${spec}: no way to get the token PIN was configured`);
  return Pkcs11Signer.open(s.token, s.label, { module, pin: await settings.pkcs11.pin() });
}
