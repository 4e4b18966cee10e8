/**
 * The prompt text of an OpenAI request body: what the gateway hashes and the monitor reads
 * (docs/GATE.md, "What is hashed"). Text only: images, audio and tool schemas are not prompt text.
 */

type Json = unknown;

/** The text of one chat message's content: a string, or the `text` of its text parts. */
function contentText(content: Json): string | null {
  if (typeof content === 'string') return content;
  if (content === null || content === undefined) return '';
  if (!Array.isArray(content)) return null;
  const texts: string[] = [];
  for (const part of content) {
    if (typeof part === 'string') texts.push(part);
    else if (isObject(part) && typeof part.text === 'string') texts.push(part.text);
    else if (!isObject(part)) return null;
  }
  return texts.join('\n');
}

function isObject(v: Json): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A prompt or embeddings input: a string, an array of strings, of token ids, or of arrays of token ids. */
function inputText(input: Json): string | null {
  if (typeof input === 'string') return input;
  if (!Array.isArray(input)) return null;
  const texts: string[] = [];
  for (const item of input) {
    if (typeof item === 'string') texts.push(item);
    // Token ids stand for text the gateway cannot read: as words, so repeated id sequences still match.
    else if (typeof item === 'number') texts.push(String(item));
    else if (Array.isArray(item) && item.every((t) => typeof t === 'number')) texts.push(item.join(' '));
    else return null;
  }
  return texts.join(input.every((i) => typeof i === 'number') ? ' ' : '\n');
}

/**
 * The prompt text of a request to an OpenAI endpoint ("chat.completions": every message's text
 * content, in order, one per line; "completions": `prompt`; "embeddings": `input`), or null when the
 * body does not have the endpoint's shape.
 */
export function promptText(endpoint: string, body: unknown): string | null {
  if (!isObject(body)) return null;
  if (endpoint === 'chat.completions') {
    const messages = body.messages;
    if (!Array.isArray(messages)) return null;
    const texts: string[] = [];
    for (const m of messages) {
      if (!isObject(m)) return null;
      const text = contentText(m.content);
      if (text === null) return null;
      texts.push(text);
    }
    return texts.join('\n');
  }
  if (endpoint === 'completions') return inputText(body.prompt);
  if (endpoint === 'embeddings') return inputText(body.input);
  return null;
}
