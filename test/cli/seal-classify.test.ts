/**
 * `seal` classifies the checkpoint and binds the record (issue 20), through the built binary: the
 * classification flags reach the classifier, the record is in seal's --json, in the signed header
 * (`inspect`, text and --json, no key), and in the export event of `seal --log`; --no-classify
 * seals without one; bad flags are usage errors.
 */
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { classifyPath, decodeEvent, openLogStore, type ClassificationRecord } from '../../src/index.js';
import { cli } from '../support/cli.js';
import { tempDir } from '../support/fixtures.js';

const dir = tempDir('modelseal-seal-classify-');
const keys = join(dir, 'keys');
const ms = cli(keys, dir);
const CHECKPOINT = resolve('samples/checkpoint');
const withoutTime = ({ time: _, ...r }: ClassificationRecord) => r;

beforeAll(() => {
  const init = ms(['--json', 'init', '--log-origin', 'classify.test/log']);
  expect(init.code, init.stderr).toBe(0);
});

describe('seal binds the classification', () => {
  it('records what the classifier determines with the declared inputs, in the header and the export event', async () => {
    const out = join(dir, 'closed.mseal');
    const logDir = join(dir, 'log');
    const flags = ['--training-flops', '2e26', '--closed-weights'];
    const r = ms(['--json', 'seal', CHECKPOINT, '--to', 'local', '-o', out, '--log', logDir, ...flags]);
    expect(r.code, r.stderr).toBe(0);
    const sealed = r.json().classification as ClassificationRecord;
    // What the library classifier says of the same checkpoint with the same declarations.
    const expected = await classifyPath(CHECKPOINT, { trainingFlops: 2e26, weights: 'closed' });
    expect(withoutTime(sealed)).toEqual(withoutTime(expected));
    expect(sealed.facts.weights).toBe('closed');
    expect(sealed.destination).toBeNull();
    // The signed header holds it: inspect shows it without a key.
    const inspected = ms(['--json', 'inspect', out]);
    expect(inspected.code, inspected.stderr).toBe(0);
    expect(inspected.json().classification).toEqual(sealed);
    const text = ms(['inspect', out]);
    expect(text.stdout).toMatch(/ {2}classification \(signed with the header\)\n {4}[\d,]+ parameters in \d+ tensors/);
    expect(text.stdout).toMatch(/weights closed, determined \d{4}-\d\d-\d\dT[\d:]+Z\n/);
    // The export event carries it.
    const store = await openLogStore(logDir, 'read');
    const [entry] = await store.readEntries(0, 1);
    await store.close();
    expect(decodeEvent(entry!)).toMatchObject({ type: 'export', classification: sealed });
  });

  it('--no-classify seals without a record, and inspect says so', () => {
    const out = join(dir, 'plain.mseal');
    const r = ms(['--json', 'seal', CHECKPOINT, '--to', 'local', '-o', out, '--no-classify']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).not.toHaveProperty('classification');
    expect(ms(['--json', 'inspect', out]).json()).not.toHaveProperty('classification');
    expect(ms(['inspect', out]).stdout).toMatch(/classification none \(sealed without one\)/);
  });

  it('refuses contradictory or malformed classification flags (exit 2), and writes nothing', () => {
    for (const [args, why] of [
      [['--open-weights', '--closed-weights'], /--open-weights or --closed-weights, not both/],
      [['--training-flops', 'lots'], /--training-flops lots: expected a positive number/],
      [['--tokens', '-5'], /--tokens -5: expected a positive number/],
      [['--no-classify', '--tokens', '1e12'], /--no-classify goes without the classification flags/],
    ] as const) {
      const out = join(dir, 'never.mseal');
      const r = ms(['--json', 'seal', CHECKPOINT, '--to', 'local', '-o', out, ...args]);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.json().error).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(why) });
    }
  });
});
