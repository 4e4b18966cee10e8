/** Metering (src/gate/meter.ts): tokens from `usage`, the documented estimate, FLOPs in bigint. */
import { describe, expect, it } from 'vitest';
import {
  estimatePromptTokens,
  estimateTextTokens,
  inferenceFlops,
  maxCompletionTokens,
  reservationFor,
  tokensFromUsage,
} from '../../src/gate/meter.js';

describe('meter', () => {
  it('reads OpenAI usage objects of chat, completions and embeddings; refuses what is not one', () => {
    expect(tokensFromUsage({ prompt_tokens: 12, completion_tokens: 30, total_tokens: 42 })).toEqual({
      prompt: 12,
      completion: 30,
    });
    expect(tokensFromUsage({ prompt_tokens: 7, total_tokens: 7 })).toEqual({ prompt: 7, completion: 0 });
    expect(tokensFromUsage(null)).toBeNull();
    expect(tokensFromUsage({ prompt_tokens: -1, completion_tokens: 2 })).toBeNull();
    expect(tokensFromUsage({ prompt_tokens: 1, completion_tokens: 'two' })).toBeNull();
    expect(tokensFromUsage({ prompt_tokens: 1.5 })).toBeNull();
  });

  it('estimates ceil(UTF-8 bytes / 4), plus 4 per chat message and 3 for the reply', () => {
    expect(estimateTextTokens('')).toBe(0);
    expect(estimateTextTokens('abcde')).toBe(2);
    expect(estimateTextTokens('ééé')).toBe(2); // 6 bytes
    const chat = {
      messages: [
        { role: 'system', content: 'abcd' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'abcdefgh' },
            { type: 'image_url', image_url: {} },
          ],
        },
      ],
    };
    expect(estimatePromptTokens('chat.completions', chat)).toBe(3 + (4 + 1) + (4 + 2));
    expect(estimatePromptTokens('completions', { prompt: ['abcd', 'abcdefgh'] })).toBe(3);
    expect(estimatePromptTokens('completions', { prompt: [1, 2, 3, 4, 5] })).toBe(5); // token ids: exact
    expect(estimatePromptTokens('embeddings', { input: [[1, 2], [3]] })).toBe(3);
    expect(estimatePromptTokens('chat.completions', 'not an object')).toBe(3);
  });

  it('reserves max_completion_tokens, max_tokens or the default, times the choices; FLOPs = 2 × P × tokens', () => {
    expect(maxCompletionTokens('chat.completions', { max_tokens: 50 }, 1000)).toBe(50);
    expect(maxCompletionTokens('chat.completions', { max_completion_tokens: 20, max_tokens: 50 }, 1000)).toBe(20);
    expect(maxCompletionTokens('completions', { n: 3 }, 100)).toBe(300);
    expect(maxCompletionTokens('embeddings', { max_tokens: 5 }, 100)).toBe(0);
    const p = 70_000_000_000n;
    expect(inferenceFlops(p, 1_000_000)).toBe(140_000_000_000_000_000n); // beyond 2^53, exact
    const r = reservationFor('completions', { prompt: 'abcdefgh', max_tokens: 10 }, p, 100);
    expect(r).toEqual({ requests: 1, tokens: 12, flops: 2n * p * 12n });
  });
});
