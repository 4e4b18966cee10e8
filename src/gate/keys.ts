/**
 * The recipients' API keys for the gateway (docs/GATE.md, "Identity"): one JSON file per key under
 * <data>/api-keys/, holding the key's SHA-256 and never the key. A key reads `msk_<id>_<secret>`:
 * the id (16 hex digits) names the file and is what the log shows, the secret is 256 random bits in
 * base64url. A revoke rewrites the file; `verify` re-reads a file whose stat changed, so it takes
 * effect on the next request, like a recipient's revocation.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelsealError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import type { RecipientRegistry } from '../server/recipients.js';
import type { ApiKeyRecord, ApiKeys } from './types.js';

/** What every key starts with, so secret scanners and people recognise one. */
export const API_KEY_PREFIX = 'msk_';
const KEY = /^msk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const ID = /^[0-9a-f]{16}$/;
const MODEL = /^[\x21-\x7e]{1,200}$/;
const MAX_LABEL = 200;

/** Why a key with the right secret is refused. */
export type ApiKeyRefusal = 'revoked' | 'expired' | 'recipient-unknown' | 'recipient-revoked';

/** What `ApiKeyStore.check` found of a presented key: its record when valid, else why not. */
export type ApiKeyCheck =
  | { ok: true; record: ApiKeyRecord }
  | { ok: false; reason: 'unknown'; id: string | null }
  | { ok: false; reason: ApiKeyRefusal; id: string; record: ApiKeyRecord };

/** The options of a new key. */
export interface ApiKeyOptions {
  /** Served model names it may call; empty or absent: every model. */
  models?: readonly string[];
  /** ISO 8601 expiry, or null for none. */
  expires?: string | null;
  label?: string;
}

/** The SHA-256 (hex) of a whole key, as stored. */
export function apiKeyHash(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** The id of a well-formed key (what is logged), or null when `key` has not the shape of one. */
export function apiKeyId(key: string): string | null {
  return KEY.exec(key)?.[1] ?? null;
}

/** Whether the key may call the served model `model` (an empty list: every model). */
export function keyCoversModel(record: ApiKeyRecord, model: string): boolean {
  return record.models.length === 0 || record.models.includes(model);
}

/**
 * An expiry option as ISO 8601: a date or date-time, or a duration from `now` such as `30d`, `12h`
 * or `90m`. Throws INVALID_ARGUMENT naming `option` for anything else or a time not after `now`.
 */
export function parseKeyExpiry(value: string, now: Date, option = '--expires'): string {
  const d = /^([1-9]\d{0,4})([dhm])$/.exec(value.trim());
  const at = d
    ? new Date(now.getTime() + Number(d[1]) * { d: 86400_000, h: 3600_000, m: 60_000 }[d[2] as 'd' | 'h' | 'm'])
    : /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value.trim())
      ? new Date(value.trim())
      : new Date(NaN);
  if (Number.isNaN(at.getTime()))
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `${option} ${JSON.stringify(value)}: expected an ISO 8601 date or date-time, or a duration such as 30d, 12h, 90m`,
    );
  if (at.getTime() <= now.getTime())
    throw new ModelsealError('INVALID_ARGUMENT', `${option} ${value}: the time is already past; give a later one`);
  return at.toISOString();
}

function checkOptions(o: ApiKeyOptions): { models: string[]; label: string; expires: string | null } {
  const models = [...new Set(o.models ?? [])];
  for (const m of models)
    if (!MODEL.test(m))
      throw new ModelsealError(
        'INVALID_ARGUMENT',
        `--model ${JSON.stringify(m)}: expected a served model name (1-200 printable ASCII characters, no space)`,
      );
  const label = (o.label ?? '').normalize('NFC');
  // eslint-disable-next-line no-control-regex -- control characters are refused: the label is shown in listings
  if (label.length > MAX_LABEL || /[\u0000-\u001f\u007f-\u009f]/.test(label))
    throw new ModelsealError('INVALID_ARGUMENT', `--label: at most ${MAX_LABEL} characters, no control characters`);
  if (o.expires !== undefined && o.expires !== null && Number.isNaN(Date.parse(o.expires)))
    throw new ModelsealError('INVALID_ARGUMENT', `expires ${JSON.stringify(o.expires)}: expected ISO 8601`);
  return { models, label, expires: o.expires ?? null };
}

/** The stored API keys of the recipients of `recipients`, in `dir` (`dataPaths(data).apiKeys`). */
export class ApiKeyStore implements ApiKeys {
  readonly dir: string;
  readonly #recipients: RecipientRegistry;
  #cache = new Map<string, { stamp: string; record: ApiKeyRecord }>();

  constructor(dir: string, recipients: RecipientRegistry) {
    this.dir = dir;
    this.#recipients = recipients;
  }

  #path(id: string): string {
    return join(this.dir, `${id}.json`);
  }

  /** The record of key `id`, re-read when its file changed; undefined when there is none. */
  async get(id: string): Promise<ApiKeyRecord | undefined> {
    if (!ID.test(id)) return undefined;
    const path = this.#path(id);
    const st = statSync(path, { throwIfNoEntry: false }); // synchronous: microseconds, on every request
    if (!st) {
      this.#cache.delete(id);
      return undefined;
    }
    const stamp = `${st.ino}:${st.mtimeMs}:${st.size}`;
    const hit = this.#cache.get(id);
    if (hit?.stamp === stamp) return hit.record;
    let record: ApiKeyRecord;
    try {
      record = JSON.parse(readFileSync(path, 'utf8')) as ApiKeyRecord;
    } catch (cause) {
      throw new ModelsealError('IO', `cannot read API key file ${path}: restore it or revoke the key`, { cause });
    }
    if (record.id !== id || typeof record.hash !== 'string' || !/^[0-9a-f]{64}$/.test(record.hash))
      throw new ModelsealError('IO', `API key file ${path} does not hold key ${id}: restore it or revoke the key`);
    this.#cache.set(id, { stamp, record });
    return record;
  }

  /** The record of a presented key when it is valid now: right secret, key and recipient in force. */
  async verify(key: string, now: Date): Promise<ApiKeyRecord | null> {
    const c = await this.check(key, now);
    return c.ok ? c.record : null;
  }

  /**
   * Why a presented key is valid or not (the gateway logs the reason): `unknown` covers a key of
   * another shape, an id with no file and a wrong secret alike, so the answer reveals no more than
   * `verify`'s; the others are given only for the right secret, compared in constant time.
   */
  async check(key: string, now: Date): Promise<ApiKeyCheck> {
    const id = apiKeyId(key);
    const record = id === null ? undefined : await this.get(id);
    // Compared as digests, in constant time: the time taken says nothing about the stored hash.
    if (!record || !timingSafeEqual(Buffer.from(apiKeyHash(key), 'hex'), Buffer.from(record.hash, 'hex')))
      return { ok: false, reason: 'unknown', id };
    const no = (reason: ApiKeyRefusal): ApiKeyCheck => ({ ok: false, reason, id: record.id, record });
    if (record.revoked) return no('revoked');
    if (record.expires !== null && Date.parse(record.expires) <= now.getTime()) return no('expired');
    const recipient = await this.#recipients.get(record.recipient);
    if (!recipient) return no('recipient-unknown');
    if (recipient.revoked) return no('recipient-revoked');
    return { ok: true, record };
  }

  /** Issues a key for registered recipient `recipient`; the key text is returned once and stored only hashed. */
  async issue(
    recipient: string,
    options: ApiKeyOptions = {},
    now = new Date(),
  ): Promise<{ record: ApiKeyRecord; key: string }> {
    const o = checkOptions(options);
    const r = await this.#recipients.get(recipient);
    if (!r)
      throw new ModelsealError(
        'INVALID_ARGUMENT',
        `no recipient named ${JSON.stringify(recipient)} is registered (modelseal recipient list)`,
      );
    if (r.revoked) throw new ModelsealError('INVALID_ARGUMENT', `recipient ${recipient} is revoked: no key is issued`);
    const id = randomBytes(8).toString('hex');
    const key = `${API_KEY_PREFIX}${id}_${randomBytes(32).toString('base64url')}`;
    const record: ApiKeyRecord = {
      id,
      recipient,
      models: o.models,
      label: o.label,
      created: now.toISOString(),
      expires: o.expires,
      revoked: null,
      hash: apiKeyHash(key),
    };
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.#path(id), JSON.stringify(record, null, 2) + '\n', { mode: 0o600 });
    return { record, key };
  }

  /** Revokes key `id` (the gateway refuses it from its next request); revoking twice keeps the first time. */
  async revoke(id: string, now = new Date()): Promise<ApiKeyRecord> {
    const record = await this.get(id);
    if (!record)
      throw new ModelsealError(
        'API_KEY_UNKNOWN',
        `no API key with id ${JSON.stringify(id)} (modelseal recipient key list shows them)`,
      );
    if (record.revoked) return record;
    const revoked = { ...record, revoked: now.toISOString() };
    await writeFileAtomic(this.#path(id), JSON.stringify(revoked, null, 2) + '\n', { mode: 0o600, overwrite: true });
    return revoked;
  }

  /** Every stored key, or those of `recipient`, oldest first. */
  async list(recipient?: string): Promise<ApiKeyRecord[]> {
    const ids = (await readdir(this.dir).catch(() => [] as string[]))
      .filter((f) => f.endsWith('.json'))
      .map((f) => f.slice(0, -5));
    const out: ApiKeyRecord[] = [];
    for (const id of ids) {
      const r = await this.get(id);
      if (r && (recipient === undefined || r.recipient === recipient)) out.push(r);
    }
    return out.sort((a, b) => a.created.localeCompare(b.created) || a.id.localeCompare(b.id));
  }
}
