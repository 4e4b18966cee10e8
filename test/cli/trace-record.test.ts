/**
 * `trace --record`: the verdict appended to a log store (signed with the log key) or to a release
 * service (POST /v1/export, signed by the publisher), as a trace event that `audit list` shows.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../support/fixtures.js';
import { cli, serveCli, type ServedCli } from '../support/cli.js';

const dir = tempDir('modelseal-trace-record-');
const keys = join(dir, 'keys');
const registry = join(dir, 'registry.jsonl');
const ms = cli(keys, dir);
const original = resolve('samples/checkpoint');
const leak = join(dir, 'acme');
let served: ServedCli | undefined;

beforeAll(async () => {
  expect(ms(['init']).code).toBe(0);
  for (const who of ['acme', 'bob']) {
    const r = ms(['fingerprint', 'embed', original, '--recipient', who, '--registry', registry, '-o', join(dir, who)]);
    expect(r.code, r.stderr).toBe(0);
  }
  served = await serveCli(keys, dir, join(dir, 'data'));
}, 60_000);
afterAll(() => served?.stop());

/** SHA-256 of the folder's files concatenated in name order (docs/FINGERPRINT.md, "Recording a trace"). */
function folderDigest(folder: string): string {
  const h = createHash('sha256');
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json']) h.update(readFileSync(join(folder, f)));
  return `sha256:${h.digest('hex')}`;
}

const trace = (where: string, extra: string[] = []) =>
  ms(['--json', 'trace', leak, '--original', original, '--registry', registry, '--log', where, '--record', ...extra]);

describe('trace --record', () => {
  it('appends the verdict to a log store: the accused, the bound, the leak digest; audit list shows it', () => {
    const store = join(dir, 'store');
    const r = trace(store);
    expect(r.code, r.stderr).toBe(0);
    const j = r.json();
    expect(j.recorded).toMatchObject({ index: 0, leak: folderDigest(leak) });
    const list = ms(['--json', 'audit', 'list', '--log', store, '--type', 'trace']);
    expect(list.code, list.stderr).toBe(0);
    const [e] = list.json().entries;
    expect(e).toMatchObject({ type: 'trace', leak: folderDigest(leak), original: j.original, derived: true });
    expect(e.accused).toHaveLength(1);
    expect(e.accused[0]).toMatchObject({ recipient: 'acme', copy: j.accused[0].records[0].id });
    expect(Number(e.accused[0].z)).toBeCloseTo(j.accused[0].z, 3);
    expect(Number(e.accused[0].log10Bound)).toBeLessThan(-9);
    expect(e).toMatchObject({ traces: 1000, recipients: 2, epsilon: '1e-9' });
    expect(ms(['audit', 'verify', '--log', store]).code).toBe(0);
  });

  it("sends the verdict to a release service, signed by the publisher; the service's log holds it", () => {
    const r = trace(served!.url);
    expect(r.code, r.stderr).toBe(0);
    expect(
      ms(['trace', leak, '--original', original, '--registry', registry, '--log', served!.url, '--record']).stderr,
    ).toMatch(/recorded the verdict in .* as entry #\d+/);
    const index = r.json().recorded.index as number;
    const list = ms(['--json', 'audit', 'list', '--log', join(dir, 'data', 'log'), '--type', 'trace']).json();
    const e = list.entries.find((x: { index: number }) => x.index === index);
    expect(e).toMatchObject({ type: 'trace', accused: [{ recipient: 'acme' }] });
  });

  it('refuses --record without --log, before reading the leak', () => {
    const r = ms(['trace', leak, '--original', original, '--registry', registry, '--record']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--record');
  });
});
