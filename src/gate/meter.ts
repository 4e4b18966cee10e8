/**
 * Metering an inference call (docs/GATE.md, "Quotas and metering"): tokens from the model server's
 * OpenAI `usage` object where it sends one, else an estimate; compute as 2 × parameters × tokens
 * (the forward pass of a dense transformer, Kaplan et al. 2020, arXiv 2001.08361 §2.1), in bigint.
 *
 * The estimate, where no usage comes back: ceil(UTF-8 bytes / 4) tokens per text (BPE tokenizers
 * of English average about four bytes per token), plus for chat 4 tokens per message (role and
 * separators) and 3 for the reply's priming; a prompt given as token ids counts exactly. It is an
 * estimate, marked as one (`estimated` in the settle entry), and errs high on code and non-Latin text.
 */
import type { QuotaAmount } from './types.js';

/** Tokens of a call: the prompt's and the completion's. */
export interface TokenCount {
  prompt: number;
  completion: number;
}

/** Chat overhead of the estimate: per message, and for the reply's priming. */
export const CHAT_MESSAGE_TOKENS = 4;
export const CHAT_REPLY_TOKENS = 3;

const count = (v: unknown): number | null => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : null);

/** The tokens of an OpenAI `usage` object (chat, completions, embeddings); null when it is not one. */
export function tokensFromUsage(usage: unknown): TokenCount | null {
  if (typeof usage !== 'object' || usage === null) return null;
  const u = usage as Record<string, unknown>;
  const prompt = count(u.prompt_tokens);
  if (prompt === null) return null;
  const completion = u.completion_tokens === undefined ? 0 : count(u.completion_tokens);
  return completion === null ? null : { prompt, completion };
}

/** The estimated tokens of a text: ceil(UTF-8 bytes / 4). */
export function estimateTextTokens(text: string): number {
  return Math.ceil(Buffer.byteLength(text, 'utf8') / 4);
}

/** The text of chat message content: a string, or an array of parts whose `text` parts count. */
function contentTokens(content: unknown): number {
  if (typeof content === 'string') return estimateTextTokens(content);
  if (!Array.isArray(content)) return 0;
  let n = 0;
  for (const part of content as unknown[])
    if (typeof part === 'object' && part !== null && typeof (part as { text?: unknown }).text === 'string')
      n += estimateTextTokens((part as { text: string }).text);
  return n;
}

/** A completions prompt or embeddings input: text, texts, token ids, or lists of token ids (counted exactly). */
function inputTokens(input: unknown): number {
  if (typeof input === 'string') return estimateTextTokens(input);
  if (!Array.isArray(input)) return 0;
  if (input.every((x) => typeof x === 'number')) return input.length;
  return input.reduce<number>((n, x) => n + inputTokens(x), 0);
}

/** The OpenAI endpoints the gateway meters, as the log names them. */
export type InferEndpoint = 'chat.completions' | 'completions' | 'embeddings';

/** The estimated prompt tokens of a request body (already parsed JSON) to `endpoint`. */
export function estimatePromptTokens(endpoint: InferEndpoint, body: unknown): number {
  const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  if (endpoint === 'chat.completions') {
    const messages = Array.isArray(b.messages) ? (b.messages as unknown[]) : [];
    let n = CHAT_REPLY_TOKENS;
    for (const m of messages) {
      const msg = (typeof m === 'object' && m !== null ? m : {}) as Record<string, unknown>;
      n += CHAT_MESSAGE_TOKENS + contentTokens(msg.content);
    }
    return n;
  }
  return inputTokens(endpoint === 'completions' ? b.prompt : b.input);
}

/**
 * The completion tokens a request may use at most: `max_completion_tokens`, else `max_tokens`, else
 * `defaultMaxTokens`, times the choices asked for (`n`, `best_of`); 0 for embeddings.
 */
export function maxCompletionTokens(endpoint: InferEndpoint, body: unknown, defaultMaxTokens: number): number {
  if (endpoint === 'embeddings') return 0;
  const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const max = count(b.max_completion_tokens) ?? count(b.max_tokens) ?? defaultMaxTokens;
  const choices = Math.max(count(b.n) ?? 1, count(b.best_of) ?? 1, 1);
  return max * choices;
}

/** 2 × parameters × tokens, the FLOPs of a dense forward pass over `tokens` tokens. */
export function inferenceFlops(parameters: bigint, tokens: number): bigint {
  return 2n * parameters * BigInt(tokens);
}

/** One request's amount of use for quotas: 1 request, `tokens`, and their FLOPs on a model of `parameters`. */
export function meteredAmount(parameters: bigint, tokens: number): QuotaAmount {
  return { requests: 1, tokens, flops: inferenceFlops(parameters, tokens) };
}

/** What to reserve at admission: the prompt's estimated tokens plus the most the completion may use. */
export function reservationFor(
  endpoint: InferEndpoint,
  body: unknown,
  parameters: bigint,
  defaultMaxTokens: number,
): QuotaAmount {
  const tokens = estimatePromptTokens(endpoint, body) + maxCompletionTokens(endpoint, body, defaultMaxTokens);
  return meteredAmount(parameters, tokens);
}
