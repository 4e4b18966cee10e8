/** Reading OpenAI-style server-sent events in the tests: POST a body, collect every `data:` event. */

/** One streamed answer: its status, content type, the JSON events in order, and whether `[DONE]` ended it. */
export interface SseAnswer {
  status: number;
  contentType: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each test reads its own shape
  events: any[];
  done: boolean;
  /** The body as received, for failure messages. */
  raw: string;
}

/** Splits an event-stream body into its `data:` payloads (JSON parsed; `[DONE]` noted, not kept). */
export function parseSse(raw: string): { events: unknown[]; done: boolean } {
  const events: unknown[] = [];
  let done = false;
  for (const block of raw.split(/\r?\n\r?\n/)) {
    const data = block
      .split(/\r?\n/)
      .filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(5).trimStart())
      .join('\n');
    if (data === '') continue; // a comment, a ping, or the end
    if (data === '[DONE]') done = true;
    else events.push(JSON.parse(data));
  }
  return { events, done };
}

/** POSTs `body` as JSON to `url` (with `headers`) and reads the whole event stream. */
export async function postSse(url: string, body: object, headers: Record<string, string> = {}): Promise<SseAnswer> {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const raw = await r.text();
  const contentType = r.headers.get('content-type') ?? '';
  if (!r.ok || !contentType.startsWith('text/event-stream'))
    return { status: r.status, contentType, events: [], done: false, raw };
  return { status: r.status, contentType, ...parseSse(raw), raw };
}

/** The text of a streamed answer: every chunk's delta content (chat) or text (completions), joined. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the chunks' shapes differ by endpoint
export function streamedText(events: any[]): string {
  return events
    .flatMap((e) => (Array.isArray(e.choices) ? e.choices : []))
    .map((c: { delta?: { content?: string | null }; text?: string }) => c.delta?.content ?? c.text ?? '')
    .join('');
}
