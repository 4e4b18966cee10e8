/**
 * What a Hugging Face config.json says about a model: the architecture fields a datasheet names,
 * and the parameter count they imply for the common decoder-only families, to compare with the
 * count read from the weights.
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { checkpointInvalid } from './weights.js';

/** The config.json fields a classification records (those present are kept, others dropped). */
export const ARCHITECTURE_FIELDS = [
  'model_type',
  'architectures',
  'hidden_size',
  'num_hidden_layers',
  'num_attention_heads',
  'num_key_value_heads',
  'head_dim',
  'intermediate_size',
  'vocab_size',
  'tie_word_embeddings',
  'max_position_embeddings',
  'attention_bias',
  'mlp_bias',
  'torch_dtype',
  // gpt2-style names
  'n_embd',
  'n_layer',
  'n_head',
  'n_inner',
  'n_positions',
] as const;

/** Reads config.json at `path`, or null when it does not exist; unreadable or not an object → CHECKPOINT_INVALID. */
export async function readConfig(path: string): Promise<Record<string, unknown> | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw checkpointInvalid(`cannot read ${basename(path)}: ${(cause as Error).message}`, cause, {
      file: basename(path),
    });
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (cause) {
    throw checkpointInvalid(
      `${basename(path)} is not JSON (${(cause as Error).message}): fix or re-download it`,
      cause,
      {
        file: basename(path),
      },
    );
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw checkpointInvalid(`${basename(path)} is not a JSON object: fix or re-download it`, undefined, {
      file: basename(path),
    });
  return v as Record<string, unknown>;
}

/** The architecture fields of a config (in {@link ARCHITECTURE_FIELDS} order). */
export function architectureOf(config: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of ARCHITECTURE_FIELDS) if (config[k] !== undefined) out[k] = config[k];
  return out;
}

/** Families laid out as llama: embeddings, per layer q/k/v/o (GQA) + gate/up/down + two norms, final norm, lm_head. */
const LLAMA_LIKE = new Set(['llama', 'mistral', 'qwen2', 'qwen3']);

const int = (v: unknown): number | null => (typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : null);

/**
 * The parameter count a config implies for llama/mistral/qwen2/qwen3-style and gpt2-style models,
 * or null for other families or when a field it needs is missing.
 */
export function configParameters(config: Record<string, unknown>): number | null {
  const type = config.model_type;
  if (typeof type !== 'string') return null;
  if (LLAMA_LIKE.has(type)) return llamaLike(config, type);
  if (type === 'gpt2') return gpt2(config);
  return null;
}

function llamaLike(c: Record<string, unknown>, type: string): number | null {
  const h = int(c.hidden_size);
  const layers = int(c.num_hidden_layers);
  const heads = int(c.num_attention_heads);
  const ffn = int(c.intermediate_size);
  const vocab = int(c.vocab_size);
  if (h === null || layers === null || heads === null || ffn === null || vocab === null) return null;
  const kvHeads = int(c.num_key_value_heads) ?? heads;
  const headDim = int(c.head_dim) ?? h / heads;
  if (!Number.isInteger(headDim)) return null;
  const q = heads * headDim;
  const kv = kvHeads * headDim;
  // qwen2 always has q/k/v biases; llama and mistral when attention_bias is set.
  const qkvBias = type === 'qwen2' || c.attention_bias === true ? q + 2 * kv : 0;
  const oBias = type !== 'qwen2' && c.attention_bias === true ? h : 0;
  const mlpBias = c.mlp_bias === true ? 2 * ffn + h : 0;
  const qkNorm = type === 'qwen3' ? 2 * headDim : 0;
  const attention = h * q + 2 * h * kv + q * h + qkvBias + oBias + qkNorm;
  const layer = attention + 3 * h * ffn + mlpBias + 2 * h;
  // These families' configs default tie_word_embeddings to false (transformers' LlamaConfig, Qwen2Config, …).
  const tied = c.tie_word_embeddings === true;
  return vocab * h + layers * layer + h + (tied ? 0 : vocab * h);
}

function gpt2(c: Record<string, unknown>): number | null {
  const n = int(c.n_embd);
  const layers = int(c.n_layer);
  const positions = int(c.n_positions);
  const vocab = int(c.vocab_size);
  if (n === null || layers === null || positions === null || vocab === null) return null;
  const inner = int(c.n_inner) ?? 4 * n;
  // ln_1, c_attn (+bias), attn c_proj (+bias), ln_2, mlp c_fc (+bias), mlp c_proj (+bias)
  const layer = 2 * n + (n * 3 * n + 3 * n) + (n * n + n) + 2 * n + (n * inner + inner) + (inner * n + n);
  // wte, wpe, layers, ln_f; lm_head is tied to wte in every gpt2 checkpoint
  return vocab * n + positions * n + layers * layer + 2 * n;
}
