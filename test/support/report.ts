/**
 * Log events for the report's tests, made by hand (every type modelseal logs), and a reader of the
 * report page's marked figures (data-figure) that the unit and browser tests hold against report.json.
 */
import {
  encodeEvent,
  NoteSigner,
  openLogStore,
  TransparencyLog,
  type DenialsEvent,
  type ExportEvent,
  type KmsGrantEvent,
  type LogEvent,
  type ReleaseEvent,
  type ScreeningOverrideEvent,
  type TraceEvent,
} from '../../src/index.js';
import { admit, callId, denied, settle } from './inference.js';

export const MODEL = 'sha256:' + '1'.repeat(64);
export const COPY = 'sha256:' + '2'.repeat(64);
export const POLICY = '3'.repeat(64);
export const LIST = 'sample@sha256:' + '4'.repeat(64);

/** An export (a package sealed for `recipient`) at `time`. */
export function exported(time: string, recipient: string, over: Partial<ExportEvent> = {}): ExportEvent {
  return {
    ...{ v: 1, type: 'export', time, package: '5'.repeat(32), artifact: MODEL, model: 'demo-model', recipient },
    ...{ provider: 'release', license: 'LIC-1', policy: 'none', publisher: 'sha256:' + '6'.repeat(64) },
    fingerprint: null,
    ...over,
  };
}

/** A key-release request of `recipient` at `time`, decided `decision` for `reason`. */
export function released(
  time: string,
  recipient: string | null,
  decision: 'allow' | 'deny',
  reason: string,
  over: Partial<ReleaseEvent> = {},
): ReleaseEvent {
  return {
    ...{ v: 1, type: 'release', time, request: '7'.repeat(32), recipient, org: 'Org', country: 'DE' },
    ...{ certificate: null, artifact: MODEL, package: '5'.repeat(32), license: 'LIC-1', decision, reason },
    ...{ policies: [], policySet: POLICY, ip: '192.0.2.7', destination: 'DE', nonce: null },
    ...over,
  };
}

/** A summary of `reasons` refused by the rate limits at `time`. */
export function refused(time: string, reasons: Record<string, number>): DenialsEvent {
  const count = Object.values(reasons).reduce((a, b) => a + b, 0);
  return { v: 1, type: 'denials', time, since: time, until: time, ip: '*', count, reasons, policySet: POLICY };
}

/** A trace of a leak of MODEL at `time`, accusing `accused` (none: an unrelated file). */
export function traced(time: string, accused: string[]): TraceEvent {
  return {
    ...{ v: 1, type: 'trace', time, leak: 'sha256:' + '8'.repeat(64), original: MODEL, derived: accused.length > 0 },
    accused: accused.map((recipient, i) => ({
      recipient,
      copy: `copy-${i}`,
      z: '9.5',
      threshold: '4.75',
      log10Bound: '-9',
    })),
    ...{ epsilon: '1e-9', traces: 1000, recipients: 3, publisher: 'sha256:' + '6'.repeat(64) },
  };
}

/** An operator's screening override of `recipient` at `time`. */
export function overridden(time: string, recipient: string): ScreeningOverrideEvent {
  const screening = { decision: 'review' as const, lists: [LIST], stale: [], best: null };
  return {
    ...{ v: 1, type: 'screening-override', time, recipient, org: 'Org', countries: ['DE'], screening },
    ...{ entities: ['sample:e-1'], reason: 'a namesake', decidedBy: 'officer', publisher: 'sha256:' + '6'.repeat(64) },
  };
}

/** A KMS grant to `recipient` at `time`. */
export function granted(time: string, recipient: string): KmsGrantEvent {
  return {
    ...{ v: 1, type: 'kms-grant', time, package: '5'.repeat(32), artifact: MODEL, recipient, license: 'LIC-1' },
    ...{
      key: 'arn:aws:kms:eu-central-1:000000000000:key/k',
      grant: 'g-1',
      name: 'n',
      grantee: 'arn:aws:iam::1:role/r',
    },
    ...{ operations: ['Decrypt'], context: {}, publisher: 'sha256:' + '6'.repeat(64) },
  };
}

/** Events as the report's input entries, indexed in order. */
export const indexed = (events: readonly LogEvent[]) => events.map((event, index) => ({ index, event }));

/** The value at a dotted `path` ("recipients.0.allowed") of `data`. */
export function valueAt(data: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], data);
}

/** A figure as the page shows it: its path, its text, and its data-value when it has one. */
export interface PageFigure {
  path: string;
  text: string;
  value?: string;
}

/** The value a figure stands for: its data-value's JSON when it has one, else its text. */
export function figureValue(f: PageFigure): unknown {
  return f.value !== undefined ? JSON.parse(f.value) : f.text;
}

/** The figure's value in report.json as the page must show it: numbers and strings as text, others as JSON. */
export function expectedValue(data: unknown, f: PageFigure): unknown {
  const v = valueAt(data, f.path);
  return f.value === undefined && typeof v === 'number' ? String(v) : v;
}

/** Every element of a report page marked data-figure, with its text and data-value unescaped. */
export function pageFigures(html: string): PageFigure[] {
  const unescape = (s: string) => s.replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n)));
  const out: PageFigure[] = [];
  for (const m of html.matchAll(/<(\w+) data-figure="([^"]*)"(?: data-value="([^"]*)")?[^>]*>([^<]*)<\/\1>/g))
    out.push({
      path: unescape(m[2]!),
      text: unescape(m[4]!),
      ...(m[3] !== undefined ? { value: unescape(m[3]) } : {}),
    });
  return out;
}

/** A real file log at `dir` holding `events`, checkpointed; returns its verifier key. */
export async function writeLog(
  dir: string,
  events: readonly LogEvent[],
  origin = 'modelseal.test/report',
): Promise<string> {
  const signer = NoteSigner.generate(origin);
  const log = new TransparencyLog(await openLogStore(dir), signer, { commitIntervalMs: 0 });
  for (const e of events) await log.append(encodeEvent(e));
  await log.close();
  return signer.verifierKey;
}

/**
 * A month of a log's story with names in Latin, Cyrillic, Chinese and Arabic: exports, releases
 * allowed and denied (outside the license, embargoed), rate-limited refusals, a screening override,
 * a KMS grant and two traces (one accusing, one of an unrelated file).
 */
export function storyEvents(): LogEvent[] {
  const located = (country: string) => ({
    observed: { address: '198.51.100.9', country, network: '' as const, database: '', ageDays: 3, stale: false },
    screening: { decision: 'clear' as const, lists: [LIST], stale: [], best: null },
  });
  return [
    exported('2026-11-02T09:00:00.000Z', 'acme-labs', { fingerprint: 'fp-acme' }),
    exported('2026-11-02T09:00:01.000Z', 'Лаборатория Волга'),
    exported('2026-11-03T10:00:00.000Z', '北京实验室'),
    exported('2026-11-03T10:00:01.000Z', 'مختبر القاهرة'),
    released('2026-11-04T08:00:00.000Z', 'acme-labs', 'allow', 'policy', {
      artifact: COPY,
      model: MODEL,
      ...located('DE'),
    }),
    released('2026-11-04T08:30:00.000Z', 'acme-labs', 'deny', 'destination-not-licensed', {
      destination: 'US',
      ...located('US'),
    }),
    released('2026-11-06T12:00:00.000Z', 'Лаборатория Волга', 'deny', 'embargoed-nationality', {
      destination: 'RU',
      nationalities: ['RU'],
      ...located('RU'),
    }),
    released('2026-11-09T12:00:00.000Z', '北京实验室', 'allow', 'policy', { destination: 'CN', ...located('CN') }),
    released('2026-11-12T12:00:00.000Z', 'مختبر القاهرة', 'allow', 'policy', { destination: 'EG', ...located('') }),
    refused('2026-11-13T00:00:00.000Z', { 'bad-signature': 4, 'destination-not-licensed': 1 }),
    overridden('2026-11-14T00:00:00.000Z', 'مختبر القاهرة'),
    granted('2026-11-15T00:00:00.000Z', 'acme-labs'),
    traced('2026-11-20T00:00:00.000Z', ['acme-labs']),
    traced('2026-11-21T00:00:00.000Z', []),
  ];
}

/**
 * The gateway's calls over the story's month, with names in Latin, Arabic and Cyrillic: two
 * allowed and settled (one with tokens the gateway estimated), one allowed and never settled (open),
 * three refused for three reasons (one unauthenticated), risk scores from 0 to 910. `at` is the
 * index the first of them will have in the log (settles name their admit entry's).
 */
export function inferenceStory(at = 0): LogEvent[] {
  const on = (day: number) => ({ time: `2026-11-${String(day).padStart(2, '0')}T11:00:00.000Z`, policySet: POLICY });
  const a1 = admit(callId('a'), { ...on(5), risk: 120 });
  const a2 = admit(callId('b'), { ...on(8), recipient: 'مختبر القاهرة', risk: 640, stream: true });
  return [
    a1,
    settle(a1, at),
    a2,
    settle(a2, at + 2, {
      outcome: 'client-disconnect',
      estimated: true,
      tokens: { prompt: 30, completion: 10 },
      flops: '80000',
    }),
    denied(callId('c'), 'embargoed-nationality', { ...on(10), recipient: 'Лаборатория Волга', risk: 300 }),
    denied(callId('d'), 'unauthenticated', { ...on(11), recipient: null, org: null, country: null, risk: 0 }),
    denied(callId('e'), 'extraction-risk', { ...on(12), risk: 910 }),
    admit(callId('f'), { ...on(17), model: 'other-model', artifact: null, risk: 50 }),
  ];
}
