/**
 * `trace --record`: a trace's verdict as a log event (docs/LOG.md, "Traces"), and the digest that
 * names the leak in it. The event goes to the same log `seal --log` writes to (src/package/exportlog.ts).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { ModelsealError } from '../errors.js';
import { toHex } from '../format/encoding.js';
import { ioError } from '../io/atomic.js';
import type { TraceEvent } from '../log/events.js';
import type { TraceReport } from '../fingerprint/trace.js';

/** Every regular file under `dir`, as POSIX paths relative to it, in code-point order; symlinks are refused. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  const visit = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await visit(p);
      else if (e.isFile()) out.push(relative(dir, p).split(sep).join('/'));
      else
        throw new ModelsealError(
          'INVALID_ARGUMENT',
          `${p} is not a regular file: copy the leak without links, then trace`,
        );
    }
  };
  await visit(dir);
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * The leak's digest, "sha256:<hex>": SHA-256 of the file's bytes; for a folder, of every regular
 * file's bytes under it concatenated in the code-point order of their relative POSIX paths.
 */
export async function leakDigest(path: string): Promise<string> {
  try {
    const hash = createHash('sha256');
    const files = (await stat(path)).isDirectory() ? (await filesUnder(path)).map((f) => join(path, f)) : [path];
    for (const f of files) for await (const chunk of createReadStream(f)) hash.update(chunk as Buffer);
    return `sha256:${toHex(hash.digest())}`;
  } catch (e) {
    if (e instanceof ModelsealError) throw e;
    throw ioError(`read the leak ${path}`, e);
  }
}

/** Decimal strings for the log (which holds integers only): enough digits to re-derive the verdict. */
const decimal = (x: number): string => (Number.isFinite(x) ? String(Number(x.toPrecision(6))) : String(x));

/** The trace event of report `r` for the leak digest `leak`, submitted by `publisher` ("sha256:" of its SPKI). */
export function traceEvent(r: TraceReport, leak: string, publisher: string, time = new Date()): TraceEvent {
  return {
    v: 1,
    type: 'trace',
    time: time.toISOString(),
    leak,
    original: r.original,
    derived: r.derived,
    accused: r.accused.map((a) => ({
      recipient: a.recipient,
      copy: a.records[0]?.id ?? '',
      z: decimal(a.z),
      threshold: decimal(a.threshold),
      log10Bound: decimal(a.log10Bound),
    })),
    epsilon: decimal(r.epsilon),
    traces: r.traces,
    recipients: r.n,
    publisher,
  };
}
