import { describe, expect, it } from 'vitest';
import { MemoryLedger } from '../../src/server/ledger.js';

describe('the in-memory release ledger', () => {
  it('refuses a nonce seen inside its window and accepts it again once it expired', async () => {
    const ledger = new MemoryLedger();
    const t = 1_000_000;
    for (let i = 0; i < 10_000; i++) expect(await ledger.claimNonce(`n${i}`, t + 1000 + i, t)).toBe(true);
    expect(await ledger.claimNonce('n5000', t + 2000, t + 500)).toBe(false);
    // n<i> expires at t + 1000 + i: at t + 6000, n0…n5000 have expired and n5001… are refused.
    expect(await ledger.claimNonce('fresh', t + 9000, t + 6000)).toBe(true);
    expect(await ledger.claimNonce('n4999', t + 9000, t + 6000)).toBe(true);
    expect(await ledger.claimNonce('n5001', t + 9000, t + 6000)).toBe(false);
    expect(await ledger.claimNonce('fresh', t + 9000, t + 6000)).toBe(false);
  });

  it('reserves releases up to the quota and gives them back', async () => {
    const ledger = new MemoryLedger();
    expect(await ledger.reserve('L', 2)).toBe(true);
    expect(await ledger.reserve('L', 2)).toBe(true);
    expect(await ledger.reserve('L', 2)).toBe(false);
    await ledger.unreserve('L');
    expect(await ledger.used('L')).toBe(1);
  });
});
