/**
 * Server-sent events as the gateway passes them through (one event at a time, never the whole
 * stream): a splitter of the upstream's bytes into events, and what an event carries (its data
 * as JSON, when it is JSON).
 */
import { StringDecoder } from 'node:string_decoder';

/** The longest single event the gateway passes through; a longer one ends the stream as an upstream error. */
export const MAX_EVENT_BYTES = 1024 * 1024;

/** One event: its bytes as received (with their terminating blank line) and its data field. */
export interface SseEvent {
  raw: Buffer;
  /** The data lines joined by "\n"; null for an event without data (a comment, a keep-alive). */
  data: string | null;
}

const BLANK = /\r\n\r\n|\n\n|\r\r/;

/** Splits a byte stream into events as they complete. */
export class SseSplitter {
  #pending = '';
  // A character split between two chunks is decoded once both are in.
  readonly #decoder = new StringDecoder('utf8');

  /** The events `chunk` completes; an Error when one grows past {@link MAX_EVENT_BYTES}. */
  push(chunk: Buffer): SseEvent[] {
    this.#pending += this.#decoder.write(chunk);
    const out: SseEvent[] = [];
    for (;;) {
      const m = BLANK.exec(this.#pending);
      if (!m) break;
      const end = m.index + m[0].length;
      const text = this.#pending.slice(0, end);
      this.#pending = this.#pending.slice(end);
      out.push({ raw: Buffer.from(text, 'utf8'), data: dataOf(text.slice(0, m.index)) });
    }
    if (this.#pending.length > MAX_EVENT_BYTES) throw new Error('an event of the stream is too large');
    return out;
  }

  /** What is left after the stream ended (an event without its blank line), as one last event. */
  end(): SseEvent | null {
    this.#pending += this.#decoder.end();
    if (this.#pending.trim() === '') return null;
    const text = this.#pending;
    this.#pending = '';
    return { raw: Buffer.from(`${text}\n\n`, 'utf8'), data: dataOf(text) };
  }
}

/** The data of an event's text: its "data:" lines joined, or null when it has none. */
function dataOf(text: string): string | null {
  const lines = text
    .split(/\r\n|\n|\r/)
    .filter((l) => l.startsWith('data:'))
    .map((l) => l.slice(l.startsWith('data: ') ? 6 : 5));
  return lines.length ? lines.join('\n') : null;
}

/** An event's data as a JSON object; null for "[DONE]", other text, or JSON that is no object. */
export function eventJson(e: SseEvent): Record<string, unknown> | null {
  if (e.data === null || e.data === '[DONE]') return null;
  try {
    const v = JSON.parse(e.data) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** An event that carries `value` as its data. */
export function dataEvent(value: unknown): Buffer {
  return Buffer.from(`data: ${JSON.stringify(value)}\n\n`, 'utf8');
}
