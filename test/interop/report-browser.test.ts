/**
 * The report page in a real browser: Debian's chromium (test/peers/setup.sh installs it; never a
 * browser download), driven by playwright-core. The page comes from the built CLI over a real log;
 * it must load with no console error and no request but its own, show every figure as report.json
 * has it and every name as written, and print to PDF. The page, its screenshot and PDF are kept under
 * test-artifacts/report-browser/.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';
import { cli } from '../support/cli.js';
import { tempDir } from '../support/fixtures.js';
import {
  expectedValue,
  figureValue,
  inferenceStory,
  released,
  storyEvents,
  writeLog,
  type PageFigure,
} from '../support/report.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = resolve('test-artifacts/report-browser');
const HOSTILE = '<img src=x onerror="document.title=1">';
const NAMES = ['acme-labs', 'Лаборатория Волга', '北京实验室', 'مختبر القاهرة', HOSTILE];

const dir = tempDir('modelseal-report-browser-');
let context: BrowserContext | undefined;

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: run test/peers/setup.sh (it installs Debian's chromium)`);
  context = await chromium.launchPersistentContext(join(dir, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

afterAll(async () => {
  await context?.close(); // undefined when beforeAll failed
});

/** The report of the story log, made by the built CLI: the page's path and report.json. */
async function cliReport(): Promise<{ page: string; report: Record<string, unknown> }> {
  const log = join(dir, 'log');
  const key = join(dir, 'log.vkey');
  // A hostile name and reason too: escaped, they are text; unescaped, the page would load or run them.
  const hostile = released('2026-11-16T00:00:00.000Z', HOSTILE, 'deny', '<script>document.title=2</script>');
  const story = [...storyEvents(), hostile];
  // The gateway's calls after them: their settles name their admit entries by index.
  writeFileSync(key, (await writeLog(log, [...story, ...inferenceStory(story.length)])) + '\n');
  const page = join(dir, 'report.html');
  const r = cli(join(dir, 'keys'), dir)(['--json', 'audit', 'report', '--log', log, '--log-key', key, '-o', page]);
  expect(r.code, r.stderr).toBe(0);
  return { page, report: r.json().report };
}

describe('the report page in headless Chromium', () => {
  it('loads with no error and no request, shows the figures of report.json and the names as written, prints', async () => {
    const { page: file, report } = await cliReport();
    const page = await context!.newPage();
    const errors: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('request', (r) => requests.push(r.url()));
    const url = pathToFileURL(file).href;
    await page.goto(url, { waitUntil: 'load' });
    expect(errors).toEqual([]);
    expect(requests).toEqual([url]);

    const figures: PageFigure[] = await page.$$eval('[data-figure]', (els) =>
      els.map((e) => {
        const value = e.getAttribute('data-value');
        return { path: e.getAttribute('data-figure')!, text: e.textContent, ...(value !== null ? { value } : {}) };
      }),
    );
    expect(figures.length).toBeGreaterThan(100);
    for (const f of figures) expect(figureValue(f), f.path).toEqual(expectedValue(report, f));
    expect(figures.map((f) => f.path)).toEqual(
      expect.arrayContaining([
        'totals.allowed',
        'totals.denied',
        'log.verified',
        'inference.totals.allowed',
        'inference.totals.flops',
        'inference.reasons.0.buckets.0',
        'inference.recipients.0.estimatedShare',
        'inference.models.0.flops',
        'inference.risks.0.risk',
      ]),
    );
    // The gateway's calls: the log verified with them (every settle pairs), the figures as report.json has them.
    expect(report).toMatchObject({
      log: { verified: true },
      inference: { totals: { allowed: 3, denied: 3, open: 1 } },
    });
    const shown = (path: string) => page.locator(`[data-figure="${path}"]`).first().innerText();
    expect(await shown('inference.totals.flops')).toBe('328000');
    expect(await shown('inference.risks.0.risk')).toBe('910');
    expect(await page.locator('#inference').isVisible()).toBe(true);

    const text = await page.locator('body').innerText();
    for (const name of NAMES) expect(text).toContain(name);
    expect(text).toContain('<script>document.title=2</script>');
    expect(await page.title()).toMatch(/^modelseal audit report/);
    expect(await page.locator('img, script').count()).toBe(0);
    // The Arabic name runs right to left in its cell; the page around it stays left to right.
    const arabic = page.locator('[data-figure^="recipients."]', { hasText: 'مختبر القاهرة' }).first();
    expect(await arabic.evaluate((e) => e.matches(':dir(rtl)'))).toBe(true);
    expect(await page.locator('h1').evaluate((e) => e.matches(':dir(ltr)'))).toBe(true);
    // The charts are drawn: each an SVG with its title, and bars.
    expect(await page.locator('svg.chart > title').count()).toBe(7);
    expect(await page.locator('#inference svg.chart rect').count()).toBeGreaterThan(5);
    expect(await page.locator('svg.chart rect').count()).toBeGreaterThan(10);

    mkdirSync(ARTIFACTS, { recursive: true });
    copyFileSync(file, join(ARTIFACTS, 'report.html'));
    await page.screenshot({ path: join(ARTIFACTS, 'report.png'), fullPage: true });
    const pdf = await page.pdf({ path: join(ARTIFACTS, 'report.pdf'), format: 'A4', printBackground: true });
    expect(pdf.subarray(0, 5).toString('latin1')).toBe('%PDF-');
    // One page per section at least: the header, then eight sections each starting a page.
    const pages = pdf.toString('latin1').match(/\/Type\s*\/Page(?!s)/g) ?? [];
    expect(pages.length).toBeGreaterThanOrEqual(9);
    expect(readFileSync(join(ARTIFACTS, 'report.png')).subarray(1, 4).toString('latin1')).toBe('PNG');
    expect(requests).toEqual([url]);
    await page.close();
  });
});
