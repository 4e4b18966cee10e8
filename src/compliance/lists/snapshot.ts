/**
 * Snapshots: immutable, content-addressed files `<data>/lists/snapshots/<sha256 hex>.jsonl`. The
 * first line is a header (format, version, source, counts), then one canonical-JSON entity a line,
 * sorted by id; the digest is the SHA-256 of the whole file, so `sha256sum` checks it.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { ModelsealError } from '../../errors.js';
import { ioError, pathExists, writeFileAtomic } from '../../io/atomic.js';
import { canonicalJson } from '../../log/events.js';
import type { ListEntity } from '../types.js';
import { listsPaths, snapshotPath } from './active-file.js';
import { ByteArena } from './arena.js';
import { listInvalid, nameCount, type RecordPlace } from './entity.js';
import { LIST_LIMITS } from './limits.js';
import { lines } from './text.js';

export const SNAPSHOT_FORMAT = 'modelseal-list-snapshot';

/** Code point order (not UTF-16 code unit order), so any language sorts ids the same. */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (astral code points) sort after every BMP code unit.
    x = x >= 0xd800 && x <= 0xdfff ? x + 0x2000 : x >= 0xe000 ? x - 0x800 : x;
    y = y >= 0xd800 && y <= 0xdfff ? y + 0x2000 : y >= 0xe000 ? y - 0x800 : y;
    return x - y;
  }
  return a.length - b.length;
}

/** The entries of a snapshot being built: each entity's canonical line, its id and where it was read. */
export class SnapshotBuilder {
  readonly #arena = new ByteArena();
  readonly #ids: string[] = [];
  readonly #places: RecordPlace[] = [];
  names = 0;

  constructor(readonly source: string) {}

  /** Adds an entity; LIST_INVALID past the entity limit. */
  add(e: ListEntity, at: RecordPlace): void {
    if (this.#ids.length >= LIST_LIMITS.entities)
      throw listInvalid(at, `more than ${LIST_LIMITS.entities} entities in source ${this.source}, over the limit`);
    this.#arena.add(canonicalJson(e) + '\n');
    this.#ids.push(e.id);
    // Kept small: the place without the id (the id is in #ids).
    this.#places.push(at.line !== undefined ? { file: at.file, line: at.line } : { file: at.file, index: at.index! });
    this.names += nameCount(e);
  }

  get entries(): number {
    return this.#ids.length;
  }

  /** The entry order (by id); LIST_INVALID naming both records of a duplicate id. */
  #order(): Uint32Array {
    const ids = this.#ids;
    const order = new Uint32Array(ids.length).map((_, i) => i);
    order.sort((a, b) => compareCodePoints(ids[a]!, ids[b]!) || a - b);
    for (let i = 1; i < order.length; i++) {
      const [a, b] = [order[i - 1]!, order[i]!];
      if (ids[a] === ids[b]) {
        const first = this.#places[a]!;
        const where = first.line !== undefined ? `line ${first.line}` : `record ${first.index}`;
        throw listInvalid({ ...this.#places[b]!, id: ids[b]! }, `duplicate id, first seen in ${first.file} (${where})`);
      }
    }
    return order;
  }

  #header(): string {
    return (
      canonicalJson({ format: SNAPSHOT_FORMAT, v: 1, source: this.source, entries: this.entries, names: this.names }) +
      '\n'
    );
  }

  /** The snapshot's bytes in order (header first) and its digest, without writing it. */
  #finish(): { order: Uint32Array; header: string; digest: string } {
    const order = this.#order();
    const header = this.#header();
    const hash = createHash('sha256').update(header);
    for (const i of order) hash.update(this.#arena.get(i));
    return { order, header, digest: `sha256:${hash.digest('hex')}` };
  }

  /** The snapshot as it would be written, held in memory only (`screen --list`). */
  inMemory(): LoadedSnapshot {
    const { order, digest } = this.#finish();
    const entities = Array.from(order, (i) => JSON.parse(this.#arena.get(i).toString('utf8')) as ListEntity);
    return { source: this.source, digest, entities, names: this.names };
  }

  /**
   * Writes the snapshot under `<data>/lists/snapshots` (atomically; not again when a file of that
   * digest exists: it holds these bytes) and returns its digest "sha256:<hex>".
   */
  async write(data: string): Promise<string> {
    const { order, header, digest } = this.#finish();
    const path = snapshotPath(data, digest);
    await mkdir(listsPaths(data).snapshots, { recursive: true }).catch((e: unknown) => {
      throw ioError(`cannot create ${listsPaths(data).snapshots}`, e);
    });
    if (await pathExists(path)) return digest;
    await writeFileAtomic(
      path,
      async (fh) => {
        const batch: Buffer[] = [Buffer.from(header)];
        let size = 0;
        for (const i of order) {
          const line = this.#arena.get(i);
          batch.push(line);
          size += line.length;
          if (size >= 1 << 20) {
            await fh.write(Buffer.concat(batch));
            batch.length = 0;
            size = 0;
          }
        }
        await fh.write(Buffer.concat(batch));
      },
      { mode: 0o644 },
    );
    return digest;
  }
}

/** A snapshot as read back: its source, entities and counts. */
export interface LoadedSnapshot {
  source: string;
  digest: string;
  entities: ListEntity[];
  names: number;
}

async function* hashedText(path: string, hash: Hash): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    yield decoder.decode(chunk, { stream: true });
  }
  yield decoder.decode();
}

/** One empty list shared by every entity that has none: a million entities hold few of most fields. */
const NONE = Object.freeze([]) as unknown as string[];
const LIST_FIELDS = ['aliases', 'weakAliases', 'countries', 'dob', 'ids', 'programs'] as const;

/** An entity as held in memory: empty lists shared, the values many entities repeat (list, countries) shared. */
function compact(e: ListEntity, pool: Map<string, string>): ListEntity {
  const intern = (v: string) => pool.get(v) ?? (pool.set(v, v), v);
  for (const f of LIST_FIELDS) if (!e[f].length) e[f] = NONE;
  if (e.countries.length) e.countries = e.countries.map(intern);
  e.list = intern(e.list);
  return e;
}

/** A snapshot's header facts, as {@link visitSnapshot} reads them. */
export interface SnapshotFacts {
  source: string;
  digest: string;
  entries: number;
  names: number;
}

/**
 * Streams a snapshot's entities to `visit`, one at a time (none is kept), checking its header and,
 * at the end, that its bytes still have its digest: a caller discards what it built when this throws.
 */
export async function visitSnapshot(
  data: string,
  digest: string,
  visit: (e: ListEntity) => void,
): Promise<SnapshotFacts> {
  const path = snapshotPath(data, digest);
  const hash = createHash('sha256');
  const pool = new Map<string, string>();
  let header: { format?: string; source?: string; entries?: number; names?: number } | undefined;
  let entries = 0;
  try {
    for await (const { text, line } of lines(hashedText(path, hash), path)) {
      if (!header) header = JSON.parse(text) as typeof header;
      else {
        visit(compact(JSON.parse(text) as ListEntity, pool));
        entries++;
      }
      if (line === 1 && header?.format !== SNAPSHOT_FORMAT) throw new Error('no snapshot header');
    }
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT')
      throw new ModelsealError('LIST_INVALID', `the active snapshot ${path} is missing; import the list again`, {
        cause,
      });
    throw new ModelsealError('LIST_INVALID', `${path} is not a list snapshot; import the list again`, { cause });
  }
  const actual = `sha256:${hash.digest('hex')}`;
  if (actual !== digest || header?.entries !== entries)
    throw new ModelsealError(
      'LIST_INVALID',
      `${path} was altered: its SHA-256 is ${actual}; restore it from a backup or import the list again`,
    );
  return { source: header.source ?? '', digest, entries, names: header.names ?? 0 };
}

/** Reads a snapshot whole, streamed and checked as {@link visitSnapshot} does. */
export async function readSnapshot(data: string, digest: string): Promise<LoadedSnapshot> {
  const entities: ListEntity[] = [];
  const facts = await visitSnapshot(data, digest, (e) => entities.push(e));
  return { source: facts.source, digest, entities, names: facts.names };
}
