/**
 * Checkpoints for the classify tests, written by the reference libraries in the test venv
 * (`safetensors` and `gguf`): Hugging Face folders with real-shaped config.json files, sharded or
 * not, and GGUF files with quantized tensors. Tensor data is zeros: classification reads headers.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClassificationRecord, ModelFacts } from '../../src/format/classification.js';
import { PYTHON } from './gguf.js';

/** One tensor to write: its name, row-major shape and dtype (safetensors or ggml name). */
export interface TensorSpec {
  name: string;
  shape: number[];
  dtype: string;
}

/** Fails (never skips) when the Python peers are not installed. */
export function requirePythonPeers(): void {
  if (!existsSync(PYTHON))
    throw new Error(`${PYTHON} does not exist: run \`bash test/peers/setup.sh\` to install the Python peers`);
  const r = spawnSync(PYTHON, ['-c', 'import gguf, numpy, safetensors'], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0)
    throw new Error(
      `the venv at ${PYTHON} cannot import gguf/safetensors: run \`bash test/peers/setup.sh\`\n${r.stderr}`,
    );
}

const WRITE = String.raw`
import json, sys
import numpy as np
req = json.load(sys.stdin)
NP = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32, "U8": np.uint8}
if req["kind"] == "safetensors":
    from safetensors.numpy import save_file
    for f in req["files"]:
        tensors = {t["name"]: np.zeros(t["shape"], dtype=NP[t["dtype"]]) for t in f["tensors"]}
        save_file(tensors, f["out"], metadata={"format": "pt"})
else:
    import gguf
    w = gguf.GGUFWriter(req["out"], req.get("arch", "llama"))
    for k, v in req.get("kv", {}).items():
        w.add_string(k, v) if isinstance(v, str) else w.add_uint32(k, v)
    for t in req["tensors"]:
        if t["dtype"] in ("F32", "F16"):
            w.add_tensor(t["name"], np.zeros(t["shape"], dtype=NP[t["dtype"]]))
        else:
            qt = gguf.GGMLQuantizationType[t["dtype"]]
            block, size = gguf.GGML_QUANT_SIZES[qt]
            *outer, inner = t["shape"]
            w.add_tensor(t["name"], np.zeros((*outer, inner // block * size), dtype=np.uint8), raw_dtype=qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
`;

function python(request: object): void {
  const r = spawnSync(PYTHON, ['-c', WRITE], { input: JSON.stringify(request), encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`the reference writer failed: ${r.stderr}`);
}

/** Writes `tensors` as one .safetensors file with the reference `safetensors` package. */
export function writeSafetensors(out: string, tensors: readonly TensorSpec[]): void {
  python({ kind: 'safetensors', files: [{ out, tensors }] });
}

/**
 * Writes `tensors` as one GGUF file with the reference `gguf` package (quantized types as zero
 * blocks), architecture llama, and the metadata `kv` (strings, or integers as UINT32).
 */
export function writeGgufFile(
  out: string,
  tensors: readonly TensorSpec[],
  kv: Readonly<Record<string, string | number>> = {},
): void {
  python({ kind: 'gguf', out, tensors, kv });
}

/**
 * Writes a Hugging Face folder: config.json, and the tensors in `shards` files (one: model.safetensors;
 * more: model-0000i-of-0000n.safetensors and model.safetensors.index.json, as transformers names them).
 */
export function writeHfFolder(
  dir: string,
  config: object | null,
  tensors: readonly TensorSpec[],
  shards = 1,
): { files: string[] } {
  mkdirSync(dir, { recursive: true });
  if (config !== null) writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  const pad = (i: number) => String(i).padStart(5, '0');
  const names =
    shards === 1
      ? ['model.safetensors']
      : Array.from({ length: shards }, (_, i) => `model-${pad(i + 1)}-of-${pad(shards)}.safetensors`);
  const files = names.map((name, i) => ({
    out: join(dir, name),
    tensors: tensors.filter((_, j) => j % shards === i),
  }));
  python({ kind: 'safetensors', files });
  if (shards > 1) {
    const weightMap = Object.fromEntries(files.flatMap((f, i) => f.tensors.map((t) => [t.name, names[i]])));
    writeFileSync(
      join(dir, 'model.safetensors.index.json'),
      JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }, null, 2),
    );
  }
  return { files: names };
}

/** A tiny llama-shaped config: hidden 32, 2 layers, 4 heads (head_dim 8), 2 KV heads, MLP 64, vocab 100. */
export const TINY_LLAMA = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  hidden_size: 32,
  intermediate_size: 64,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  vocab_size: 100,
  max_position_embeddings: 256,
  rms_norm_eps: 1e-5,
  rope_theta: 10000.0,
  tie_word_embeddings: false,
  torch_dtype: 'float16',
  attention_bias: false,
  mlp_bias: false,
};

/**
 * The tensors transformers stores for a llama/mistral/qwen2 config (HF names): embeddings, per layer
 * q/k/v/o (q/k/v biases for qwen2) + gate/up/down + 2 norms, final norm, lm_head unless tied.
 */
export function decoderTensors(c: typeof TINY_LLAMA, dtype = 'F16'): TensorSpec[] {
  const h = c.hidden_size;
  const d = h / c.num_attention_heads;
  const kv = c.num_key_value_heads * d;
  const bias = c.model_type === 'qwen2';
  const t: TensorSpec[] = [{ name: 'model.embed_tokens.weight', shape: [c.vocab_size, h], dtype }];
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const p = `model.layers.${l}`;
    t.push(
      { name: `${p}.self_attn.q_proj.weight`, shape: [h, h], dtype },
      { name: `${p}.self_attn.k_proj.weight`, shape: [kv, h], dtype },
      { name: `${p}.self_attn.v_proj.weight`, shape: [kv, h], dtype },
      { name: `${p}.self_attn.o_proj.weight`, shape: [h, h], dtype },
      ...(bias
        ? [
            { name: `${p}.self_attn.q_proj.bias`, shape: [h], dtype },
            { name: `${p}.self_attn.k_proj.bias`, shape: [kv], dtype },
            { name: `${p}.self_attn.v_proj.bias`, shape: [kv], dtype },
          ]
        : []),
      { name: `${p}.mlp.gate_proj.weight`, shape: [c.intermediate_size, h], dtype },
      { name: `${p}.mlp.up_proj.weight`, shape: [c.intermediate_size, h], dtype },
      { name: `${p}.mlp.down_proj.weight`, shape: [h, c.intermediate_size], dtype },
      { name: `${p}.input_layernorm.weight`, shape: [h], dtype: 'F32' },
      { name: `${p}.post_attention_layernorm.weight`, shape: [h], dtype: 'F32' },
    );
  }
  t.push({ name: 'model.norm.weight', shape: [h], dtype: 'F32' });
  if (!c.tie_word_embeddings) t.push({ name: 'lm_head.weight', shape: [c.vocab_size, h], dtype });
  return t;
}

/** A small record as `seal` would bind it: 7 F32 parameters, open weights, no determinations. */
export function smallRecord(facts: Partial<ModelFacts> = {}): ClassificationRecord {
  return {
    v: 1,
    time: '2025-02-01T00:00:00Z',
    facts: {
      parameters: 7,
      tensors: 1,
      dtypes: { F32: 7 },
      format: 'safetensors',
      architecture: null,
      configParameters: null,
      trainingCompute: null,
      weights: 'open',
      ...facts,
    },
    destination: null,
    rulePacks: [],
    determinations: [],
  };
}
