/** One progress reporter per operation: a bar on a terminal's stderr, nothing with --json, --quiet or no terminal. */
import { describe, expect, it } from 'vitest';
import { progressReporter, withProgress } from '../../cli/util.js';

/** A stand-in for stderr that records what is written, a terminal or not. */
function terminal(isTTY = true) {
  const writes: string[] = [];
  const out = { isTTY, write: (s: string) => writes.push(s) > 0 } as unknown as NodeJS.WriteStream;
  return { out, writes, newlines: () => writes.filter((w) => w === '\n').length };
}

describe('progressReporter', () => {
  it('is silent with --json, with --quiet and when stderr is not a terminal', () => {
    for (const [g, tty] of [
      [{ json: true }, true],
      [{ quiet: true }, true],
      [{}, false],
    ] as const) {
      const t = terminal(tty);
      const p = progressReporter(g, t.out);
      expect(p.onProgress).toBeUndefined();
      expect(p.counting('trace')).toBeUndefined();
      p.finish();
      expect(t.writes).toEqual([]);
    }
  });

  it('draws one bar per operation and ends its line once, when the total is reached', () => {
    const t = terminal();
    const p = progressReporter({}, t.out);
    p.onProgress!({ phase: 'encrypt', done: 0, total: 2048 });
    p.onProgress!({ phase: 'encrypt', done: 2048, total: 2048 });
    p.finish();
    expect(t.writes[0]).toMatch(/^\rencrypt +\[-{24}\] +0% 0 B\/2\.0 KiB/);
    expect(t.writes.some((w) => /\[#{24}\] 100% 2\.0 KiB\/2\.0 KiB/.test(w))).toBe(true);
    expect(t.newlines()).toBe(1);
  });

  it('finish ends a bar left open (an error, a total never reached), and only once', async () => {
    const t = terminal();
    const p = progressReporter({}, t.out);
    p.counting('trace')!({ done: 3, total: 10 });
    expect(t.writes[0]).toMatch(/trace +\[#{7}-{17}\] +30% 3 tensors\/10 tensors/);
    expect(t.newlines()).toBe(0);
    p.finish();
    p.finish();
    expect(t.newlines()).toBe(1);
  });

  it('withProgress finishes the reporter when the operation fails, so the error starts on a line of its own', async () => {
    const t = terminal();
    const failing = withProgress(
      {},
      async (p) => {
        p.onProgress!({ phase: 'decrypt', done: 1024, total: 4096 });
        throw new Error('boom');
      },
      t.out,
    );
    await expect(failing).rejects.toThrow('boom');
    expect(t.writes.at(-1)).toBe('\n');
    expect(t.newlines()).toBe(1);
  });
});
