/**
 * `trace`: who leaked this copy? Aligns the leaked tensors to the original (by name, else by shape
 * — also transposed — and cosine similarity on a sample), undoes a cast by re-casting the original
 * the same way, and measures at every candidate position how far the leak moved the weight in the
 * direction of the mark: d_i. Each recipient's score is the symmetric Tardos correlation
 * Σ d_i z_ji normalised by √(Σ d_i² v_i), where v_i bounds the sub-Gaussian variance proxy of the
 * centred symbol z_ji: for an innocent recipient, whose symbols are independent of the leak, it is
 * 1-sub-Gaussian whatever the attacker did, so z ≥ τ = √(2 ln(nTK/ε)) has probability ≤ ε/(nTK)
 * at each of the K looks that the leak's size allows. The leak is read slice by slice and scored as
 * it comes; reading stops at the first look that decides. docs/FINGERPRINT.md §Reading less.
 * Alignment is in ./align.ts, the evidence in ./evidence.ts, the scores and looks in ./score.ts.
 */
import { Worker } from 'node:worker_threads';
import { ModelsealError } from '../errors.js';
import { toHex } from '../format/encoding.js';
import { collectInputs } from '../formats/checkpoint.js';
import { computeRootDigest } from '../provenance/oms.js';
import { ioError } from '../io/atomic.js';
import type { SignedRecord } from './registry.js';
import type { CodeParams } from './params.js';
import type { AlignedTensor } from './align.js';
import { walkEvidence, type ReadProgress, type TraceEvidence } from './evidence.js';
import { addScores, decides, judge, lookSchedule, zScores, type Accusation, type TraceVerdict } from './score.js';

export type { AlignedTensor, Recast } from './align.js';
export {
  gatherEvidence,
  walkEvidence,
  SLICE,
  type EvidenceSlice,
  type ReadProgress,
  type TraceEvidence,
} from './evidence.js';
export {
  addScores,
  decides,
  FIRST_LOOK,
  judge,
  lookSchedule,
  scoreRecipients,
  type Accusation,
  type RecipientScore,
  type TraceVerdict,
} from './score.js';

export interface TraceOptions {
  leaked: string;
  original: string;
  key: { id: string; key: Uint8Array };
  /** The registry's records (already checked against the trusted publishers). */
  registry: readonly SignedRecord[];
  /** Target probability of accusing anyone innocent (default 1e-9). */
  epsilon?: number;
  /** Traces the bound covers (default 1000): the auditor's budget of traces under this key. */
  traces?: number;
  onProgress?: (p: { done: number; total: number }) => void;
  /** Bytes read before the first early look (default {@link FIRST_LOOK}); Infinity reads everything, with one look. */
  firstLook?: number;
}

/** How much of the leak the verdict rests on. */
export interface ReadSummary extends ReadProgress {
  /** bytes / bytesTotal. */
  fraction: number;
  /** Looks taken, of the `looks` planned. */
  looksTaken: number;
  /** True when an early look decided and the rest was not read. */
  stoppedEarly: boolean;
}

export interface TraceReport extends TraceVerdict {
  /** Root digest of --original, and whether registry records name it as their original. */
  original: string;
  originalInRegistry: boolean;
  derived: boolean;
  /** Leaked tensors not compared because trace cannot read their type, and those types. */
  unread: TraceEvidence['unread'];
  params: CodeParams;
  positions: number;
  aligned: AlignedTensor[];
  unmatched: string[];
  read: ReadSummary;
  /** Each accused recipient's registry records: which copies carried their fingerprint. */
  accused: (Accusation & { records: SignedRecord[] })[];
}

export const DEFAULT_EPSILON = 1e-9;
export const DEFAULT_TRACES = 1000;

/** Traces a leak to recipients of the registry (docs/FINGERPRINT.md §Tracing). */
export async function traceLeak(opts: TraceOptions): Promise<TraceReport> {
  const epsilon = opts.epsilon ?? DEFAULT_EPSILON;
  const traces = opts.traces ?? DEFAULT_TRACES;
  if (!(epsilon > 0 && epsilon < 1))
    throw new ModelsealError('INVALID_ARGUMENT', `epsilon ${epsilon}: expected a probability between 0 and 1`);
  if (!(Number.isSafeInteger(traces) && traces >= 1))
    throw new ModelsealError('INVALID_ARGUMENT', `traces ${traces}: expected a whole number ≥ 1`);
  const mine = opts.registry.filter((r) => r.keyId === opts.key.id);
  if (mine.length === 0)
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `the fingerprint registry holds no embedding made with this key (${opts.key.id}); give the registry and key ` +
        `store the copies were marked with`,
    );
  // The original is hashed on another thread while this one reads the leak: the verdict needs its
  // digest only to pick the registry records, and every record of this key is scored meanwhile.
  const digest = rootDigestOf(opts.original).then((d) => `sha256:${toHex(d)}`);
  digest.catch(() => {}); // awaited below; this only keeps an early failure from being "unhandled"
  const oneCode = (rs: readonly SignedRecord[]) =>
    rs.every((r) => r.params.support === rs[0]!.params.support && r.params.c === rs[0]!.params.c);
  const select = (original: string) => {
    const matching = mine.filter((r) => r.original === original);
    const records = matching.length ? matching : mine;
    if (!oneCode(records))
      throw new ModelsealError(
        'INVALID_ARGUMENT',
        'the registry records for this original use different code parameters; trace with a registry of one code',
      );
    return { matching, records };
  };
  const recipientsOf = (rs: readonly SignedRecord[]) => [...new Set(rs.map((r) => r.recipient))];
  const early = oneCode(mine) ? mine : select(await digest).records;
  const params = early[0]!.params;
  const walkOpts = {
    leaked: opts.leaked,
    original: opts.original,
    key: opts.key.key,
    params,
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
  };
  let scan = await scanLeak(walkOpts, recipientsOf(early), {
    traces,
    epsilon,
    firstLook: opts.firstLook,
    mayStop: true,
  });
  const original = await digest;
  const { matching, records } = select(original);
  const recipients = recipientsOf(records);
  let verdict = scan.verdictFor(recipients);
  if (scan.walked.stopped && !decides(verdict)) {
    // The look decided on records of another original only: read the rest for these recipients.
    scan = await scanLeak(walkOpts, recipients, { traces, epsilon, firstLook: opts.firstLook, mayStop: false });
    verdict = scan.verdictFor(recipients);
  }
  const { walked } = scan;
  return {
    ...verdict,
    original,
    originalInRegistry: matching.length > 0,
    derived: walked.aligned.length > 0,
    unread: walked.unread,
    params,
    positions: scan.positions,
    aligned: walked.aligned,
    unmatched: walked.unmatched,
    read: {
      ...walked.read,
      fraction: walked.read.bytesTotal ? walked.read.bytes / walked.read.bytesTotal : 0,
      looksTaken: scan.looksTaken,
      stoppedEarly: walked.stopped,
    },
    accused: verdict.accused.map((a) => ({ ...a, records: records.filter((r) => r.recipient === a.recipient) })),
  };
}

/**
 * Walks the leak, summing every recipient's score slice by slice (the evidence is dropped: memory
 * does not grow with the model), and looks at the scores on the schedule; with `mayStop`, stops at
 * the first look that decides. `verdictFor` judges any subset of the recipients at the last look.
 */
async function scanLeak(
  walkOpts: Parameters<typeof walkEvidence>[0],
  recipients: readonly string[],
  o: { traces: number; epsilon: number; firstLook: number | undefined; mayStop: boolean },
) {
  const sums = new Float64Array(recipients.length);
  let norm2 = 0;
  let positions = 0;
  let schedule: number[] | undefined;
  let next = 0;
  let looksTaken = 0;
  const judgeAll = (rs: readonly string[]) => {
    const at = new Map(recipients.map((r, i) => [r, i]));
    const z = zScores(recipients, sums, norm2);
    return judge(
      rs.map((r) => z[at.get(r)!]!),
      { traces: o.traces, epsilon: o.epsilon, looks: schedule!.length + 1 },
    );
  };
  const walked = await walkEvidence(walkOpts, (slice, n2, read) => {
    addScores([slice], walkOpts.key, recipients, sums);
    norm2 += n2;
    positions += slice.d.length;
    schedule ??= lookSchedule(read.bytesTotal, o.firstLook);
    if (next < schedule.length && read.bytes >= schedule[next]! && read.bytes < read.bytesTotal) {
      while (next < schedule.length && read.bytes >= schedule[next]!) next++;
      looksTaken++;
      return o.mayStop && decides(judgeAll(recipients));
    }
    return false;
  });
  schedule ??= lookSchedule(walked.read.bytesTotal, o.firstLook);
  if (!walked.stopped) looksTaken++;
  return { walked, positions, looksTaken, verdictFor: judgeAll };
}

/** The root digest a package would give this checkpoint (every file hashed, on a worker thread). */
export async function rootDigestOf(input: string): Promise<Uint8Array> {
  const { files } = await collectInputs(input);
  const digests = await hashOnWorker(files.map((f) => f.source));
  return computeRootDigest(files.map((f, i) => ({ path: f.path, size: f.size, sha256: digests[i]! })));
}

// Self-contained (node built-ins only), so that it runs from the bundle as well as from dist/.
const HASH_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { openSync, readSync, closeSync } = require('node:fs');
const buf = Buffer.allocUnsafe(1 << 22);
parentPort.postMessage(workerData.map((path) => {
  const h = createHash('sha256');
  const fd = openSync(path, 'r');
  try {
    for (let pos = 0, n; (n = readSync(fd, buf, 0, buf.length, pos)) > 0; pos += n) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return new Uint8Array(h.digest());
}));
`;

/** SHA-256 of each file, on a worker thread: the caller's thread stays free for its own work. */
function hashOnWorker(paths: readonly string[]): Promise<Uint8Array[]> {
  return new Promise((resolve, reject) => {
    const w = new Worker(HASH_WORKER, { eval: true, workerData: paths });
    w.once('message', (d: Uint8Array[]) => resolve(d));
    w.once('error', (cause) => reject(ioError(`cannot hash ${paths.join(', ')}`, cause)));
    w.once(
      'exit',
      (code) => code !== 0 && reject(new ModelsealError('INTERNAL', `the hashing thread exited with code ${code}`)),
    );
  });
}
