/**
 * Watching the policy directory of a running service: every edit is validated as soon as it is
 * seen, and files that do not validate leave the last good policy in force. docs/POLICY.md,
 * "Edits while serving".
 */
import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PolicyEngine, POLICY_FILES } from './engine.js';

/** Whether the policy files on disk are the ones in force (docs/POLICY.md, "Edits while serving"). */
export interface PolicyStatus {
  /** "ok": the files validate and are in force; "invalid": they do not, and the last good set stays in force. */
  status: 'ok' | 'invalid';
  /** The SHA-256 policy-set hash in force (logged with every decision). */
  hash: string;
  /** Since when the status holds (ISO 8601). */
  since: string;
  /** Why the files on disk do not validate (status "invalid"). */
  error?: string;
}

/**
 * Calls `changed` whenever the files may have changed; returns the function that stops it. The
 * default, {@link watchAndPoll}, is fs.watch plus a periodic stat; tests pass their own trigger.
 */
export type ChangeTrigger = (dir: string, changed: () => void) => () => void;

/** Options of {@link PolicyWatcher.open}. */
export interface PolicyWatcherOptions {
  /** Period of the stat poll of the default trigger, in ms (default 1,000). */
  pollMs?: number;
  /** Hears every change of status or of the set in force. */
  onChange?: (s: PolicyStatus) => void;
  /** The clock that dates each status (`since`), in ms since the epoch (default `Date.now`). */
  now?: () => number;
  /** What tells the watcher to look at the files (default: {@link watchAndPoll} with `pollMs`). */
  trigger?: ChangeTrigger;
  /**
   * Keeps a set before it goes into force (src/policy/archive.ts); when it throws, the set does not
   * go into force: `open` throws, a reload leaves the previous set in force, as for files that do not validate.
   */
  archive?: (engine: PolicyEngine) => Promise<void>;
}

/**
 * The default trigger: fs.watch on `dir` (a burst of events is one call, 50 ms after the last),
 * and a call every `pollMs` where watching is not reliable. Neither keeps the process alive.
 */
export function watchAndPoll(pollMs: number): ChangeTrigger {
  return (dir, changed) => {
    let watcher: FSWatcher | undefined;
    let debounce: NodeJS.Timeout | undefined;
    try {
      watcher = watch(dir, { persistent: false }, () => {
        // Editors write in steps: look once the burst of events is over.
        clearTimeout(debounce);
        debounce = setTimeout(changed, 50);
        debounce.unref();
      });
      watcher.on('error', () => watcher?.close());
    } catch {
      // No watching here: the periodic stat below still sees every change.
    }
    const poll = setInterval(changed, pollMs);
    poll.unref();
    return () => {
      watcher?.close();
      clearInterval(poll);
      clearTimeout(debounce);
    };
  };
}

/**
 * The current policy of a directory the operator edits while the service runs. Every change is
 * validated as soon as it is seen — by default fs.watch on the directory, and a stat of the files
 * every `pollMs` (default 1 s) where watching is not reliable (network file systems, editors that
 * swap files) — so a broken edit is reported at once (`onError`, `status`), not at the next
 * request. Files that do not validate leave the last good policy in force.
 */
export class PolicyWatcher {
  #engine: PolicyEngine;
  #stamp: string;
  #loading: Promise<PolicyEngine> | null = null;
  #again = false;
  #status: PolicyStatus;
  readonly #onError: (e: unknown) => void;
  readonly #onChange: ((s: PolicyStatus) => void) | undefined;
  readonly #now: () => number;
  readonly #archive: (engine: PolicyEngine) => Promise<void>;
  #stop: () => void = () => {};

  private constructor(engine: PolicyEngine, stamp: string, onError: (e: unknown) => void, opts: PolicyWatcherOptions) {
    this.#engine = engine;
    this.#stamp = stamp;
    this.#onError = onError;
    this.#onChange = opts.onChange;
    this.#now = opts.now ?? Date.now;
    this.#archive = opts.archive ?? (() => Promise.resolve());
    this.#status = { status: 'ok', hash: engine.hash, since: this.#since() };
  }

  /**
   * Loads `dir` (throws POLICY_INVALID when it does not validate) and watches it. `onError` hears
   * every edit that does not validate, `opts.onChange` every change of status or of the set in force.
   */
  static async open(
    dir: string,
    onError: (e: unknown) => void = () => {},
    opts: PolicyWatcherOptions = {},
  ): Promise<PolicyWatcher> {
    const stamp = await stampOf(dir);
    const engine = await PolicyEngine.load(dir);
    await opts.archive?.(engine);
    const w = new PolicyWatcher(engine, stamp, onError, opts);
    const trigger = opts.trigger ?? watchAndPoll(opts.pollMs ?? 1000);
    w.#stop = trigger(dir, () => void w.check());
    return w;
  }

  #since(): string {
    return new Date(this.#now()).toISOString();
  }

  /** Looks at the files now; loads and validates them if they changed. Resolves to the policy in force. */
  check(): Promise<PolicyEngine> {
    if (this.#loading) {
      this.#again = true;
      return this.#loading;
    }
    this.#loading = this.#reload().finally(() => {
      this.#loading = null;
      if (this.#again) {
        this.#again = false;
        void this.check();
      }
    });
    return this.#loading;
  }

  /** The policy in force now. Requests that arrive while an edit is being loaded wait for it. */
  current(): Promise<PolicyEngine> {
    return this.#loading ?? Promise.resolve(this.#engine);
  }

  async #reload(): Promise<PolicyEngine> {
    const stamp = await stampOf(this.#engine.dir);
    if (stamp === this.#stamp) return this.#engine;
    const retry = this.#stamp === ''; // the same files again, after their set could not be archived
    this.#stamp = stamp;
    try {
      const engine = await PolicyEngine.load(this.#engine.dir);
      if (engine.hash !== this.#engine.hash)
        await this.#archive(engine).catch((e: unknown) => {
          this.#stamp = ''; // not kept: looked at again next time, as the folder may have been fixed
          throw e;
        });
      const changed = engine.hash !== this.#engine.hash || this.#status.status !== 'ok';
      this.#engine = engine;
      if (changed) {
        this.#status = { status: 'ok', hash: engine.hash, since: this.#since() };
        this.#onChange?.(this.status);
      }
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      const same = this.#status.status === 'invalid' && this.#status.error === error;
      if (!same) {
        this.#status = { status: 'invalid', hash: this.#engine.hash, since: this.#since(), error };
        this.#onChange?.(this.status);
      }
      // An archive that still fails at every poll is reported once, not every second.
      if (!(same && retry)) this.#onError(e);
    }
    return this.#engine;
  }

  /** Whether the files on disk are in force, and the hash of the set that is. */
  get status(): PolicyStatus {
    return { ...this.#status };
  }

  /** The last loaded policy, without checking the files. */
  get engine(): PolicyEngine {
    return this.#engine;
  }

  /** Stops watching. */
  close(): void {
    this.#stop();
  }
}

async function stampOf(dir: string): Promise<string> {
  const parts = await Promise.all(
    Object.values(POLICY_FILES).map((f) =>
      stat(join(dir, f)).then(
        (s) => `${s.mtimeMs}:${s.size}`,
        () => 'missing',
      ),
    ),
  );
  return parts.join('|');
}
