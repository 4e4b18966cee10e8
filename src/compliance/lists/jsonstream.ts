/**
 * The elements of the `results` array of a CSL JSON document (`{"total": …, "results": [ … ]}`),
 * one at a time as the text streams in, so a large download is never held whole. Each element's
 * text is parsed on its own; the scanner only follows strings and nesting.
 */
import { listInvalid } from './entity.js';
import { LIST_LIMITS } from './limits.js';

const OPEN = new Set(['{', '[']);
const CLOSE = new Set(['}', ']']);
const SPACE = /\s/;

/** Scanner state across chunks. */
interface Scan {
  depth: number;
  inString: boolean;
  escaped: boolean;
  /** At depth 1, the next string is a key: its text is collected. */
  expectKey: boolean;
  key: string;
  lastKey: string;
  inResults: boolean;
  sawResults: boolean;
  /** The element being collected (depth ≥ 3 inside results), and its index. */
  element: string[] | null;
  size: number;
  index: number;
  /** The text of the top-level `total`, when the document has one. */
  total: string;
}

/** Parsed elements of the top-level `results` array; LIST_INVALID for a document that is not such, or truncated. */
export async function* cslResults(
  chunks: AsyncIterable<string>,
  file: string,
): AsyncGenerator<{ value: unknown; index: number }> {
  const s: Scan = {
    depth: 0,
    inString: false,
    escaped: false,
    expectKey: false,
    key: '',
    lastKey: '',
    inResults: false,
    sawResults: false,
    element: null,
    size: 0,
    index: 0,
    total: '',
  };
  let ended = false;
  for await (const chunk of chunks) {
    let from = 0;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!;
      if (ended) {
        if (!SPACE.test(c)) throw listInvalid({ file }, 'text after the end of the JSON document');
        continue;
      }
      const done = step(s, c, file);
      if (done === 'start') from = i;
      else if (done === 'end') {
        s.element!.push(chunk.slice(from, i + 1));
        yield { value: parseElement(s.element!.join(''), file, s.index), index: s.index++ };
        s.element = null;
        s.size = 0;
      } else if (done === 'closed') ended = true;
    }
    if (s.element) {
      s.element.push(chunk.slice(from));
      s.size += chunk.length - from;
      if (s.size > LIST_LIMITS.recordBytes)
        throw listInvalid({ file, index: s.index }, `a record over the limit of ${LIST_LIMITS.recordBytes} bytes`);
    }
  }
  if (!ended) throw listInvalid({ file }, 'the JSON ends early (truncated download?)');
  if (s.total && Number(s.total) !== s.index)
    throw listInvalid(
      { file },
      `"total" says ${s.total} records and "results" holds ${s.index}: a page of the API or a cut download, not ` +
        'the whole list; download consolidated.json again',
    );
  if (!s.sawResults)
    throw listInvalid({ file }, 'no "results" array: expected {"results": [...]} as trade.gov publishes it');
}

function parseElement(text: string, file: string, index: number): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw listInvalid({ file, index }, `not valid JSON: ${(e as Error).message}`, e);
  }
}

/** Advances the scanner by one character; says when an element starts or ends, or the document closes. */
function step(s: Scan, c: string, file: string): 'start' | 'end' | 'closed' | undefined {
  if (s.inString) {
    if (s.escaped) s.escaped = false;
    else if (c === '\\') s.escaped = true;
    else if (c === '"') s.inString = false;
    if (s.expectKey && s.depth === 1) {
      if (s.inString || s.escaped || c === '\\') s.key += c;
      else {
        s.lastKey = s.key;
        s.expectKey = false;
      }
    }
    return undefined;
  }
  if (c === '"') {
    if (s.depth === 0) throw listInvalid({ file }, 'not a JSON object: expected {"results": [...]}');
    s.inString = true;
    if (s.expectKey && s.depth === 1) s.key = '';
    return undefined;
  }
  if (OPEN.has(c)) {
    if (s.depth === 0 && c !== '{') throw listInvalid({ file }, 'not a JSON object: expected {"results": [...]}');
    s.depth++;
    if (s.depth === 1) s.expectKey = true;
    if (s.depth === 2 && c === '[' && s.lastKey === 'results') s.inResults = s.sawResults = true;
    if (s.depth === 3 && s.inResults) {
      s.element = [];
      return 'start';
    }
    return undefined;
  }
  if (CLOSE.has(c)) {
    s.depth--;
    if (s.depth < 0) throw listInvalid({ file }, 'unbalanced JSON');
    if (s.depth === 2 && s.element) return 'end';
    if (s.depth === 1) s.inResults = false;
    return s.depth === 0 ? 'closed' : undefined;
  }
  if (s.depth === 1 && c === ',') s.expectKey = true;
  else if (s.depth === 1 && s.lastKey === 'total' && !s.expectKey && c !== ':' && !SPACE.test(c)) s.total += c;
  else if (s.depth === 0 && !SPACE.test(c))
    throw listInvalid({ file }, 'not a JSON object: expected {"results": [...]}');
  else if (s.depth === 2 && s.inResults && c !== ',' && !SPACE.test(c))
    throw listInvalid({ file, index: s.index }, 'a record of "results" that is not a JSON object');
  return undefined;
}
