/**
 * The provider registry: recipient strings (`local`, `x25519:…`, `aws-kms:…`, `pkcs11:…`) map to a
 * provider by their scheme, and each provider says how to make a Recipient from such a string,
 * which Identities it offers for opening, and whether it is configured and reachable
 * (`modelseal providers`). A third party adds a provider with `registerProvider` (the CLI imports
 * the modules named in MODELSEAL_PROVIDERS at start); the format code never changes.
 *
 * The registry lives on a global symbol so that the CLI bundle and a plugin importing the
 * library share it.
 */
import { readdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ModelsealError } from '../errors.js';
import { KEYSTORE_FILES, loadReleaseIdentity, type PassphraseSource } from '../keystore/keystore.js';
import type { NoteVerifier } from '../log/note.js';
import { parseReleaseRecipient, RELEASE, ReleaseIdentity, ReleaseRecipient, serviceInfo } from './release.js';
import { pathExists } from '../io/atomic.js';
import type { Identity, Recipient } from './types.js';
import { loadX25519Identity, parseX25519Recipient, X25519Recipient } from './x25519.js';
import { loadLocalKey } from './local.js';
import { AWS_KMS, AwsKmsIdentity, AwsKmsRecipient, awsKmsStatus, type AwsKmsOptions } from './awskms.js';
import { listTokens, parsePkcs11Id, PKCS11, Pkcs11Identity, Pkcs11Recipient } from './pkcs11.js';

/** What providers may need from their surroundings (the CLI fills it from options and environment). */
export interface ProviderSettings {
  /** The key store folder. */
  keysDir: string;
  passphrase: PassphraseSource;
  /** x25519 identity files given with --identity. */
  identityFiles: readonly string[];
  kms: AwsKmsOptions;
  /** The PKCS#11 module, when configured, and how to get the PIN (asked for only when a token is used). */
  pkcs11?: { module: string; pin: () => Promise<string> };
  /** Asking the release service for keys (`open --server`). */
  release?: {
    /** Default: the service URL recorded in the stanza. */
    server?: string;
    /** The recipient's identity file (`modelseal recipient issue`). */
    identityFile: string;
    destination: string;
    /** The log verifier key that the service's receipts must verify under. */
    logKey: NoteVerifier;
    onReceipt?: (receipt: string, requestId: string) => void;
  };
}

export interface ProviderStatus {
  provider: string;
  summary: string;
  /** Whether the provider has what it needs to be used (a key store, a module, an AWS region…). */
  configured: boolean;
  /** Whether it answered just now; null when there is nothing to ask (offline keys). */
  reachable: boolean | null;
  detail: string;
  /** The configuration in use (never secrets). */
  config: Record<string, string>;
}

export interface Provider {
  /** The recipient-string scheme: `scheme` or `scheme:<spec>`. */
  scheme: string;
  summary: string;
  /** How a recipient string of this provider looks, for help texts. */
  example: string;
  recipient(value: string, settings: ProviderSettings): Promise<Recipient>;
  /** Identities for opening; each should ignore stanzas that are not its own. */
  identities(settings: ProviderSettings): Promise<Identity[]>;
  status(settings: ProviderSettings): Promise<ProviderStatus>;
}

const KEY = Symbol.for('modelseal.providers');
const registry: Map<string, Provider> =
  ((globalThis as Record<symbol, unknown>)[KEY] as Map<string, Provider> | undefined) ?? new Map<string, Provider>();
(globalThis as Record<symbol, unknown>)[KEY] = registry;

export function registerProvider(p: Provider): void {
  if (!/^[a-z][a-z0-9-]{0,31}$/.test(p.scheme))
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `provider scheme ${JSON.stringify(p.scheme)}: expected a short lowercase name`,
    );
  const existing = registry.get(p.scheme);
  if (existing && existing !== p)
    throw new ModelsealError('INVALID_ARGUMENT', `a provider for ${p.scheme}: is already registered`);
  registry.set(p.scheme, p);
}

export function listProviders(): Provider[] {
  return [...registry.values()];
}

/** The Recipient a recipient string names (`local`, `x25519:…`, `aws-kms:…`, `pkcs11:…`, or a registered scheme). */
export async function recipientFrom(value: string, settings: ProviderSettings): Promise<Recipient> {
  const scheme = value.includes(':') ? value.slice(0, value.indexOf(':')) : value;
  const p = registry.get(scheme);
  if (!p) {
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `${value}: unknown recipient; use ${listProviders()
        .map((x) => `"${x.example}"`)
        .join(', ')}`,
    );
  }
  return p.recipient(value, settings);
}

/** Every provider's identities, in registration order (offline keys first, then HSM, then KMS). */
export async function identitiesFrom(settings: ProviderSettings): Promise<Identity[]> {
  const out: Identity[] = [];
  for (const p of registry.values()) out.push(...(await p.identities(settings)));
  return out;
}

const status = (p: Provider, s: Omit<ProviderStatus, 'provider' | 'summary'>): ProviderStatus => ({
  provider: p.scheme,
  summary: p.summary,
  ...s,
});

const local: Provider = {
  scheme: 'local',
  summary: 'a key-encryption key in the key store (keys/local.kek)',
  example: 'local',
  async recipient(value, s) {
    const key = await loadLocalKey(join(s.keysDir, KEYSTORE_FILES.localKek), s.passphrase);
    if (value !== 'local' && value !== 'local:' && value !== key.id)
      throw new ModelsealError('INVALID_ARGUMENT', `${value}: the key store's local key is ${key.id}`);
    return key;
  },
  async identities(s) {
    const kek = join(s.keysDir, KEYSTORE_FILES.localKek);
    return (await pathExists(kek)) ? [await loadLocalKey(kek, s.passphrase)] : [];
  },
  async status(s) {
    const kek = join(s.keysDir, KEYSTORE_FILES.localKek);
    const ok = await pathExists(kek);
    return status(this, {
      configured: ok,
      reachable: null,
      detail: ok ? `key file ${kek}` : `no ${kek}: run modelseal init`,
      config: { keys: s.keysDir },
    });
  },
};

const x25519: Provider = {
  scheme: 'x25519',
  summary: "an offline recipient's X25519 key pair (modelseal keygen)",
  example: 'x25519:<public key or .pub file>',
  async recipient(value) {
    const rest = value.slice('x25519:'.length);
    let text = value;
    if (!/^[A-Za-z0-9_-]{43}$/.test(rest)) {
      try {
        text = (await readFile(rest, 'utf8')).trim();
      } catch (cause) {
        throw new ModelsealError('INVALID_ARGUMENT', `${value}: neither an x25519 public key nor a readable file`, {
          cause,
        });
      }
    }
    return new X25519Recipient(parseX25519Recipient(text));
  },
  async identities(s) {
    const out: Identity[] = [];
    for (const f of s.identityFiles) out.push(await loadX25519Identity(f, s.passphrase));
    const own = join(s.keysDir, KEYSTORE_FILES.identity);
    if (await pathExists(own)) out.push(await loadX25519Identity(own, s.passphrase));
    return out;
  },
  async status(s) {
    const own = join(s.keysDir, KEYSTORE_FILES.identity);
    const files = [...s.identityFiles, ...((await pathExists(own)) ? [own] : [])];
    return status(this, {
      configured: true,
      reachable: null,
      detail: files.length
        ? `identities: ${files.join(', ')}`
        : 'sealing to public keys works; no identity to open with',
      config: {},
    });
  },
};

const pkcs11: Provider = {
  scheme: PKCS11,
  summary: 'an AES-256 key inside an HSM (any PKCS#11 token)',
  example: 'pkcs11:<token label>/<key label>',
  async recipient(value, s) {
    if (!s.pkcs11)
      throw new ModelsealError(
        'INVALID_ARGUMENT',
        `${value}: pkcs11 recipients need the PKCS#11 module: --pkcs11-module <path> or MODELSEAL_PKCS11_MODULE`,
      );
    const { token, key } = parsePkcs11Id(value);
    return Pkcs11Recipient.open(token, key, { module: s.pkcs11.module, pin: await s.pkcs11.pin() });
  },
  async identities(s) {
    return s.pkcs11 ? [new Pkcs11Identity({ module: s.pkcs11.module, pin: s.pkcs11.pin })] : [];
  },
  async status(s) {
    if (!s.pkcs11)
      return status(this, {
        configured: false,
        reachable: null,
        detail: 'no module: --pkcs11-module or MODELSEAL_PKCS11_MODULE',
        config: {},
      });
    try {
      const tokens = await listTokens(s.pkcs11.module);
      return status(this, {
        configured: true,
        reachable: true,
        detail: tokens.length ? `tokens: ${tokens.join(', ')}` : 'no initialised token',
        config: { module: s.pkcs11.module },
      });
    } catch (e) {
      return status(this, {
        configured: true,
        reachable: false,
        detail: e instanceof Error ? e.message : String(e),
        config: { module: s.pkcs11.module },
      });
    }
  },
};

const awsKms: Provider = {
  scheme: AWS_KMS,
  summary: 'an AWS KMS key (or a KMS-compatible service)',
  example: 'aws-kms:<key ARN, id or alias>',
  async recipient(value, s) {
    return AwsKmsRecipient.resolve(value.slice(AWS_KMS.length + 1), s.kms);
  },
  async identities(s) {
    return [new AwsKmsIdentity(s.kms)];
  },
  async status(s) {
    const env = process.env;
    const config: Record<string, string> = {};
    if (s.kms.endpoint ?? env.AWS_ENDPOINT_URL_KMS) config.endpoint = (s.kms.endpoint ?? env.AWS_ENDPOINT_URL_KMS)!;
    for (const k of ['AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE'] as const) if (env[k]) config[k] = env[k]!;
    const hasConfigFile = await readdir(join(homedir(), '.aws')).then(
      () => true,
      () => false,
    );
    if (!config.AWS_REGION && !config.AWS_DEFAULT_REGION && !config.AWS_PROFILE && !hasConfigFile) {
      return status(this, {
        configured: false,
        reachable: null,
        detail: 'no AWS region or profile: set AWS_REGION (and credentials) or ~/.aws/config',
        config,
      });
    }
    const r = await awsKmsStatus(s.kms);
    return status(this, { configured: true, reachable: r.ok, detail: r.detail, config });
  },
};

const release: Provider = {
  scheme: RELEASE,
  summary: 'the release service: the key is released after a policy decision, logged first (modelseal serve)',
  example: 'release:<service URL>#<recipient>',
  async recipient(value) {
    const { service, recipient } = parseReleaseRecipient(value);
    const info = await serviceInfo(service);
    return new ReleaseRecipient(service, recipient, new X25519Recipient(parseX25519Recipient(info.wrap)));
  },
  async identities(s) {
    if (!s.release) return [];
    const { name, key } = await loadReleaseIdentity(s.release.identityFile, s.passphrase);
    return [
      new ReleaseIdentity({
        name,
        key,
        destination: s.release.destination,
        logKey: s.release.logKey,
        ...(s.release.server ? { server: s.release.server } : {}),
        ...(s.release.onReceipt ? { onReceipt: s.release.onReceipt } : {}),
      }),
    ];
  },
  async status(s) {
    if (!s.release?.server)
      return status(this, {
        configured: false,
        reachable: null,
        detail: 'give --server <URL> (and --identity, --destination) to ask a release service',
        config: {},
      });
    const config = { server: s.release.server };
    try {
      const info = await serviceInfo(s.release.server);
      return status(this, {
        configured: true,
        reachable: true,
        detail: `log ${info.origin}, policy set ${info.policySet.slice(0, 16)}…`,
        config,
      });
    } catch (e) {
      return status(this, {
        configured: true,
        reachable: false,
        detail: e instanceof Error ? e.message : String(e),
        config,
      });
    }
  },
};

// The built-ins, once per process (the CLI bundle and a plugin's copy of the library share the registry).
for (const p of [local, x25519, pkcs11, awsKms, release]) if (!registry.has(p.scheme)) registry.set(p.scheme, p);
