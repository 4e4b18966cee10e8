/** `modelseal audit report` through the built CLI, on a real file log made through the library. */
import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, serveCli } from '../support/cli.js';
import { tempDir } from '../support/fixtures.js';
import { expectedValue, figureValue, pageFigures, storyEvents, writeLog } from '../support/report.js';

const dir = tempDir('modelseal-audit-report-');
const run = cli(join(dir, 'keys'), dir);

/** A fresh log of the story in `name`, with its verifier key in a file. */
async function storyLog(name: string): Promise<{ log: string; key: string }> {
  const log = join(dir, name);
  const key = join(dir, `${name}.vkey`);
  writeFileSync(key, (await writeLog(log, storyEvents())) + '\n');
  return { log, key };
}

describe('audit report', () => {
  it('writes the page and prints report.json; every figure of the page is the JSON value', async () => {
    const { log, key } = await storyLog('log-a');
    const out = join(dir, 'a.html');
    const r = run(['--json', 'audit', 'report', '--log', log, '--log-key', key, '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    const { ok, command, output, report } = r.json();
    expect({ ok, command, output }).toEqual({ ok: true, command: 'audit report', output: out });
    expect(report.log).toMatchObject({ origin: 'modelseal.test/report', size: 14, verified: true, problem: null });
    expect(report.log.checkpoint.size).toBe(14);
    expect(report.totals).toEqual({
      entries: 14,
      exports: 4,
      allowed: 3,
      denied: 2,
      refused: 5,
      traces: 2,
      overrides: 1,
      grants: 1,
    });
    const html = readFileSync(out, 'utf8');
    expect(html).toContain('Log verified');
    const figures = pageFigures(html);
    expect(figures.length).toBeGreaterThan(100);
    for (const f of figures) expect(figureValue(f), f.path).toEqual(expectedValue(report, f));
    // Written under a temporary name and renamed: nothing partial is left beside it.
    expect(readdirSync(dir).filter((n) => n.includes('mseal-partial'))).toEqual([]);
  });

  it('reports a period only (--since, --until), the log still verified in full', async () => {
    const { log, key } = await storyLog('log-b');
    const r = run([
      '--json',
      'audit',
      'report',
      '--log',
      log,
      '--log-key',
      key,
      '--since',
      '2026-11-04',
      '--until',
      '2026-11-07',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const { report, output } = r.json();
    expect(output).toBeNull();
    expect(report.period).toMatchObject({
      since: '2026-11-04T00:00:00.000Z',
      until: '2026-11-07T00:00:00.000Z',
      first: '2026-11-04T08:00:00.000Z',
      last: '2026-11-06T12:00:00.000Z',
      unit: 'day',
    });
    expect(report.timeline.map((b: { start: string }) => b.start)).toEqual(['2026-11-04', '2026-11-05', '2026-11-06']);
    expect(report.totals).toMatchObject({ entries: 3, exports: 0, allowed: 1, denied: 2 });
    expect(report.log).toMatchObject({ size: 14, verified: true });
  });

  it('still writes the report of a log that does not verify, marked unverified, then exits 12', async () => {
    const { log, key } = await storyLog('log-c');
    const entries = readFileSync(join(log, 'entries'));
    entries.write('acme-labz', entries.indexOf('acme-labs'));
    writeFileSync(join(log, 'entries'), entries);
    const out = join(dir, 'c.html');
    const r = run(['--json', 'audit', 'report', '--log', log, '--log-key', key, '-o', out]);
    expect(r.code).toBe(12);
    const j = r.json();
    expect(j).toMatchObject({
      ok: false,
      command: 'audit report',
      output: out,
      error: { code: 'LOG_INVALID', exitCode: 12 },
    });
    expect(j.report.log.verified).toBe(false);
    expect(j.report.log.problem).toMatch(/entry 0/);
    const html = readFileSync(out, 'utf8');
    expect(html).toContain('LOG NOT VERIFIED');
    expect(html).toContain('<title>UNVERIFIED');
    // For people: the page's name on stderr, and the error.
    const human = run(['audit', 'report', '--log', log, '--log-key', key, '-o', join(dir, 'c2.html')]);
    expect(human.code).toBe(12);
    expect(human.stderr).toMatch(/LOG NOT VERIFIED/);
    expect(human.stderr).toMatch(/modelseal: error LOG_INVALID: .*entry 0/);
    expect(existsSync(join(dir, 'c2.html'))).toBe(true);
  });

  it('asks for -o or --json, keeps an existing page unless --force, and writes the page to stdout with -o -', async () => {
    const { log, key } = await storyLog('log-d');
    const none = run(['audit', 'report', '--log', log, '--log-key', key]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/give -o report\.html/);
    const out = join(dir, 'd.html');
    writeFileSync(out, 'an older report');
    const kept = run(['audit', 'report', '--log', log, '--log-key', key, '-o', out]);
    expect(kept.stderr).toMatch(/OUTPUT_EXISTS/);
    expect(readFileSync(out, 'utf8')).toBe('an older report');
    expect(run(['audit', 'report', '--log', log, '--log-key', key, '-o', out, '--force']).code).toBe(0);
    expect(readFileSync(out, 'utf8')).toMatch(/^<!DOCTYPE html>/);
    const stdout = run(['audit', 'report', '--log', log, '--log-key', key, '-o', '-']);
    expect(stdout.code).toBe(0);
    expect(stdout.stdout).toMatch(/^<!DOCTYPE html>[\s\S]*<\/html>\n$/);
    const bad = run(['audit', 'report', '--log', log, '--log-key', key, '--json', '--since', 'last tuesday']);
    expect(bad.json().error.code).toBe('INVALID_ARGUMENT');
  });

  it('reports the log of a running release service, read and verified over HTTP (--log <url>, and the old --server)', async () => {
    expect(run(['init', '--log-origin', 'report.cli.test/log']).code).toBe(0);
    const served = await serveCli(join(dir, 'keys'), dir, join(dir, 'data'));
    try {
      // A body that is not JSON: the service denies it, and logs it before answering.
      const denied = await fetch(`${served.url}/v1/release`, { method: 'POST', body: 'not json' });
      expect(denied.status).toBe(400);
      for (const flag of ['--log', '--server']) {
        const r = run(['--json', 'audit', 'report', flag, served.url]);
        expect(r.code, r.stderr).toBe(0);
        const { log, totals } = r.json().report;
        expect(log).toMatchObject({ origin: 'report.cli.test/log', verified: true, problem: null });
        expect(log.checkpoint.size).toBe(log.size);
        expect(totals).toMatchObject({ entries: log.size, denied: 1 });
        expect(r.json().report.reasons).toEqual([{ reason: 'malformed-json', releases: 1, refused: 0, total: 1 }]);
      }
    } finally {
      served.stop();
    }
  });
});
