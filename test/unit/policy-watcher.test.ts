/**
 * The policy watcher of a running service, driven by the test: an injected clock dates each
 * status and an injected trigger says when to look, so nothing here waits on the wall clock. The
 * default trigger (fs.watch and a periodic stat) is checked by the events it produces.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { initPolicyDir, POLICY_FILES } from '../../src/policy/engine.js';
import { PolicyWatcher, watchAndPoll, type PolicyStatus } from '../../src/policy/watcher.js';
import { tempDir } from '../support/fixtures.js';
import { within } from '../support/wait.js';

const root = tempDir('modelseal-policy-watcher-');
let n = 0;

async function policyDir(): Promise<string> {
  const dir = join(root, `p${n++}`);
  await initPolicyDir(dir);
  return dir;
}

/** A watcher whose clock and trigger the test holds. */
async function driven(dir: string) {
  const clock = { t: Date.UTC(2030, 0, 1) };
  const changes: PolicyStatus[] = [];
  const errors: unknown[] = [];
  let fire: (() => void) | undefined;
  let stopped = 0;
  const w = await PolicyWatcher.open(dir, (e) => errors.push(e), {
    now: () => clock.t,
    onChange: (s) => changes.push(s),
    trigger: (d, changed) => {
      expect(d).toBe(dir);
      fire = changed;
      return () => stopped++;
    },
  });
  /** Fires the trigger and waits for the look it starts. */
  const look = async () => {
    fire!();
    await w.current();
  };
  return { w, clock, changes, errors, look, stopped: () => stopped };
}

const BROKEN = '\npermit (principal, action, resource) when { context.nope };\n';

describe('PolicyWatcher with an injected clock and trigger', () => {
  it('looks only when triggered, dates each status by its clock, keeps the last good set in force', async () => {
    const dir = await policyDir();
    const { w, clock, changes, errors, look, stopped } = await driven(dir);
    const good = w.engine.hash;
    expect(w.status).toEqual({ status: 'ok', hash: good, since: '2030-01-01T00:00:00.000Z' });

    const file = join(dir, POLICY_FILES.policies);
    const text = readFileSync(file, 'utf8');
    writeFileSync(file, text + BROKEN);
    clock.t += 5_000;
    // Nothing looks on its own: the status is unchanged until the trigger fires (or check() is called).
    expect(w.status.status).toBe('ok');
    await look();
    expect(w.status).toMatchObject({ status: 'invalid', hash: good, since: '2030-01-01T00:00:05.000Z' });
    expect(w.status.error).toMatch(/needs a name/);
    expect(errors).toHaveLength(1);
    expect(changes.map((s) => s.status)).toEqual(['invalid']);
    expect((await w.current()).hash).toBe(good);

    // The same broken files seen again: no new status, no new report.
    clock.t += 5_000;
    await look();
    expect(changes).toHaveLength(1);
    expect(w.status.since).toBe('2030-01-01T00:00:05.000Z');

    // Fixed: in force again, dated by the clock at the look that saw it.
    writeFileSync(file, text);
    clock.t += 1;
    await look();
    expect(w.status).toEqual({ status: 'ok', hash: good, since: '2030-01-01T00:00:10.001Z' });
    expect(changes.map((s) => s.status)).toEqual(['invalid', 'ok']);

    // A valid edit changes the set in force.
    writeFileSync(file, `${text}\n@id("also")\npermit (principal, action, resource) when { false };\n`);
    await look();
    expect(w.engine.hash).not.toBe(good);
    expect(changes.map((s) => s.hash)).toEqual([good, good, w.engine.hash]);

    expect(stopped()).toBe(0);
    w.close();
    expect(stopped()).toBe(1);
  });

  it('check() looks at once; a look asked for during a load joins it, then looks once more', async () => {
    const dir = await policyDir();
    const { w, changes, errors } = await driven(dir);
    const file = join(dir, POLICY_FILES.policies);
    writeFileSync(file, readFileSync(file, 'utf8') + BROKEN);
    const first = w.check();
    expect(w.check()).toBe(first);
    await first;
    await w.current(); // the look queued behind the first sees the same files: nothing new
    expect(w.status.status).toBe('invalid');
    expect(changes.map((s) => s.status)).toEqual(['invalid']);
    expect(errors).toHaveLength(1);
    w.close();
  });
});

describe('the default trigger (fs.watch and a periodic stat)', () => {
  it('reports an edit through fs.watch, long before the 1 s stat', async () => {
    const dir = await policyDir();
    const seen: PolicyStatus[] = [];
    const w = await PolicyWatcher.open(dir, () => {}, { pollMs: 3_600_000, onChange: (s) => seen.push(s) });
    try {
      writeFileSync(join(dir, POLICY_FILES.policies), readFileSync(join(dir, POLICY_FILES.policies), 'utf8') + BROKEN);
      await within(5_000, 'the watcher to report the broken edit', () => seen.length > 0);
      expect(seen[0]).toMatchObject({ status: 'invalid' });
    } finally {
      w.close();
    }
  });

  it('polls where the directory cannot be watched, and stops when asked', async () => {
    let calls = 0;
    const stop = watchAndPoll(10)(join(root, 'no-such-dir'), () => calls++);
    await within(5_000, 'three polls', () => calls >= 3);
    stop();
    const after = calls;
    // Polls of another trigger, started after stop(): had the first not stopped, it would have run meanwhile.
    let ticks = 0;
    const probe = watchAndPoll(10)(join(root, 'no-such-dir-either'), () => ticks++);
    await within(5_000, 'a later poll', () => ticks >= 3);
    probe();
    expect(calls).toBe(after);
  });
});
