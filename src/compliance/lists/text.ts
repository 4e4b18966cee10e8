/**
 * Reading an input list as text, streamed: UTF-8 decoded strictly (a byte order mark dropped),
 * hashed and counted as it is read, split into lines or CSV records without holding the file.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { ioError } from '../../io/atomic.js';
import { listInvalid } from './entity.js';
import { LIST_LIMITS } from './limits.js';

/** One input file: its text in chunks, and once read, its SHA-256 and size. */
export class InputText {
  sha256 = '';
  bytes = 0;
  constructor(readonly path: string) {}

  /** The file's text, decoded as it streams; LIST_INVALID when it is too large or not UTF-8. */
  async *chunks(): AsyncGenerator<string> {
    const size = await stat(this.path).then(
      (s) => s.size,
      (e: unknown) => {
        throw ioError(`cannot read ${this.path}`, e);
      },
    );
    if (size > LIST_LIMITS.fileBytes)
      throw listInvalid({ file: this.path }, `${size} bytes, over the limit of ${LIST_LIMITS.fileBytes}`);
    const hash = createHash('sha256');
    const decoder = new TextDecoder('utf-8', { fatal: true });
    let bytes = 0;
    try {
      for await (const chunk of createReadStream(this.path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
        hash.update(chunk);
        bytes += chunk.length;
        yield decoder.decode(chunk, { stream: true });
      }
      yield decoder.decode();
    } catch (e) {
      if (e instanceof TypeError) throw listInvalid({ file: this.path }, 'the file is not UTF-8 text', e);
      throw (e as NodeJS.ErrnoException).code ? ioError(`cannot read ${this.path}`, e) : e;
    }
    this.sha256 = hash.digest('hex');
    this.bytes = bytes;
  }
}

/** Lines of the text (LF or CRLF), numbered from 1, each at most the record limit. */
export async function* lines(
  chunks: AsyncIterable<string>,
  file: string,
): AsyncGenerator<{ text: string; line: number }> {
  let rest = '';
  let line = 0;
  for await (const chunk of chunks) {
    let from = 0;
    for (let at = chunk.indexOf('\n'); at >= 0; at = chunk.indexOf('\n', from)) {
      const text = rest + chunk.slice(from, at);
      rest = '';
      from = at + 1;
      if (text.length > LIST_LIMITS.recordBytes)
        throw listInvalid({ file, line: line + 1 }, `a line over the limit of ${LIST_LIMITS.recordBytes} bytes`);
      yield { text: text.endsWith('\r') ? text.slice(0, -1) : text, line: ++line };
    }
    rest += chunk.slice(from);
    if (rest.length > LIST_LIMITS.recordBytes)
      throw listInvalid({ file, line: line + 1 }, `a line over the limit of ${LIST_LIMITS.recordBytes} bytes`);
  }
  if (rest) yield { text: rest.endsWith('\r') ? rest.slice(0, -1) : rest, line: line + 1 };
}

const enum Csv {
  Start,
  Unquoted,
  Quoted,
  Quote,
}

/** One CSV record: its fields and the line it starts on. */
export interface CsvRecord {
  fields: string[];
  line: number;
}

/**
 * CSV records as RFC 4180 has them (quoted fields with doubled quotes and line breaks, CRLF or
 * LF), with `delimiter` (a tab for TSV). Blank lines are skipped. LIST_INVALID for text after a
 * closing quote, a quote still open at the end (truncated), or a record over the limit.
 */
export async function* csvRecords(
  chunks: AsyncIterable<string>,
  file: string,
  delimiter = ',',
): AsyncGenerator<CsvRecord> {
  let state = Csv.Start;
  let field = '';
  let fields: string[] = [];
  let line = 1;
  let start = 1;
  let size = 0;
  const stops = new RegExp(`[${delimiter === '\t' ? '\\t' : delimiter}\\r\\n]`, 'g');
  for await (const chunk of chunks) {
    for (let i = 0; i < chunk.length;) {
      if (size > LIST_LIMITS.recordBytes)
        throw listInvalid({ file, line: start }, `a record over the limit of ${LIST_LIMITS.recordBytes} bytes`);
      if (state === Csv.Quoted) {
        const q = chunk.indexOf('"', i);
        const piece = chunk.slice(i, q < 0 ? chunk.length : q);
        field += piece;
        size += piece.length;
        for (let n = piece.indexOf('\n'); n >= 0; n = piece.indexOf('\n', n + 1)) line++;
        if (q < 0) break;
        state = Csv.Quote;
        i = q + 1;
        continue;
      }
      const c = chunk[i]!;
      if (state === Csv.Quote) {
        if (c === '"') {
          field += '"';
          state = Csv.Quoted;
          i++;
          continue;
        }
        if (c !== delimiter && c !== '\r' && c !== '\n')
          throw listInvalid(
            { file, line },
            `${JSON.stringify(c)} after the closing quote of a field; double a quote inside one`,
          );
        state = Csv.Unquoted;
      }
      if (c === delimiter || c === '\n') {
        fields.push(field);
        field = '';
        state = Csv.Start;
        i++;
        if (c === '\n') {
          if (fields.length > 1 || fields[0] !== '') yield { fields, line: start };
          fields = [];
          size = 0;
          start = ++line;
        }
      } else if (c === '\r') i++;
      else if (c === '"' && state === Csv.Start) {
        state = Csv.Quoted;
        i++;
      } else {
        stops.lastIndex = i;
        const end = stops.exec(chunk)?.index ?? chunk.length;
        field += chunk.slice(i, end);
        size += end - i;
        state = Csv.Unquoted;
        i = end;
      }
    }
  }
  if (state === Csv.Quoted)
    throw listInvalid({ file, line: start }, 'the file ends inside a quoted field (truncated?)');
  if (fields.length || field !== '' || state !== Csv.Start) yield { fields: [...fields, field], line: start };
}
