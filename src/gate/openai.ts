/**
 * The OpenAI-compatible API as the gateway reads it: which endpoint a path is, what a request body
 * asks (the prompt text it hashes, max_tokens, streaming) and the error bodies it answers with
 * (`{"error":{"message","type","code"}}`). Hostile bodies of any shape are a 400, never a throw.
 */
import { createHash } from 'node:crypto';
import { tokensFromUsage, type TokenCount } from './meter.js';
import { promptText } from './monitor/prompt.js';

/** The endpoints the gateway forwards, by path. */
export const ENDPOINTS: Readonly<Record<string, string>> = {
  '/v1/chat/completions': 'chat.completions',
  '/v1/completions': 'completions',
  '/v1/embeddings': 'embeddings',
};

/** Request bodies larger than this are refused (413) before they are parsed. */
export const MAX_REQUEST_BYTES = 4 * 1024 * 1024;

/** What the gateway reads of a request body (forwarded as the client sent it, but for the noted edits). */
export interface InferRequest {
  endpoint: string;
  /** The body as parsed, to forward (the gateway sets `model`, and `stream_options` on streams). */
  body: Record<string, unknown>;
  /** The prompt text as hashed and measured (docs/GATE.md, "What is hashed"). */
  prompt: string;
  stream: boolean;
  /** Whether the client asked for the usage chunk of a stream itself. */
  includeUsage: boolean;
  /** max_tokens (or max_completion_tokens) as the client gave it; null when it gave none. */
  maxTokens: number | null;
}

/** An OpenAI-format error: HTTP status, type and code. */
export interface ApiError {
  status: number;
  type: string;
  code: string;
  message: string;
}

/** The error body OpenAI's clients read. */
export function errorBody(e: ApiError): { error: { message: string; type: string; code: string } } {
  return { error: { message: e.message, type: e.type, code: e.code } };
}

const invalid = (message: string, code = 'invalid_request'): ApiError => ({
  status: 400,
  type: 'invalid_request_error',
  code,
  message,
});

const MAX_TEXT = 4 * 1024 * 1024;

/** A prompt or input: a string, or a list with something in it. */
const nonEmpty = (v: unknown) => typeof v === 'string' || (Array.isArray(v) && v.length > 0);

/** A non-negative integer field, null when absent; an ApiError when present and not one. */
function countField(body: Record<string, unknown>, name: string): number | null | ApiError {
  const v = body[name];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1 || v > 1_000_000)
    return invalid(`${name} must be an integer from 1 to 1000000`, 'invalid_value');
  return v;
}

/** Reads a parsed request body for `endpoint`; an ApiError (400) when it is not a request the endpoint takes. */
export function readInferRequest(endpoint: string, parsed: unknown): InferRequest | ApiError {
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    return invalid('the request body must be a JSON object');
  const body = parsed as Record<string, unknown>;
  const shaped =
    endpoint === 'chat.completions'
      ? Array.isArray(body.messages) && body.messages.length > 0
      : nonEmpty(endpoint === 'embeddings' ? body.input : body.prompt);
  const prompt = shaped ? promptText(endpoint, body) : null;
  if (prompt === null)
    return invalid(
      endpoint === 'chat.completions'
        ? 'messages must be a non-empty list of {role, content}'
        : `${endpoint === 'embeddings' ? 'input' : 'prompt'} must be a string or a non-empty list of strings`,
    );
  if (prompt.length > MAX_TEXT) return invalid('the prompt is too long');
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean')
    return invalid('stream must be true or false', 'invalid_value');
  const stream = endpoint !== 'embeddings' && body.stream === true;
  const opts = body.stream_options;
  if (opts !== undefined && opts !== null && (typeof opts !== 'object' || Array.isArray(opts)))
    return invalid('stream_options must be an object', 'invalid_value');
  const includeUsage = stream && (opts as Record<string, unknown> | null | undefined)?.include_usage === true;
  const max = countField(body, 'max_tokens');
  if (typeof max === 'object' && max !== null) return max;
  const maxCompletion = countField(body, 'max_completion_tokens');
  if (typeof maxCompletion === 'object' && maxCompletion !== null) return maxCompletion;
  const n = body.n;
  if (n !== undefined && n !== null && n !== 1) return invalid('n must be 1 through the gateway', 'invalid_value');
  return { endpoint, body, prompt, stream, includeUsage, maxTokens: max ?? maxCompletion };
}

/** "sha256:<hex>" of a text's UTF-8 bytes. */
export function textDigest(text: string): string {
  return `sha256:${createHash('sha256').update(text, 'utf8').digest('hex')}`;
}

/** The text of a non-streamed answer: each choice's message content or text, joined by blank lines; embeddings: "". */
export function answerText(endpoint: string, answer: unknown): string | null {
  if (endpoint === 'embeddings') return null;
  const choices = (answer as { choices?: unknown } | null)?.choices;
  if (!Array.isArray(choices)) return null;
  return choices
    .map((c: unknown) => {
      const o = (c ?? {}) as { message?: { content?: unknown }; text?: unknown };
      const t = endpoint === 'chat.completions' ? o.message?.content : o.text;
      return typeof t === 'string' ? t : '';
    })
    .join('\n\n');
}

/** The text a streamed chunk adds (its first choice's delta content or text); "" when none. */
export function chunkText(endpoint: string, chunk: unknown): string {
  const choices = (chunk as { choices?: unknown } | null)?.choices;
  if (!Array.isArray(choices) || choices.length === 0) return '';
  const c = (choices[0] ?? {}) as { delta?: { content?: unknown; reasoning_content?: unknown }; text?: unknown };
  const t = endpoint === 'chat.completions' ? c.delta?.content : c.text;
  return typeof t === 'string' ? t : '';
}

/** The usage an answer or chunk reports, when it reports one that reads as counts. */
export function usageOf(v: unknown): TokenCount | null {
  return tokensFromUsage((v as { usage?: unknown } | null)?.usage);
}
