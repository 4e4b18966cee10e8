/**
 * classify from headers alone (issue 20, "modelseal classify"): exact parameters per dtype on real
 * checkpoint layouts written by the reference libraries (single file, sharded, tied embeddings,
 * GGUF quantized) and the repo's sample; the count config.json implies; declared or 6ND compute;
 * a typed CHECKPOINT_INVALID for every kind of bad input; a sealed package's record.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { classify, classifyPath, decimalInteger, encodeSafetensorsHeader, seal } from '../../src/index.js';
import { recordOfHeader } from '../../src/compliance/classify/package.js';
import { configParameters } from '../../src/compliance/classify/config.js';
import type { Header } from '../../src/format/header.js';
import { writeShardedIndex } from '../../bench/classify-data.mjs';
import { makeKeys, tempDir } from '../support/fixtures.js';
import {
  decoderTensors,
  requirePythonPeers,
  smallRecord,
  TINY_LLAMA,
  writeGgufFile,
  writeHfFolder,
  writeSafetensors,
} from '../support/classify.js';

const dir = tempDir('modelseal-classify-');
// TINY_LLAMA by hand: embed 100·32 = 3200; per layer q 32·32 + k 16·32 + v 16·32 + o 32·32 = 3072,
// MLP 3·32·64 = 6144, norms 2·32 = 64 → 9280, two layers 18560; final norm 32; lm_head 3200.
const LLAMA_PARAMS = 3200 + 18560 + 32 + 3200;
const QWEN2_TIED = {
  ...TINY_LLAMA,
  model_type: 'qwen2',
  architectures: ['Qwen2ForCausalLM'],
  tie_word_embeddings: true,
};
// qwen2 adds q/k/v biases (32 + 16 + 16 per layer) and, tied, stores no lm_head.
const QWEN2_TIED_PARAMS = LLAMA_PARAMS + 2 * 64 - 3200;

async function invalid(path: string): Promise<{ code: string; message: string }> {
  const e = await classifyPath(path).then(
    () => expect.unreachable(`${path} classified`),
    (x: unknown) => x as { code: string; message: string },
  );
  return e;
}

/** Seals `input` to a local key as this branch's seal does: without a classification record. */
async function sealedWithoutRecord(input: string, output: string): Promise<string> {
  const keys = makeKeys();
  await seal({ input, output, recipients: [keys.local], publisher: keys.publisher });
  return output;
}

beforeAll(() => requirePythonPeers());

describe('exact parameters from headers', () => {
  it('the repo sample: 876,864 parameters in 21 tensors, per dtype, and config.json implies the same', async () => {
    const c = await classify('samples/checkpoint');
    expect(c.record.facts).toMatchObject({
      parameters: 876_864,
      tensors: 21,
      dtypes: { BF16: 819_200, F16: 24_576, F32: 33_088 },
      format: 'safetensors',
      configParameters: 876_864,
      weights: 'unknown',
      trainingCompute: null,
    });
    expect(c.record.facts.architecture).toMatchObject({
      model_type: 'llama',
      architectures: ['LlamaForCausalLM'],
      num_key_value_heads: 2,
      tie_word_embeddings: false,
    });
    expect(c.record.facts.architecture).not.toHaveProperty('rope_theta');
    expect(c.configMismatch).toBeNull();
    expect(c.source).toMatchObject({ kind: 'checkpoint', files: ['model.safetensors'], config: true, index: false });
  });

  it('a llama folder written by the reference safetensors, one file and three shards with their index', async () => {
    const tensors = decoderTensors(TINY_LLAMA);
    writeHfFolder(join(dir, 'llama'), TINY_LLAMA, tensors);
    const { files } = writeHfFolder(join(dir, 'llama-sharded'), TINY_LLAMA, tensors, 3);
    for (const path of [join(dir, 'llama'), join(dir, 'llama-sharded')]) {
      const c = await classify(path);
      expect(c.record.facts).toMatchObject({
        parameters: LLAMA_PARAMS,
        tensors: tensors.length,
        configParameters: LLAMA_PARAMS,
        dtypes: { F16: LLAMA_PARAMS - 5 * 32, F32: 5 * 32 },
      });
      expect(c.configMismatch).toBeNull();
    }
    const sharded = await classify(join(dir, 'llama-sharded'));
    expect(sharded.source).toMatchObject({ index: true, files });
    // One .safetensors on its own: no config.json is looked for beside it.
    const single = await classify(join(dir, 'llama', 'model.safetensors'));
    expect(single.record.facts).toMatchObject({ parameters: LLAMA_PARAMS, architecture: null, configParameters: null });
  });

  it('tied embeddings: qwen2 stores no lm_head, the count is what is stored, and config.json agrees', async () => {
    const tensors = decoderTensors(QWEN2_TIED);
    expect(tensors.some((t) => t.name === 'lm_head.weight')).toBe(false);
    writeHfFolder(join(dir, 'qwen2'), QWEN2_TIED, tensors, 2);
    const c = await classify(join(dir, 'qwen2'));
    expect(c.record.facts.parameters).toBe(QWEN2_TIED_PARAMS);
    expect(c.record.facts.configParameters).toBe(QWEN2_TIED_PARAMS);
    expect(c.configMismatch).toBeNull();
  });

  it('a config.json that disagrees with the weights is flagged, and the weights win', async () => {
    const mistral = {
      ...TINY_LLAMA,
      model_type: 'mistral',
      architectures: ['MistralForCausalLM'],
      sliding_window: 4096,
    };
    writeHfFolder(join(dir, 'mistral-odd'), { ...mistral, num_hidden_layers: 3 }, decoderTensors(mistral));
    const c = await classify(join(dir, 'mistral-odd'));
    expect(c.record.facts.parameters).toBe(LLAMA_PARAMS);
    expect(c.record.facts.configParameters).toBe(LLAMA_PARAMS + 9280);
    expect(c.configMismatch).toMatchObject({ difference: -9280, parameters: LLAMA_PARAMS });
    expect(c.configMismatch!.message).toMatch(/config\.json implies 34272 parameters but the weights hold 24992/);
  });

  it('the count config.json implies for real-shaped configs (Llama-3-8B, Mistral-7B, Qwen2-0.5B, GPT-2)', () => {
    const llama3 = {
      model_type: 'llama',
      hidden_size: 4096,
      intermediate_size: 14336,
      num_hidden_layers: 32,
      num_attention_heads: 32,
      num_key_value_heads: 8,
      vocab_size: 128256,
      tie_word_embeddings: false,
    };
    // Published sizes: Meta-Llama-3-8B 8,030,261,248; Mistral-7B-v0.1 7,241,732,096; Qwen2-0.5B 494,032,768;
    // gpt2 124,439,808.
    expect(configParameters(llama3)).toBe(8_030_261_248);
    expect(configParameters({ ...llama3, model_type: 'mistral', vocab_size: 32000 })).toBe(7_241_732_096);
    const qwen2 = {
      model_type: 'qwen2',
      hidden_size: 896,
      intermediate_size: 4864,
      num_hidden_layers: 24,
      num_attention_heads: 14,
      num_key_value_heads: 2,
      vocab_size: 151936,
      tie_word_embeddings: true,
    };
    expect(configParameters(qwen2)).toBe(494_032_768);
    const gpt2 = { model_type: 'gpt2', n_embd: 768, n_layer: 12, n_head: 12, n_positions: 1024, vocab_size: 50257 };
    expect(configParameters(gpt2)).toBe(124_439_808);
    expect(configParameters({ model_type: 'bert', hidden_size: 768 })).toBeNull();
    expect(configParameters({ ...llama3, vocab_size: undefined })).toBeNull();
  });

  it('GGUF: quantized tensors count their elements, not their bytes (Q4_K, Q8_0, F32)', async () => {
    const path = join(dir, 'tiny.Q4_K_M.gguf');
    writeGgufFile(
      path,
      [
        { name: 'token_embd.weight', shape: [100, 256], dtype: 'Q4_K' },
        { name: 'blk.0.attn_q.weight', shape: [256, 256], dtype: 'Q8_0' },
        { name: 'blk.0.ffn_up.weight', shape: [512, 256], dtype: 'Q4_K' },
        { name: 'blk.0.attn_norm.weight', shape: [256], dtype: 'F32' },
      ],
      {
        'general.name': 'Tiny',
        'llama.embedding_length': 256,
        'llama.block_count': 1,
        'llama.attention.head_count': 4,
        'llama.attention.head_count_kv': 2,
        'llama.feed_forward_length': 512,
        'llama.context_length': 2048,
      },
    );
    const c = await classify(path);
    expect(c.record.facts).toMatchObject({
      format: 'gguf',
      tensors: 4,
      parameters: 100 * 256 + 256 * 256 + 512 * 256 + 256,
      dtypes: { Q4_K: 100 * 256 + 512 * 256, Q8_0: 256 * 256, F32: 256 },
      configParameters: null,
    });
    // No config.json: the architecture the GGUF metadata states, under config.json's names.
    expect(c.record.facts.architecture).toEqual({
      model_type: 'llama',
      name: 'Tiny',
      hidden_size: 256,
      num_hidden_layers: 1,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      intermediate_size: 512,
      max_position_embeddings: 2048,
    });
    // A folder holding just that file classifies the same.
    mkdirSync(join(dir, 'gguf-folder'));
    copyFileSync(path, join(dir, 'gguf-folder', 'model.gguf'));
    expect((await classify(join(dir, 'gguf-folder'))).record.facts.parameters).toBe(c.record.facts.parameters);
  });

  it('a 400 GB sharded checkpoint (sparse files): counted from the headers, no weight byte read', async () => {
    const folder = join(dir, 'sparse');
    mkdirSync(folder);
    const shape = [100_000, 1_000_000]; // 10^11 BF16 elements: 200 GB a shard
    const weightMap: Record<string, string> = {};
    for (const i of [1, 2]) {
      const file = `model-0000${i}-of-00002.safetensors`;
      const bytes = 2 * shape[0]! * shape[1]!;
      const header = encodeSafetensorsHeader({}, [{ name: `w${i}`, dtype: 'BF16', shape, begin: 0, end: bytes }]);
      writeFileSync(join(folder, file), header);
      truncateSync(join(folder, file), header.length + bytes); // a hole: reading it would take minutes
      weightMap[`w${i}`] = file;
    }
    writeFileSync(join(folder, 'model.safetensors.index.json'), JSON.stringify({ weight_map: weightMap }));
    const started = performance.now();
    const r = await classifyPath(folder);
    expect(r.facts).toMatchObject({ parameters: 2e11, tensors: 2, dtypes: { BF16: 2e11 } });
    expect(performance.now() - started).toBeLessThan(5_000); // reading 400 GB of zeros takes far longer
  });

  it('a 1,000-shard index: every tensor once, from the headers', async () => {
    const big = join(dir, 'thousand');
    mkdirSync(big);
    const expected = writeShardedIndex(big, 1000, encodeSafetensorsHeader);
    const c = await classify(big);
    expect(c.record.facts).toMatchObject({
      parameters: expected.parameters,
      tensors: expected.tensors,
      dtypes: { F16: expected.parameters },
    });
    expect(c.source).toMatchObject({ index: true });
    expect(c.source.kind === 'checkpoint' && c.source.files).toHaveLength(1000);
  });
});

describe('files named otherwise are told apart by their first bytes', () => {
  it('safetensors and GGUF without their extension; a package; anything else is INVALID_ARGUMENT', async () => {
    copyFileSync('samples/checkpoint/model.safetensors', join(dir, 'weights.bin'));
    expect((await classifyPath(join(dir, 'weights.bin'))).facts).toMatchObject({ format: 'safetensors', tensors: 21 });
    const gguf = join(dir, 'sniff.gguf');
    writeGgufFile(gguf, [{ name: 'token_embd.weight', shape: [4, 32], dtype: 'Q8_0' }]);
    copyFileSync(gguf, join(dir, 'gguf.bin'));
    expect((await classifyPath(join(dir, 'gguf.bin'))).facts).toMatchObject({ format: 'gguf', parameters: 128 });
    const pkg = await sealedWithoutRecord('samples/checkpoint/config.json', join(dir, 'package.bin'));
    expect(await invalid(pkg)).toMatchObject({ code: 'UNCLASSIFIED_PACKAGE' });
    writeFileSync(join(dir, 'notes.txt'), 'not weights at all, just some text that is long enough');
    expect(await invalid(join(dir, 'notes.txt'))).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(
        /expected a checkpoint folder, a \.safetensors or \.gguf file, or a \.mseal package/,
      ),
    });
  });
});

describe('training compute', () => {
  const sample = 'samples/checkpoint';
  it('declared FLOPs are kept exactly as an integer decimal string', async () => {
    const r = await classifyPath(sample, { trainingFlops: '2e26', weights: 'closed' });
    expect(r.facts.trainingCompute).toEqual({ flops: '2' + '0'.repeat(26), method: 'declared', tokens: null });
    expect(r.facts.weights).toBe('closed');
    const n = await classifyPath(sample, { trainingFlops: 2e26 });
    expect(n.facts.trainingCompute!.flops).toBe('2' + '0'.repeat(26));
  });

  it('--tokens D estimates 6·N·D with N the exact count', async () => {
    const r = await classifyPath(sample, { tokens: '15e12', weights: 'open' });
    expect(r.facts.trainingCompute).toEqual({
      flops: (6n * 876_864n * 15_000_000_000_000n).toString(),
      method: '6ND',
      tokens: '15000000000000',
    });
  });

  it('both is an INVALID_ARGUMENT; neither leaves it null', async () => {
    await expect(classifyPath(sample, { tokens: 1, trainingFlops: 1 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/either --training-flops .* or --tokens/),
    });
    expect((await classifyPath(sample)).facts.trainingCompute).toBeNull();
  });

  it('decimal strings: exponents and fractions that make whole numbers, nothing else', () => {
    expect(decimalInteger('1.5e25', 'x')).toBe('15' + '0'.repeat(24));
    expect(decimalInteger('210000000000000000000000000', 'x')).toBe('21' + '0'.repeat(25));
    expect(decimalInteger(1e9, 'x')).toBe('1000000000');
    for (const bad of ['1.5', '-3', '0', 'abc', '1e', '2e26.5', ''])
      expect(() => decimalInteger(bad, '--tokens')).toThrow(/--tokens: expected a positive whole number/);
  });
});

describe('bad input is a typed CHECKPOINT_INVALID naming the problem', () => {
  it('a truncated safetensors header', async () => {
    const p = join(dir, 'truncated.safetensors');
    copyFileSync('samples/checkpoint/model.safetensors', p);
    truncateSync(p, 100);
    expect(await invalid(p)).toMatchObject({
      code: 'CHECKPOINT_INVALID',
      message: expect.stringMatching(/truncated\.safetensors is not a readable safetensors file .*runs past the end/),
    });
  });

  it('a .gguf with the wrong magic', async () => {
    const p = join(dir, 'wrong.gguf');
    writeFileSync(p, Buffer.concat([Buffer.from('GGUX'), Buffer.alloc(60)]));
    expect(await invalid(p)).toMatchObject({
      code: 'CHECKPOINT_INVALID',
      message: expect.stringMatching(/wrong\.gguf is not a readable GGUF file .*does not start with "GGUF"/),
    });
  });

  it('a folder with no weights, and a weight file with no tensors', async () => {
    mkdirSync(join(dir, 'empty'));
    writeFileSync(join(dir, 'empty', 'config.json'), JSON.stringify(TINY_LLAMA));
    expect(await invalid(join(dir, 'empty'))).toMatchObject({
      code: 'CHECKPOINT_INVALID',
      message: expect.stringMatching(/holds no weights/),
    });
    const p = join(dir, 'none.safetensors');
    writeSafetensors(p, []);
    expect(await invalid(p)).toMatchObject({
      code: 'CHECKPOINT_INVALID',
      message: expect.stringMatching(/no tensors/),
    });
  });

  it('a weight file that is not a regular file (a fifo would block the reader)', async () => {
    const folder = join(dir, 'fifo');
    mkdirSync(folder);
    execFileSync('mkfifo', [join(folder, 'model.safetensors')]);
    expect(await invalid(folder)).toMatchObject({
      code: 'CHECKPOINT_INVALID',
      message: 'model.safetensors is not a regular file: weights are files',
    });
    expect(await invalid(join(folder, 'model.safetensors'))).toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('a shard the index names but is missing', async () => {
    const { files } = writeHfFolder(join(dir, 'missing'), TINY_LLAMA, decoderTensors(TINY_LLAMA), 3);
    rmSync(join(dir, 'missing', files[1]!));
    expect(await invalid(join(dir, 'missing'))).toMatchObject({
      code: 'CHECKPOINT_INVALID',
      message: expect.stringContaining(`names 1 shard(s) that are not in`),
    });
    expect((await invalid(join(dir, 'missing'))).message).toContain(files[1]!);
  });

  it('an index that maps a tensor to a shard that does not hold it', async () => {
    const folder = join(dir, 'wrong-map');
    writeHfFolder(folder, TINY_LLAMA, decoderTensors(TINY_LLAMA), 2);
    const indexPath = join(folder, 'model.safetensors.index.json');
    const index = JSON.parse(readFileSync(indexPath, 'utf8'));
    index.weight_map['model.norm.weight'] =
      index.weight_map['model.norm.weight'] === 'model-00001-of-00002.safetensors'
        ? 'model-00002-of-00002.safetensors'
        : 'model-00001-of-00002.safetensors';
    writeFileSync(indexPath, JSON.stringify(index));
    expect(await invalid(folder)).toMatchObject({
      code: 'CHECKPOINT_INVALID',
      message: expect.stringMatching(/maps model\.norm\.weight to .*but it is stored in/),
    });
    writeFileSync(indexPath, '{"weight_map": ');
    expect(await invalid(folder)).toMatchObject({
      code: 'CHECKPOINT_INVALID',
      message: expect.stringMatching(/cannot read model\.safetensors\.index\.json/),
    });
  });

  it('the same tensor in two files (no index) is an error naming it and both files', async () => {
    const folder = join(dir, 'dup');
    writeHfFolder(folder, TINY_LLAMA, decoderTensors(TINY_LLAMA));
    copyFileSync(join(folder, 'model.safetensors'), join(folder, 'consolidated.safetensors'));
    const e = await invalid(folder);
    expect(e.code).toBe('CHECKPOINT_INVALID');
    expect(e.message).toMatch(/tensor name\(s\) are stored in more than one shard: /);
    expect(e.message).toMatch(/^21 tensor name/);
    expect(e.message).toMatch(/model\.norm\.weight \(consolidated\.safetensors and model\.safetensors\), and 16 more/);
  });

  it('an unreadable config.json', async () => {
    const folder = join(dir, 'bad-config');
    writeHfFolder(folder, TINY_LLAMA, decoderTensors(TINY_LLAMA));
    writeFileSync(join(folder, 'config.json'), '{"model_type": "llama",');
    expect(await invalid(folder)).toMatchObject({
      code: 'CHECKPOINT_INVALID',
      message: expect.stringMatching(/config\.json is not JSON/),
    });
    writeFileSync(join(folder, 'config.json'), '[1, 2]');
    expect(await invalid(folder)).toMatchObject({ code: 'CHECKPOINT_INVALID', message: /not a JSON object/ });
  });
});

describe('a sealed package', () => {
  it('sealed without a record: UNCLASSIFIED_PACKAGE saying to classify the checkpoint', async () => {
    const pkg = await sealedWithoutRecord('samples/checkpoint', join(dir, 'sample.mseal'));
    expect(await invalid(pkg)).toMatchObject({
      code: 'UNCLASSIFIED_PACKAGE',
      message: expect.stringMatching(/sealed without a classification record: classify the checkpoint/),
    });
  });

  it('a header that carries a record gives it back as sealed', () => {
    const record = smallRecord();
    expect(recordOfHeader({ classification: record } as unknown as Header, 'x.mseal')).toBe(record);
  });
});
