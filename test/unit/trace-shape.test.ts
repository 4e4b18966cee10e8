/**
 * The service's shape check of trace events in an export submission (POST /v1/export): exactly the
 * fields of a TraceEvent, strings where the log holds decimals, bounded lengths and counts.
 */
import { describe, expect, it } from 'vitest';
import type { TraceEvent } from '../../src/log/events.js';
import { MAX_TRACE_ACCUSED, wellFormedExports } from '../../src/server/shapes.js';

const D = (c: string) => `sha256:${c.repeat(64)}`;
const event: TraceEvent = {
  v: 1,
  type: 'trace',
  time: '2026-12-05T12:00:00.000Z',
  leak: D('a'),
  original: D('b'),
  derived: true,
  accused: [
    { recipient: 'acme-labs', copy: 'fp-0123456789abcdef', z: '14.2031', threshold: '7.1', log10Bound: '-38.5' },
  ],
  epsilon: '1e-9',
  traces: 1000,
  recipients: 3,
  publisher: D('c'),
};
const ok = (e: unknown) => wellFormedExports({ publisher: 'p', signature: 's', events: [e] });
const accused = (over: object) => ({ ...event, accused: [{ ...event.accused[0]!, ...over }] });

describe('trace events at POST /v1/export', () => {
  it('takes a trace event with exactly its fields, and one that accuses nobody', () => {
    expect(ok(event)).toBe(true);
    expect(ok({ ...event, accused: [], derived: false })).toBe(true);
  });

  it('refuses extra or missing fields, at the top and in an accusation', () => {
    expect(ok({ ...event, note: 'x' })).toBe(false);
    const { publisher: _, ...noPublisher } = event;
    expect(ok(noPublisher)).toBe(false);
    expect(ok(accused({ extra: '1' }))).toBe(false);
    const { copy: __, ...noCopy } = event.accused[0]!;
    expect(ok({ ...event, accused: [noCopy] })).toBe(false);
  });

  it('refuses numbers where the log holds decimal strings, and strings that are not decimals', () => {
    expect(ok(accused({ z: 14.2 }))).toBe(false);
    expect(ok(accused({ z: 'NaN' }))).toBe(false);
    expect(ok(accused({ log10Bound: '1e-9; drop table' }))).toBe(false);
    expect(ok({ ...event, epsilon: 1e-9 })).toBe(false);
    expect(ok({ ...event, epsilon: '' })).toBe(false);
  });

  it('refuses counts that are not whole numbers ≥ 0, digests that are not digests, a derived that is not a boolean', () => {
    for (const traces of [-1, 1.5, '1000', 2 ** 60]) expect(ok({ ...event, traces })).toBe(false);
    expect(ok({ ...event, recipients: null })).toBe(false);
    expect(ok({ ...event, leak: 'sha256:xyz' })).toBe(false);
    expect(ok({ ...event, original: D('B') })).toBe(false);
    expect(ok({ ...event, derived: 'true' })).toBe(false);
    expect(ok({ ...event, time: 'yesterday' })).toBe(false);
  });

  it('bounds lengths and counts: a long name, too many accused, a nested object where a string goes', () => {
    expect(ok(accused({ recipient: 'x'.repeat(513) }))).toBe(false);
    expect(ok(accused({ recipient: '' }))).toBe(false);
    expect(ok(accused({ copy: { id: 'fp' } }))).toBe(false);
    const many = Array.from({ length: MAX_TRACE_ACCUSED + 1 }, () => event.accused[0]);
    expect(ok({ ...event, accused: many })).toBe(false);
    expect(ok({ ...event, accused: many.slice(1) })).toBe(true);
    expect(ok({ ...event, accused: { 0: event.accused[0], length: 1 } })).toBe(false);
    expect(ok({ ...event, accused: [null] })).toBe(false);
  });
});
