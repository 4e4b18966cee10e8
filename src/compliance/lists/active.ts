/**
 * The lists in force in a running release service: every active snapshot loaded into one
 * screener, reloaded when an import replaces active.json, without a restart. A reload that fails
 * keeps the previous lists in force and is reported. Watching follows the policy watcher:
 * fs.watch on `<data>/lists` and a periodic stat, or a trigger the caller injects. docs/SCREENING.md.
 */
import { stat, mkdir } from 'node:fs/promises';
import { ioError } from '../../io/atomic.js';
import { watchAndPoll, type ChangeTrigger } from '../../policy/watcher.js';
import type { PartyScreening, RecipientScreening, ScreenedParty, ScreeningResult } from '../types.js';
import { listsPaths, readActive, type ActiveState } from './active-file.js';
import { ListScreening } from './screening.js';
import { isStale } from './status.js';

/** Options of {@link ActiveLists.open}. */
export interface ActiveListsOptions {
  /** The clock staleness is judged by, in ms since the epoch (default `Date.now`). */
  now?: () => number;
  /** What tells it to look at active.json (default: fs.watch on `<data>/lists` and a stat every `pollMs`). */
  trigger?: ChangeTrigger;
  /** Period of the default trigger's stat, in ms (default 1,000). */
  pollMs?: number;
  /** Hears every reload that failed (the previous lists stay in force). */
  onError?: (e: unknown) => void;
  /** Hears every reload that put other snapshots in force. */
  onReload?: (lists: readonly string[]) => void;
}

/** The active lists of a data directory, kept current; the release service's {@link PartyScreening}. */
export class ActiveLists implements PartyScreening {
  #state: ActiveState;
  #screening: ListScreening;
  #stamp: string;
  #running: Promise<void> = Promise.resolve();
  #queued: Promise<void> | null = null;
  #stop: () => void = () => {};
  readonly #now: () => number;

  private constructor(
    readonly data: string,
    state: ActiveState,
    screening: ListScreening,
    stamp: string,
    readonly opts: ActiveListsOptions,
  ) {
    this.#state = state;
    this.#screening = screening;
    this.#stamp = stamp;
    this.#now = opts.now ?? Date.now;
  }

  /** Loads the active snapshots of `data` (LIST_INVALID when one is damaged) and watches for imports. */
  static async open(data: string, opts: ActiveListsOptions = {}): Promise<ActiveLists> {
    const dir = listsPaths(data).dir;
    await mkdir(dir, { recursive: true }).catch((e: unknown) => {
      throw ioError(`cannot create ${dir}`, e);
    });
    const stamp = await stampOf(data);
    const state = await readActive(data);
    const lists = new ActiveLists(data, state, await ListScreening.load(data, state), stamp, opts);
    const trigger = opts.trigger ?? watchAndPoll(opts.pollMs ?? 1000);
    lists.#stop = trigger(dir, () => void lists.check());
    return lists;
  }

  /**
   * Looks at active.json now and reloads if it changed; resolves when a look that began after
   * the call is done. One look at a time: calls during a look share the one queued after it.
   */
  check(): Promise<void> {
    if (!this.#queued) {
      const next = this.#running.then(() => {
        this.#queued = null;
        return this.#reload();
      });
      this.#queued = this.#running = next;
    }
    return this.#queued;
  }

  async #reload(): Promise<void> {
    const stamp = await stampOf(this.data);
    if (stamp === this.#stamp) return;
    this.#stamp = stamp;
    try {
      const state = await readActive(this.data);
      const screening = await ListScreening.load(this.data, state, this.#screening);
      this.#state = state;
      // The same snapshots (a refresh) come back as the screening in force, its cache kept.
      if (screening !== this.#screening) {
        this.#screening = screening;
        this.opts.onReload?.(screening.listIds);
      }
    } catch (e) {
      this.opts.onError?.(e);
    }
  }

  /** The screening in force (its screener, snapshots and list ids). */
  get screening(): ListScreening {
    return this.#screening;
  }

  /** The sources past their maximum age now, sorted. */
  stale(): string[] {
    const now = this.#now();
    return Object.entries(this.#state.sources)
      .filter(([, s]) => isStale(s, now))
      .map(([name]) => name)
      .sort();
  }

  screenParty(party: ScreenedParty): RecipientScreening {
    const s = this.#screening;
    return { ...s.screenParty(party), lists: [...s.listIds], stale: this.stale() };
  }

  explainParty(party: ScreenedParty): ScreeningResult[] {
    return this.#screening.explainParty(party);
  }

  /** Stops watching. */
  close(): void {
    this.#stop();
  }
}

async function stampOf(data: string): Promise<string> {
  return stat(listsPaths(data).active).then(
    (s) => `${s.ino}:${s.mtimeMs}:${s.size}`,
    () => 'missing',
  );
}
