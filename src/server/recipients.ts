/**
 * The recipient registry of the release service: who may ask for keys. Each recipient is a JSON
 * file under <data>/recipients/ with its attributes (organisation, country, nationalities and
 * citizenships), its
 * public key, and an X.509 certificate issued by the publisher's CA (node-forge) when the key is
 * RSA. Revocation is a field in that file; the service re-reads a file whose mtime changed, so it
 * takes effect on the next request. docs/SERVER.md.
 */
import {
  createHash,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { asn1 } from 'node-forge';
import { ModelsealError } from '../errors.js';
import { pathExists, writeFileAtomic } from '../io/atomic.js';
import { makeKeyFile, readKeyFile, unlockKeyFile, writeKeyFile, type KeyFile } from '../keystore/keyfile.js';
import type { ScreeningOverride } from '../compliance/records.js';

const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const COUNTRY = /^[A-Z]{2}$/;

export interface RecipientRecord {
  name: string;
  org: string;
  country: string;
  /** The first nationality, or "" (what records before issue 19 held alone; kept for their readers). */
  nationality: string;
  /** ISO 3166 alpha-2, as registered; a record that has only `nationality` reads as [nationality]. */
  nationalities: string[];
  citizenships: string[];
  /** The operator's decision to register the recipient although screening flagged it. */
  screeningOverride?: ScreeningOverride;
  /** SPKI PEM of the key that signs the recipient's release requests. */
  publicKey: string;
  /** PEM certificate issued by the publisher's CA (RSA keys), or null for a registered key without one. */
  certificate: string | null;
  /**
   * SHA-256 (hex) of the certificate DER, or of the SPKI DER when there is no certificate: logged with each request.
   */
  fingerprint: string;
  created: string;
  /** When it was revoked (ISO 8601), or null. */
  revoked: string | null;
}

export interface RecipientAttributesInput {
  org: string;
  country: string;
  nationalities?: readonly string[];
  citizenships?: readonly string[];
  /** One nationality, as before issue 19: added to `nationalities`. */
  nationality?: string;
}

export type { ScreeningOverride };

type CheckedAttributes = Pick<RecipientRecord, 'org' | 'country' | 'nationality' | 'nationalities' | 'citizenships'>;

/** Nationalities and citizenships together, sorted, once each: what the policy and the log see. */
export function recipientNationalities(r: Pick<RecipientRecord, 'nationalities' | 'citizenships'>): string[] {
  return [...new Set([...r.nationalities, ...r.citizenships])].sort();
}

/** A record as read from disk: one written before issue 19 has `nationality` alone. */
function upgradeRecord(r: RecipientRecord): RecipientRecord {
  const old = r as Partial<RecipientRecord>;
  return {
    ...r,
    nationalities: old.nationalities ?? (r.nationality ? [r.nationality] : []),
    citizenships: old.citizenships ?? [],
  };
}

function bad(message: string): ModelsealError {
  return new ModelsealError('INVALID_ARGUMENT', message);
}

export function checkRecipientName(name: string): string {
  if (!NAME.test(name))
    throw bad(
      `recipient name ${JSON.stringify(name)}: use 1-64 lowercase letters, digits, ".", "_" or "-", starting with a ` +
        `letter or digit`,
    );
  return name;
}

/** RFC 5280 ub-organization-name: the certificate's organizationName holds at most 64 characters. */
export const MAX_ORG_CHARS = 64;
// C0/C1 controls, and the bidi embeddings, overrides and isolates that make a name display as another (CVE-2021-42574).
const UNSAFE_TEXT = /[\p{Cc}\u2028\u2029\u202A-\u202E\u2066-\u2069]/u;

/**
 * A party name in any script, as it is stored, certified and logged: NFC-normalised (so the same
 * name typed decomposed or precomposed is one name), at most MAX_ORG_CHARS code points, without
 * controls, bidi overrides or unpaired surrogates.
 */
export function normalizePartyName(value: string, option = '--org'): string {
  if (/\p{Cs}/u.test(value))
    throw bad(`${option}: the name holds an unpaired UTF-16 surrogate; give it as valid Unicode text`);
  const nfc = value.normalize('NFC').trim();
  if (!nfc) throw bad(`${option}: the recipient organisation is required`);
  const bad1 = UNSAFE_TEXT.exec(nfc);
  if (bad1)
    throw bad(
      `${option}: the name holds U+${bad1[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}, a control ` +
        `or bidi-override character; remove it`,
    );
  // eslint-disable-next-line @typescript-eslint/no-misused-spread -- code points on purpose, as X.509 counts them
  const chars = [...nfc].length;
  if (chars > MAX_ORG_CHARS)
    throw bad(
      `${option}: ${chars} characters, at most ${MAX_ORG_CHARS} fit an X.509 organizationName (RFC 5280); give the ` +
        `registered short form`,
    );
  return nfc;
}

/** Checked ISO 3166 alpha-2 codes of `option`, once each, in the order given. */
function countries(values: readonly string[], option: string): string[] {
  for (const v of values)
    if (!COUNTRY.test(v)) throw bad(`${option} ${JSON.stringify(v)}: expected an ISO 3166 alpha-2 code such as DE`);
  return [...new Set(values)];
}

/**
 * The attributes checked and normalised. `org` may be missing where a JavaScript caller left it out:
 * it is then reported as required.
 */
export function checkRecipientAttributes(
  a: Omit<RecipientAttributesInput, 'org'> & { org?: string },
): CheckedAttributes {
  const org = normalizePartyName(a.org ?? '');
  if (!COUNTRY.test(a.country))
    throw bad(`--country ${JSON.stringify(a.country)}: expected an ISO 3166 alpha-2 code such as DE`);
  const nationalities = countries(
    [...(a.nationality ? [a.nationality] : []), ...(a.nationalities ?? [])],
    '--nationality',
  );
  const citizenships = countries(a.citizenships ?? [], '--citizenship');
  return { org, country: a.country, nationality: nationalities[0] ?? '', nationalities, citizenships };
}

// ---- the publisher's CA (RSA, because node-forge signs certificates with RSA only) ----

export const CA_FILES = { key: 'ca.key', cert: 'ca.pem' } as const;

export interface CertificateAuthority {
  certificate: string;
  issue(subject: { name: string; org: string; country: string }, publicKey: KeyObject): string;
}

/** Loads the key store's CA, creating it (RSA-3072, self-signed, 10 years) on first use. */
export async function loadOrCreateCa(
  keystore: string,
  passphrase?: () => Promise<string>,
): Promise<CertificateAuthority> {
  // Loaded here, not at start: node-forge is half the CLI bundle and only issuing certificates uses it.
  const { default: forge } = await import('node-forge');
  const keyPath = join(keystore, CA_FILES.key);
  const certPath = join(keystore, CA_FILES.cert);
  let pkcs8: Uint8Array;
  let certificate: string;
  if (await pathExists(keyPath)) {
    const f = await readKeyFile(keyPath);
    if (f.kind !== 'ca-rsa') throw new ModelsealError('KEYSTORE', `${keyPath} holds a ${f.kind} key, not the CA key`);
    pkcs8 = await unlockKeyFile(
      f,
      keyPath,
      passphrase ??
        (async () => {
          throw new ModelsealError('KEYSTORE', `${keyPath} is passphrase-protected: pass --passphrase-file`);
        }),
    );
    certificate = f.public;
  } else {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 3072 });
    pkcs8 = new Uint8Array(privateKey.export({ format: 'der', type: 'pkcs8' }));
    const key = forge.pki.privateKeyFromAsn1(
      forge.asn1.fromDer(forge.util.createBuffer(Buffer.from(pkcs8).toString('binary'))),
    );
    const cert = forge.pki.createCertificate();
    cert.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
    cert.serialNumber = serial();
    cert.validity.notBefore = new Date();
    cert.validity.notAfter = new Date(Date.now() + 10 * 365 * 86400_000);
    const attrs = [{ name: 'commonName', value: 'modelseal publisher CA' }];
    cert.setSubject(attrs);
    cert.setIssuer(attrs);
    cert.setExtensions([
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
      { name: 'subjectKeyIdentifier' },
    ]);
    cert.sign(key, forge.md.sha256.create());
    certificate = forge.pki.certificateToPem(cert);
    const f: KeyFile = makeKeyFile(
      'ca-rsa',
      createHash('sha256').update(certificate).digest('hex').slice(0, 16),
      certificate,
      pkcs8,
    );
    await writeKeyFile(keyPath, f);
    await writeFileAtomic(certPath, certificate);
  }
  const caKey = forge.pki.privateKeyFromAsn1(
    forge.asn1.fromDer(forge.util.createBuffer(Buffer.from(pkcs8).toString('binary'))),
  );
  const caCert = forge.pki.certificateFromPem(certificate);
  return {
    certificate,
    issue(subject, publicKey) {
      if (publicKey.asymmetricKeyType !== 'rsa') throw bad('the CA issues certificates for RSA keys only');
      const cert = forge.pki.createCertificate();
      cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ format: 'pem', type: 'spki' }).toString());
      cert.serialNumber = serial();
      cert.validity.notBefore = new Date();
      cert.validity.notAfter = new Date(Date.now() + 2 * 365 * 86400_000);
      // UTF8String for the names (RFC 5280 §4.1.2.4; node-forge encodes the JS string when told), PrintableString for
      // the country.
      const utf8 = forge.asn1.Type.UTF8 as unknown as asn1.Class; // @types/node-forge mistypes the field
      cert.setSubject([
        { name: 'commonName', value: subject.name, valueTagClass: utf8 },
        { name: 'organizationName', value: subject.org, valueTagClass: utf8 },
        { name: 'countryName', value: subject.country },
      ]);
      cert.setIssuer(caCert.subject.attributes);
      cert.setExtensions([
        { name: 'basicConstraints', cA: false, critical: true },
        { name: 'keyUsage', digitalSignature: true, critical: true },
      ]);
      cert.sign(caKey, forge.md.sha256.create());
      return forge.pki.certificateToPem(cert);
    },
  };
}

/** A positive 16-byte serial number, hex (RFC 5280 §4.1.2.2). */
function serial(): string {
  const b = randomBytes(16);
  b[0]! &= 0x7f;
  return b.toString('hex');
}

// ---- the registry ----

export class RecipientRegistry {
  readonly dir: string;
  #cache = new Map<string, { mtimeMs: number; record: RecipientRecord; key: KeyObject }>();

  constructor(dir: string) {
    this.dir = dir;
  }

  #path(name: string): string {
    return join(this.dir, `${checkRecipientName(name)}.json`);
  }

  /** The current record of `name`, re-read when its file changed; undefined when unknown. */
  async get(name: string): Promise<RecipientRecord | undefined> {
    return this.#entry(name)?.record;
  }

  /**
   * The record and its parsed public key (kept until the file changes: parsing a PEM key costs more than the signature
   * check).
   */
  async getWithKey(name: string): Promise<{ record: RecipientRecord; key: KeyObject } | undefined> {
    return this.#entry(name);
  }

  #entry(name: string): { record: RecipientRecord; key: KeyObject } | undefined {
    if (!NAME.test(name)) return undefined;
    const path = this.#path(name);
    // A synchronous stat: a few microseconds, where the thread-pool round trip costs tens.
    const st = statSync(path, { throwIfNoEntry: false });
    if (!st) {
      this.#cache.delete(name);
      return undefined;
    }
    const hit = this.#cache.get(name);
    if (hit?.mtimeMs === st.mtimeMs) return hit;
    const record = upgradeRecord(JSON.parse(readFileSync(path, 'utf8')) as RecipientRecord);
    const entry = { mtimeMs: st.mtimeMs, record, key: createPublicKey(record.publicKey) };
    this.#cache.set(name, entry);
    return entry;
  }

  async list(): Promise<RecipientRecord[]> {
    const names = (await readdir(this.dir).catch(() => [] as string[]))
      .filter((f) => f.endsWith('.json'))
      .map((f) => f.slice(0, -5));
    const out: RecipientRecord[] = [];
    for (const n of names.sort()) {
      const r = await this.get(n);
      if (r) out.push(r);
    }
    return out;
  }

  async #write(r: RecipientRecord, overwrite: boolean): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    try {
      await writeFileAtomic(this.#path(r.name), JSON.stringify(r, null, 2) + '\n', { overwrite });
    } catch (e) {
      if (e instanceof ModelsealError && e.code === 'OUTPUT_EXISTS')
        throw new ModelsealError(
          'OUTPUT_EXISTS',
          `recipient ${r.name} is already registered; revoke it and choose another name`,
        );
      throw e;
    }
  }

  /** Registers a recipient's public key (and a certificate for it, when the CA can issue one). */
  async register(
    name: string,
    input: RecipientAttributesInput,
    publicKey: KeyObject,
    ca?: CertificateAuthority,
    screeningOverride?: ScreeningOverride,
  ): Promise<RecipientRecord> {
    checkRecipientName(name);
    const attrs = checkRecipientAttributes(input);
    if (publicKey.type !== 'public' || !['rsa', 'ec', 'ed25519'].includes(publicKey.asymmetricKeyType ?? '')) {
      throw bad('a recipient key must be an RSA, ECDSA or Ed25519 public key (PEM)');
    }
    const subject = { name, org: attrs.org, country: attrs.country };
    const certificate = ca && publicKey.asymmetricKeyType === 'rsa' ? ca.issue(subject, publicKey) : null;
    const spki = publicKey.export({ format: 'der', type: 'spki' });
    const record: RecipientRecord = {
      name,
      ...attrs,
      publicKey: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
      certificate,
      fingerprint: createHash('sha256')
        .update(certificate ? new X509Certificate(certificate).raw : spki)
        .digest('hex'),
      created: new Date().toISOString(),
      revoked: null,
      ...(screeningOverride && { screeningOverride }),
    };
    await this.#write(record, false);
    return record;
  }

  /**
   * Makes a key pair (RSA-3072) and a certificate for a new recipient. Returns the record and the
   * identity key file to hand to the recipient (its secret is theirs: the registry keeps no copy).
   */
  async issue(
    name: string,
    input: RecipientAttributesInput,
    ca: CertificateAuthority,
    passphrase?: string,
    screeningOverride?: ScreeningOverride,
  ): Promise<{ record: RecipientRecord; identity: KeyFile }> {
    checkRecipientName(name);
    const attrs = checkRecipientAttributes(input);
    if (await this.get(name))
      throw new ModelsealError(
        'OUTPUT_EXISTS',
        `recipient ${name} is already registered; revoke it and choose another name`,
      );
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 3072 });
    const record = await this.register(name, attrs, publicKey, ca, screeningOverride);
    const pkcs8 = new Uint8Array(privateKey.export({ format: 'der', type: 'pkcs8' }));
    return { record, identity: makeKeyFile('release-identity', name, record.certificate!, pkcs8, passphrase) };
  }

  async revoke(name: string): Promise<RecipientRecord> {
    const r = await this.get(name);
    if (!r) throw bad(`no recipient named ${JSON.stringify(name)} is registered (modelseal recipient list)`);
    if (r.revoked) return r;
    const revoked = { ...r, revoked: new Date().toISOString() };
    await this.#write(revoked, true);
    return revoked;
  }
}
