/**
 * The gateway's quota file and the window arithmetic both quota stores share (docs/GATE.md,
 * "Quotas and metering"). The file (`<data>/gate/quotas.json`) sets limits per recipient, per
 * organisation and per capability tier, and `defaults` for a recipient without its own entry. Use is
 * counted in fixed UTC windows (the minute, the day, the calendar month) under each of the call's
 * three subjects, whether or not a limit applies to it, so a limit added later sees the use before it.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ModelsealError } from '../errors.js';
import { watchAndPoll, type ChangeTrigger } from '../policy/watcher.js';
import { dataPaths } from '../server/paths.js';
import type { QuotaAmount, QuotaLimits, QuotaSubject } from './types.js';

/** The quota file of data directory `data`: `<data>/gate/quotas.json`. */
export function quotaFilePath(data: string): string {
  return join(dataPaths(data).gate, 'quotas.json');
}

/** Tokens reserved for the completion of a request without `max_tokens` when the quota file says none. */
export const DEFAULT_MAX_TOKENS = 4096;

/** The quota file as validated, with its digest. */
export interface QuotaConfig {
  /** "sha256:…" of the file's bytes, "" without a file. */
  digest: string;
  /** Completion tokens reserved for a request that sets no `max_tokens`. */
  defaultMaxTokens: number;
  /** Limits of a recipient without its own entry. */
  defaults: QuotaLimits;
  recipients: Record<string, QuotaLimits>;
  orgs: Record<string, QuotaLimits>;
  tiers: Record<string, QuotaLimits>;
}

/** No file: no limits. */
export const NO_QUOTAS: QuotaConfig = Object.freeze({
  digest: '',
  defaultMaxTokens: DEFAULT_MAX_TOKENS,
  defaults: {},
  recipients: {},
  orgs: {},
  tiers: {},
});

type Metric = keyof QuotaAmount;
export type QuotaWindow = 'minute' | 'day' | 'month';
export const QUOTA_WINDOWS: readonly QuotaWindow[] = ['minute', 'day', 'month'];

/** Each limit of QuotaLimits: what it counts and over which window. */
const RULES: readonly { name: keyof QuotaLimits; metric: Metric; window: QuotaWindow }[] = [
  { name: 'requestsPerMinute', metric: 'requests', window: 'minute' },
  { name: 'tokensPerMinute', metric: 'tokens', window: 'minute' },
  { name: 'tokensPerDay', metric: 'tokens', window: 'day' },
  { name: 'tokensPerMonth', metric: 'tokens', window: 'month' },
  { name: 'flopsPerDay', metric: 'flops', window: 'day' },
  { name: 'flopsPerMonth', metric: 'flops', window: 'month' },
];

// ---- the file ----

function invalid(where: string, message: string): ModelsealError {
  return new ModelsealError(
    'QUOTA_INVALID',
    `${where}: ${message}; fix the file (docs/GATE.md, "Quotas and metering")`,
  );
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function checkLimits(v: unknown, where: string): QuotaLimits {
  if (!isObject(v)) throw invalid(where, 'expected an object of limits');
  const out: QuotaLimits = {};
  for (const [k, x] of Object.entries(v)) {
    const rule = RULES.find((r) => r.name === k);
    if (!rule) throw invalid(`${where}.${k}`, `unknown limit; expected one of ${RULES.map((r) => r.name).join(', ')}`);
    if (rule.metric === 'flops') {
      if (typeof x !== 'string' || !/^(0|[1-9]\d{0,39})$/.test(x))
        throw invalid(`${where}.${k}`, 'expected FLOPs as a decimal string such as "1000000000000000"');
      out[rule.name as 'flopsPerDay'] = x;
    } else {
      if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0)
        throw invalid(`${where}.${k}`, 'expected a non-negative integer');
      out[rule.name as 'tokensPerDay'] = x;
    }
  }
  return out;
}

function checkTable(v: unknown, where: string, key: (k: string) => string): Record<string, QuotaLimits> {
  if (v === undefined) return {};
  if (!isObject(v)) throw invalid(where, 'expected an object of limits by name');
  const out: Record<string, QuotaLimits> = Object.create(null) as Record<string, QuotaLimits>;
  for (const [k, x] of Object.entries(v)) {
    const name = key(k);
    if (!name) throw invalid(`${where}.${JSON.stringify(k)}`, 'not a valid name');
    out[name] = checkLimits(x, `${where}.${k}`);
  }
  return out;
}

const RECIPIENT = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** Validates the text of a quota file (`source` names it in errors); throws QUOTA_INVALID naming the field. */
export function parseQuotaFile(text: string, source = 'quotas.json'): QuotaConfig {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (cause) {
    throw new ModelsealError('QUOTA_INVALID', `${source}: not JSON (${(cause as Error).message}); fix the file`, {
      cause,
    });
  }
  if (!isObject(v)) throw invalid(source, 'expected a JSON object');
  const known = ['defaultMaxTokens', 'defaults', 'recipients', 'orgs', 'tiers'];
  for (const k of Object.keys(v))
    if (!known.includes(k)) throw invalid(`${source}: ${k}`, `unknown field; expected ${known.join(', ')}`);
  const dmt = v.defaultMaxTokens ?? DEFAULT_MAX_TOKENS;
  if (typeof dmt !== 'number' || !Number.isSafeInteger(dmt) || dmt < 1)
    throw invalid(`${source}: defaultMaxTokens`, 'expected a positive integer');
  return {
    digest: `sha256:${createHash('sha256').update(text, 'utf8').digest('hex')}`,
    defaultMaxTokens: dmt,
    defaults: v.defaults === undefined ? {} : checkLimits(v.defaults, `${source}: defaults`),
    recipients: checkTable(v.recipients, `${source}: recipients`, (k) => (RECIPIENT.test(k) ? k : '')),
    orgs: checkTable(v.orgs, `${source}: orgs`, (k) => k.normalize('NFC').trim()),
    tiers: checkTable(v.tiers, `${source}: tiers`, (k) => (/^[a-z0-9][a-z0-9._-]{0,63}$/.test(k) ? k : '')),
  };
}

/** Reads and validates a quota file; a missing file is no quotas. */
export async function loadQuotaFile(path: string): Promise<QuotaConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return NO_QUOTAS;
    throw new ModelsealError('QUOTA_INVALID', `cannot read the quota file ${path}: fix its permissions`, { cause });
  }
  return parseQuotaFile(text, path);
}

/** Where the quotas in force come from: a file being watched, or a fixed configuration. */
export interface QuotaSource {
  readonly config: QuotaConfig;
}

/**
 * A quota file the operator edits while the gateway runs: reloaded when it changes (fs.watch plus a
 * stat poll, as the policy directory is); an edit that does not validate is reported to `onError`
 * and the previous file stays in force. Removing the file removes the limits.
 */
export class QuotaFile implements QuotaSource {
  readonly path: string;
  #config: QuotaConfig;
  #stop: () => void = () => {};
  #loading: Promise<void> | null = null;
  readonly #onError: (e: unknown) => void;

  private constructor(path: string, config: QuotaConfig, onError: (e: unknown) => void) {
    this.path = path;
    this.#config = config;
    this.#onError = onError;
  }

  /** Loads `path` (throws QUOTA_INVALID when it does not validate) and watches it. */
  static async open(
    path: string,
    onError: (e: unknown) => void = () => {},
    opts: { pollMs?: number; trigger?: ChangeTrigger } = {},
  ): Promise<QuotaFile> {
    const f = new QuotaFile(path, await loadQuotaFile(path), onError);
    const trigger = opts.trigger ?? watchAndPoll(opts.pollMs ?? 1000);
    f.#stop = trigger(dirname(path), () => void f.check());
    return f;
  }

  /** The quotas in force. */
  get config(): QuotaConfig {
    return this.#config;
  }

  /** Reads the file now and puts it in force if it validates. */
  check(): Promise<void> {
    this.#loading ??= loadQuotaFile(this.path)
      .then(
        (c) => {
          this.#config = c;
          this.#lastError = '';
        },
        (e: unknown) => {
          // A file that stays broken is reported once, not at every poll.
          const message = e instanceof Error ? e.message : String(e);
          if (message === this.#lastError) return;
          this.#lastError = message;
          this.#onError(e);
        },
      )
      .finally(() => {
        this.#loading = null;
      });
    return this.#loading;
  }

  #lastError = '';

  close(): void {
    this.#stop();
  }
}

// ---- windows and limits ----

/** The start (ms since the epoch) of the UTC window of kind `w` that holds `t`. */
export function windowStart(w: QuotaWindow, t: number): number {
  if (w === 'minute') return t - (((t % 60_000) + 60_000) % 60_000);
  const d = new Date(t);
  return w === 'day'
    ? Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate())
    : Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

/** The end (exclusive) of the window of kind `w` that starts at `start`. */
export function windowEnd(w: QuotaWindow, start: number): number {
  if (w === 'minute') return start + 60_000;
  if (w === 'day') return start + 86_400_000;
  const d = new Date(start);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}

/** One counter: the use of one subject ("recipient:acme", "org:Acme Ltd", "tier:frontier") in one window. */
export interface QuotaCounter {
  subject: string;
  window: QuotaWindow;
  start: number;
}

/** What a counter holds. */
export interface QuotaUse {
  requests: bigint;
  tokens: bigint;
  flops: bigint;
}

/** The nine counters a call at `at` is counted in: three subjects × three windows, in a fixed order (lock order). */
export function quotaCounters(subject: QuotaSubject, at: number): QuotaCounter[] {
  const subjects = [`org:${subject.org}`, `recipient:${subject.recipient}`, `tier:${subject.tier}`];
  return subjects.flatMap((s) =>
    QUOTA_WINDOWS.map((window) => ({ subject: s, window, start: windowStart(window, at) })),
  );
}

/** A counter's key in maps and rows. */
export const counterKey = (c: QuotaCounter): string => `${c.subject}\u0000${c.window}\u0000${c.start}`;

/** The entry of `name` in a table of the quota file (own properties only: "constructor" is a name like another). */
const entry = (table: Record<string, QuotaLimits>, name: string): QuotaLimits | undefined =>
  Object.hasOwn(table, name) ? table[name] : undefined;

/** The limits that apply to each subject of a call. */
function limitsOf(config: QuotaConfig, subject: QuotaSubject): { subject: string; limits: QuotaLimits }[] {
  return [
    {
      subject: `recipient:${subject.recipient}`,
      limits: entry(config.recipients, subject.recipient) ?? config.defaults,
    },
    { subject: `org:${subject.org}`, limits: entry(config.orgs, subject.org.normalize('NFC').trim()) ?? {} },
    { subject: `tier:${subject.tier}`, limits: entry(config.tiers, subject.tier) ?? {} },
  ];
}

/** Every limit that applies to a call at `at`, with its counter and a name for errors and 429s. */
function applicable(config: QuotaConfig, subject: QuotaSubject, at: number) {
  return limitsOf(config, subject).flatMap(({ subject: s, limits }) =>
    RULES.filter((r) => limits[r.name] !== undefined).map((r) => {
      const start = windowStart(r.window, at);
      return {
        counter: counterKey({ subject: s, window: r.window, start }),
        metric: r.metric,
        limit: BigInt(limits[r.name]!),
        name: `${s} ${r.name}`,
        end: windowEnd(r.window, start),
      };
    }),
  );
}

const amountOf = (a: QuotaAmount, m: Metric): bigint => (m === 'flops' ? a.flops : BigInt(a[m]));
const ZERO: QuotaUse = { requests: 0n, tokens: 0n, flops: 0n };

/**
 * Whether `amount` fits every limit of `subject` given the counters' use (`use`, by counterKey):
 * null when it does, else the refusing limit whose window frees last and the seconds until it does.
 */
export function quotaRefusal(
  config: QuotaConfig,
  subject: QuotaSubject,
  amount: QuotaAmount,
  use: (key: string) => QuotaUse | undefined,
  at: number,
): { limit: string; retryAfter: number } | null {
  let worst: { limit: string; end: number } | null = null;
  for (const l of applicable(config, subject, at)) {
    const used = (use(l.counter) ?? ZERO)[l.metric];
    if (used + amountOf(amount, l.metric) > l.limit && (!worst || l.end > worst.end))
      worst = { limit: l.name, end: l.end };
  }
  return worst && { limit: worst.limit, retryAfter: Math.max(1, Math.ceil((worst.end - at) / 1000)) };
}

/** The use of the tightest limit of `subject` at `at`, per mille (0 without limits; above 1000 when overrun). */
export function quotaPerMille(
  config: QuotaConfig,
  subject: QuotaSubject,
  use: (key: string) => QuotaUse | undefined,
  at: number,
): number {
  let most = 0;
  for (const l of applicable(config, subject, at)) {
    const used = (use(l.counter) ?? ZERO)[l.metric];
    // A zero limit allows nothing: it is as used up as a limit can be.
    const pm = l.limit === 0n ? 1000 : Number((used * 1000n) / l.limit);
    most = Math.max(most, pm);
  }
  return most;
}

/** `a` plus `sign` × `b`, metric by metric. */
export function addUse(a: QuotaUse, b: QuotaAmount, sign: 1n | -1n = 1n): QuotaUse {
  return {
    requests: a.requests + sign * BigInt(b.requests),
    tokens: a.tokens + sign * BigInt(b.tokens),
    flops: a.flops + sign * b.flops,
  };
}

/** What settling changes: the use minus the reservation, metric by metric. */
export function settleDelta(reserved: QuotaAmount, used: QuotaAmount): QuotaAmount {
  return {
    requests: used.requests - reserved.requests,
    tokens: used.tokens - reserved.tokens,
    flops: used.flops - reserved.flops,
  };
}
