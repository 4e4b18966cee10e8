/**
 * The quota file (src/gate/quotas.ts) and MemoryQuotaStore: strict validation naming the field,
 * reload on edit keeping the last good file, every limit of recipient, org and tier at once, fixed
 * UTC windows and Retry-After, settle by actual use, and concurrent reserves racing for the last tokens.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MemoryQuotaStore } from '../../src/gate/quota-memory.js';
import { NO_QUOTAS, parseQuotaFile, QuotaFile, quotaFilePath, windowEnd, windowStart } from '../../src/gate/quotas.js';
import type { QuotaAmount, QuotaSubject } from '../../src/gate/types.js';
import { tempDir } from '../support/fixtures.js';

const subject: QuotaSubject = { recipient: 'acme', org: 'Acme Ltd', tier: 'frontier' };
const amount = (tokens: number, flops = 0n): QuotaAmount => ({ requests: 1, tokens, flops });
const fixed = (o: object) => ({ config: parseQuotaFile(JSON.stringify(o)) });
const t0 = new Date('2026-03-31T23:59:30Z');

describe('quota file', () => {
  it('validates strictly and names the field', () => {
    const ok = parseQuotaFile(
      JSON.stringify({
        defaultMaxTokens: 256,
        defaults: { tokensPerMinute: 100 },
        recipients: { acme: { requestsPerMinute: 5, flopsPerDay: '100000000000000000000' } },
        orgs: { 'Acme Ltd': { tokensPerMonth: 10 } },
        tiers: { frontier: { tokensPerDay: 1000 } },
      }),
    );
    expect(ok.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(ok.defaultMaxTokens).toBe(256);
    expect(ok.recipients.acme).toEqual({ requestsPerMinute: 5, flopsPerDay: '100000000000000000000' });
    const bad: [object | string, RegExp][] = [
      ['{', /not JSON/],
      [[], /expected a JSON object/],
      [{ limits: {} }, /quotas.json: limits: unknown field/],
      [{ defaults: { tokensPerHour: 1 } }, /defaults.tokensPerHour: unknown limit/],
      [{ recipients: { acme: { tokensPerDay: -1 } } }, /recipients.acme.tokensPerDay: expected a non-negative integer/],
      [{ recipients: { acme: { tokensPerDay: 1.5 } } }, /recipients.acme.tokensPerDay/],
      [
        { tiers: { frontier: { flopsPerDay: 1e20 } } },
        /tiers.frontier.flopsPerDay: expected FLOPs as a decimal string/,
      ],
      [{ recipients: { 'Not A Name': {} } }, /recipients."Not A Name": not a valid name/],
      [{ defaultMaxTokens: 0 }, /defaultMaxTokens: expected a positive integer/],
      [{ orgs: { x: 5 } }, /orgs.x: expected an object of limits/],
    ];
    for (const [v, re] of bad) {
      const text = typeof v === 'string' ? v : JSON.stringify(v);
      expect(() => parseQuotaFile(text), text).toThrow(re);
      try {
        parseQuotaFile(text);
      } catch (e) {
        expect((e as { code: string }).code).toBe('QUOTA_INVALID');
      }
    }
  });

  it('reloads an edit, keeps the last good file on a bad one, and reports it once', async () => {
    const dir = tempDir('modelseal-quotas-');
    mkdirSync(join(dir, 'gate'));
    const path = quotaFilePath(dir);
    expect(path).toBe(join(dir, 'gate', 'quotas.json'));
    let fire = () => {};
    const errors: unknown[] = [];
    const f = await QuotaFile.open(path, (e) => errors.push(e), {
      trigger: (_d, changed) => ((fire = changed), () => {}),
    });
    expect(f.config).toBe(NO_QUOTAS);
    writeFileSync(path, JSON.stringify({ defaults: { tokensPerMinute: 10 } }));
    fire();
    await f.check();
    expect(f.config.defaults).toEqual({ tokensPerMinute: 10 });
    const good = f.config.digest;
    writeFileSync(path, JSON.stringify({ defaults: { tokensPerMinute: 'ten' } }));
    await f.check();
    await f.check();
    expect(f.config.digest).toBe(good);
    expect(errors).toHaveLength(1);
    expect(String(errors[0])).toMatch(/defaults.tokensPerMinute/);
    rmSync(path);
    await f.check();
    expect(f.config).toBe(NO_QUOTAS);
    f.close();
    writeFileSync(path, '{');
    await expect(QuotaFile.open(path)).rejects.toMatchObject({ code: 'QUOTA_INVALID' });
  });

  it('has UTC minute, day and calendar-month windows', () => {
    const t = Date.parse('2026-02-28T23:59:59.500Z');
    expect(new Date(windowStart('minute', t)).toISOString()).toBe('2026-02-28T23:59:00.000Z');
    expect(new Date(windowEnd('day', windowStart('day', t))).toISOString()).toBe('2026-03-01T00:00:00.000Z');
    expect(new Date(windowEnd('month', windowStart('month', t))).toISOString()).toBe('2026-03-01T00:00:00.000Z');
  });
});

describe('MemoryQuotaStore', () => {
  it('refuses with the limit that refused and the seconds until its window frees; settle frees the unused part', async () => {
    const store = new MemoryQuotaStore(fixed({ recipients: { acme: { tokensPerMinute: 100, tokensPerDay: 150 } } }));
    const a = await store.reserve(subject, amount(80), t0);
    expect(a.ok).toBe(true);
    const b = await store.reserve(subject, amount(30), t0);
    expect(b).toEqual({ ok: false, limit: 'recipient:acme tokensPerMinute', retryAfter: 30 });
    expect(await store.usedPerMille(subject, t0)).toBe(800);
    if (!a.ok) throw new Error('unreachable');
    await store.settle(a, amount(20), t0);
    await store.settle(a, amount(0), t0); // a second settle changes nothing
    expect(await store.usedPerMille(subject, t0)).toBe(200);
    expect((await store.reserve(subject, amount(30), t0)).ok).toBe(true);
    // The next minute is the next day (and month): both windows free.
    const later = new Date('2026-04-01T00:00:10Z');
    const c = await store.reserve(subject, amount(100), later);
    expect(c.ok).toBe(true);
    // The day refuses, and frees at midnight, later than the minute.
    const d = await store.reserve(subject, amount(60), new Date('2026-04-01T00:01:10Z'));
    expect(d).toEqual({ ok: false, limit: 'recipient:acme tokensPerDay', retryAfter: 86_330 });
  });

  it('applies recipient, organisation and tier limits together, defaults to a recipient without its own', async () => {
    const store = new MemoryQuotaStore(
      fixed({
        defaults: { requestsPerMinute: 2 },
        orgs: { 'Acme Ltd': { tokensPerMonth: 50 } },
        tiers: { frontier: { flopsPerDay: '1000' } },
      }),
    );
    const bob = { ...subject, recipient: 'bob' };
    expect((await store.reserve(subject, amount(10, 400n), t0)).ok).toBe(true);
    expect((await store.reserve(bob, amount(10, 400n), t0)).ok).toBe(true);
    expect(await store.reserve(bob, amount(10, 400n), t0)).toMatchObject({
      ok: false,
      limit: 'tier:frontier flopsPerDay',
    });
    expect(await store.reserve(bob, amount(40), t0)).toMatchObject({ ok: false, limit: 'org:Acme Ltd tokensPerMonth' });
    expect((await store.reserve(bob, amount(1), t0)).ok).toBe(true);
    expect(await store.reserve(bob, amount(1), t0)).toMatchObject({
      ok: false,
      limit: 'recipient:bob requestsPerMinute',
    });
    const other = { recipient: 'carol', org: 'Other', tier: 'open' };
    expect((await store.reserve(other, amount(1000, 10n ** 30n), t0)).ok).toBe(true);
    expect(await store.usedPerMille(other, t0)).toBe(500); // 1 of 2 requests per minute
    expect(await new MemoryQuotaStore({ config: NO_QUOTAS }).usedPerMille(subject, t0)).toBe(0);
  });

  it('counts use beyond the reservation when the call overran it', async () => {
    const store = new MemoryQuotaStore(fixed({ recipients: { acme: { tokensPerMinute: 100 } } }));
    const r = await store.reserve(subject, amount(10), t0);
    if (!r.ok) throw new Error('refused');
    await store.settle(r, amount(150), t0);
    expect(await store.usedPerMille(subject, t0)).toBe(1500);
    expect(await store.reserve(subject, amount(1), t0)).toMatchObject({ ok: false });
  });

  it('lets exactly as many concurrent reserves through as the last tokens allow', async () => {
    const store = new MemoryQuotaStore(fixed({ orgs: { 'Acme Ltd': { tokensPerMinute: 1000 } } }));
    expect((await store.reserve(subject, amount(930), t0)).ok).toBe(true);
    const racers = Array.from({ length: 50 }, (_, i) =>
      store.reserve({ ...subject, recipient: `r${i}` }, amount(7), t0),
    );
    const held = (await Promise.all(racers)).filter((r) => r.ok);
    expect(held).toHaveLength(10); // 70 tokens left, 7 each
    expect(await store.usedPerMille(subject, t0)).toBe(1000);
  });
});
