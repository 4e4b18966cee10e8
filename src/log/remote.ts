/**
 * A log read over HTTP from a running `modelseal serve`, for an auditor who has no access to its
 * store: the latest checkpoint (/checkpoint), the entries as C2SP tlog-tiles entry bundles
 * (/tile/entries/…), and every stored checkpoint (/v1/checkpoints, a modelseal extension). It has
 * no stored hashes to offer: the auditor recomputes the tree from the entries and holds it against
 * the signed checkpoints, which is what counts.
 */
import { ModelsealError } from '../errors.js';
import { unverifiedCheckpoint } from './checkpoint.js';
import { encodeBundle, splitBundle, type AppendResult, type Hash, type LogStore } from './store.js';

/** C2SP tile index path: 1234067 → "x001/x234/067". */
export function tileIndexPath(n: number): string {
  const parts: string[] = [];
  do {
    parts.unshift(String(n % 1000).padStart(3, '0'));
    n = Math.floor(n / 1000);
  } while (n > 0);
  return parts.map((p, i) => (i < parts.length - 1 ? `x${p}` : p)).join('/');
}

function unreachable(url: string, what: string, cause?: unknown): ModelsealError {
  return new ModelsealError(
    'LOG_UNAVAILABLE',
    `the log at ${url} ${what}; check the log's URL and that \`modelseal serve\` runs there`,
    cause === undefined ? undefined : { cause },
  );
}

export class RemoteLog implements LogStore {
  readonly url: string;
  readonly size: number;
  readonly checkpoint: string | null;

  private constructor(url: string, checkpoint: string | null) {
    this.url = url;
    this.checkpoint = checkpoint;
    this.size = checkpoint === null ? 0 : unverifiedCheckpoint(checkpoint).size;
  }

  /** Reads the latest checkpoint of the log served at `url` (its signature is the auditor's to check). */
  static async open(url: string): Promise<RemoteLog> {
    const base = url.replace(/\/+$/, '');
    const text = (await get(base, '/checkpoint')).toString('utf8');
    try {
      unverifiedCheckpoint(text);
    } catch (cause) {
      throw unreachable(base, 'did not answer /checkpoint with a checkpoint', cause);
    }
    return new RemoteLog(base, text);
  }

  /** Entries [from, to), from the entry bundles of the tiles that hold them. */
  async readEntries(from: number, to: number): Promise<Buffer[]> {
    if (!(from >= 0 && from <= to && to <= this.size))
      throw new RangeError(`entries [${from}, ${to}) are not in a log of ${this.size}`);
    const out: Buffer[] = [];
    for (let tile = Math.floor(from / 256); tile * 256 < to; tile++) {
      const width = Math.min(256, this.size - tile * 256);
      const path = `/tile/entries/${tileIndexPath(tile)}${width < 256 ? `.p/${width}` : ''}`;
      const entries = splitBundle(await get(this.url, path));
      if (entries?.length !== width)
        throw new ModelsealError('LOG_INVALID', `${this.url}${path} is not a bundle of ${width} entries`);
      out.push(...entries.slice(Math.max(0, from - tile * 256), to - tile * 256));
    }
    return out;
  }

  async readBundle(from: number, to: number): Promise<Buffer> {
    return encodeBundle(await this.readEntries(from, to));
  }

  readHashes = async (_indexes: readonly number[]): Promise<Hash[]> => {
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      'a log read over HTTP has no stored hashes to read; recompute them from the entries',
    );
  };

  async *checkpoints(): AsyncIterable<string> {
    let res: Response;
    try {
      res = await fetch(`${this.url}/v1/checkpoints`);
    } catch (cause) {
      throw unreachable(this.url, 'cannot be reached', cause);
    }
    if (!res.ok || !res.body) throw unreachable(this.url, `answered /v1/checkpoints with HTTP ${res.status}`);
    // uint32-length-prefixed notes, streamed.
    let buf = Buffer.alloc(0);
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf = buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([buf, chunk]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
        const n = buf.readUInt32BE(0);
        const note = buf.subarray(4, 4 + n).toString('utf8');
        buf = buf.subarray(4 + n);
        // The log may have grown since open(): stop at the tree this view stands for.
        if (unverifiedCheckpoint(note).size > this.size) {
          await res.body.cancel().catch(() => {});
          return;
        }
        yield note;
      }
    }
    if (buf.length > 0)
      throw new ModelsealError('LOG_INVALID', `${this.url}/v1/checkpoints ends in the middle of a checkpoint`);
  }

  append(): Promise<AppendResult> {
    return Promise.reject(new ModelsealError('INVALID_ARGUMENT', 'a log read over HTTP is read-only'));
  }

  async close(): Promise<void> {
    // nothing to release: every read is a request of its own
  }
}

async function get(base: string, path: string): Promise<Buffer> {
  let res: Response;
  try {
    res = await fetch(base + path, { signal: AbortSignal.timeout(60_000) });
  } catch (cause) {
    throw unreachable(base, 'cannot be reached', cause);
  }
  if (!res.ok) throw unreachable(base, `answered ${path} with HTTP ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}
