#!/usr/bin/env node
// Writes a tiny, real-shaped Hugging Face checkpoint (a 2-layer Llama-style model) that is
// byte-for-byte deterministic: the same bytes on every machine, every run, every Node version.
//
//   node samples/make-sample.mjs [outDir]      (default: samples/checkpoint next to this script)
//
// Determinism rules followed here:
//   * no Math.random, no dates, no environment input;
//   * the PRNG (mulberry32) uses only 32-bit integer operations;
//   * the normal deviates (polar Box-Muller) use only +, -, *, / and Math.sqrt, which IEEE 754
//     rounds exactly; the logarithm is computed here rather than with Math.log, whose last bit
//     is not specified by ECMAScript;
//   * float16 / bfloat16 are rounded from the double value directly (round to nearest, ties to
//     even), float32 through DataView.setFloat32 (also round to nearest even, per ECMAScript);
//   * all multi-byte values are written little-endian through DataView, whatever the host.
//
// No dependencies. The functions are exported so tests can recompute the expected values.

import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Base seed of the sample; each tensor's stream is derived from it and the tensor's name. */
export const SAMPLE_SEED = 0x5eed_5a1e;

// ---------------------------------------------------------------------------------------------
// Deterministic randomness

/** mulberry32: a tiny 32-bit PRNG. Returns a function giving uint32 values. */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return function next() {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** Uniform double in [0, 1) with 53 random bits, from two uint32 draws. */
function uniform53(next) {
  const hi = next() >>> 5; // 27 bits
  const lo = next() >>> 6; // 26 bits
  return (hi * 67108864 + lo) / 9007199254740992;
}

/** FNV-1a (32-bit) of a string's UTF-16 code units, used to give each tensor its own stream. */
export function fnv1a32(text) {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

const LN2 = 0.6931471805599453;
const SQRT2 = 1.4142135623730951;

/**
 * Natural logarithm for 0 < x < 2^53 using only exactly-rounded arithmetic, so its result is the
 * same on every engine. x = m * 2^e with m in [sqrt(1/2), sqrt(2)); ln m = 2 atanh((m-1)/(m+1)).
 */
export function ln(x) {
  if (!(x > 0) || !Number.isFinite(x)) throw new RangeError(`ln: ${x} is out of range`);
  let m = x;
  let e = 0;
  while (m < 1) { m *= 2; e--; } // exact: multiplying by 2
  while (m >= 2) { m /= 2; e++; }
  if (m > SQRT2) { m /= 2; e++; }
  const t = (m - 1) / (m + 1); // |t| <= 0.1716
  const t2 = t * t;
  let sum = 0;
  // Horner over 1/(2k+1), k = 15..0: truncation error below 0.1716^33 / 33, far under 1 ulp.
  for (let k = 15; k >= 0; k--) sum = sum * t2 + 1 / (2 * k + 1);
  return e * LN2 + 2 * t * sum;
}

/** A source of standard normal deviates (polar form of the Box-Muller transform). */
export function normalStream(seed) {
  const next = mulberry32(seed);
  let spare = null;
  return function normal() {
    if (spare !== null) {
      const v = spare;
      spare = null;
      return v;
    }
    let u;
    let v;
    let s;
    do {
      u = 2 * uniform53(next) - 1;
      v = 2 * uniform53(next) - 1;
      s = u * u + v * v;
    } while (s >= 1 || s === 0);
    const f = Math.sqrt((-2 * ln(s)) / s);
    spare = v * f;
    return u * f;
  };
}

// ---------------------------------------------------------------------------------------------
// IEEE 754 half precision and bfloat16, rounded directly from a double (ties to even)

const scratch = new DataView(new ArrayBuffer(8));

/** 2^k as an exact double, for -1022 <= k <= 1023. */
function pow2(k) {
  scratch.setUint32(0, (k + 1023) << 20);
  scratch.setUint32(4, 0);
  return scratch.getFloat64(0);
}

/** floor(log2(a)) for a positive normal double; -1023 for subnormal doubles. */
function exponentOf(a) {
  scratch.setFloat64(0, a);
  return ((scratch.getUint32(0) >>> 20) & 0x7ff) - 1023;
}

/** Round a non-negative double below 2^52 to an integer, ties to even. */
function roundHalfEven(y) {
  const f = Math.floor(y);
  const d = y - f; // exact
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** Bits of the binary floating-point format (1 sign, expBits, mantBits) nearest to x. */
function encodeBinaryFloat(x, expBits, mantBits) {
  const bias = (1 << (expBits - 1)) - 1;
  const expAll = (1 << expBits) - 1;
  const sign = x < 0 || Object.is(x, -0) ? 1 << (expBits + mantBits) : 0;
  if (Number.isNaN(x)) return (expAll << mantBits) | (1 << (mantBits - 1)); // canonical quiet NaN
  const a = Math.abs(x);
  if (a === Infinity) return sign | (expAll << mantBits);
  if (a === 0) return sign;
  const emin = 1 - bias;
  let e = exponentOf(a);
  if (e < emin) {
    // Subnormal in the target: count units of 2^(emin - mantBits). Scaling by 2^k is exact.
    // A result of 2^mantBits is the smallest normal, which this encoding also produces.
    return sign | roundHalfEven(a * pow2(mantBits - emin));
  }
  let q = roundHalfEven(a * pow2(mantBits - e)); // in [2^mantBits, 2^(mantBits+1)]
  if (q === 2 ** (mantBits + 1)) {
    q /= 2;
    e += 1;
  }
  if (e > bias) return sign | (expAll << mantBits); // overflow rounds to infinity
  return sign | ((e + bias) << mantBits) | (q - (1 << mantBits));
}

/** IEEE 754 binary16 bits nearest to x (round to nearest, ties to even). */
export function float16Bits(x) {
  return encodeBinaryFloat(x, 5, 10);
}

/** bfloat16 bits nearest to x (round to nearest, ties to even), rounded from the double directly. */
export function bfloat16Bits(x) {
  return encodeBinaryFloat(x, 8, 7);
}

/** The value of IEEE 754 binary16 bits. */
export function float16ToNumber(bits) {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const man = bits & 0x3ff;
  if (exp === 0) return sign * man * 2 ** -24;
  if (exp === 0x1f) return man === 0 ? sign * Infinity : NaN;
  return sign * (1024 + man) * 2 ** (exp - 25);
}

/** The value of bfloat16 bits (exact: bfloat16 is the top half of a float32). */
export function bfloat16ToNumber(bits) {
  scratch.setUint32(0, (bits & 0xffff) << 16);
  return scratch.getFloat32(0);
}

// ---------------------------------------------------------------------------------------------
// The model

/** config.json of the sample: a tiny Llama with grouped-query attention. */
export function sampleConfig() {
  return {
    architectures: ['LlamaForCausalLM'],
    attention_bias: false,
    attention_dropout: 0.0,
    bos_token_id: 1,
    eos_token_id: 2,
    head_dim: 16,
    hidden_act: 'silu',
    hidden_size: 64,
    initializer_range: 0.02,
    intermediate_size: 2048,
    max_position_embeddings: 512,
    mlp_bias: false,
    model_type: 'llama',
    num_attention_heads: 4,
    num_hidden_layers: 2,
    num_key_value_heads: 2,
    pretraining_tp: 1,
    rms_norm_eps: 1e-6,
    rope_scaling: null,
    rope_theta: 10000.0,
    tie_word_embeddings: false,
    torch_dtype: 'bfloat16',
    transformers_version: '4.44.2',
    use_cache: true,
    vocab_size: 512,
  };
}

/**
 * The tensors of the sample, sorted by name. The dtypes are mixed on purpose so the file holds
 * all three float formats: embeddings and MLP in BF16, attention projections in F16, norms and
 * lm_head in F32. `init` says how the values are drawn: weights ~ N(0, 0.02), norms ~ 1 + N(0, 0.02).
 */
export function sampleTensorSpecs(config = sampleConfig()) {
  const h = config.hidden_size;
  const kv = config.num_key_value_heads * config.head_dim;
  const q = config.num_attention_heads * config.head_dim;
  const ff = config.intermediate_size;
  const weight = { mean: 0, std: config.initializer_range };
  const norm = { mean: 1, std: 0.02 };
  const specs = [
    { name: 'model.embed_tokens.weight', dtype: 'BF16', shape: [config.vocab_size, h], init: weight },
    { name: 'model.norm.weight', dtype: 'F32', shape: [h], init: norm },
    { name: 'lm_head.weight', dtype: 'F32', shape: [config.vocab_size, h], init: weight },
  ];
  for (let i = 0; i < config.num_hidden_layers; i++) {
    const p = `model.layers.${i}.`;
    specs.push(
      { name: `${p}input_layernorm.weight`, dtype: 'F32', shape: [h], init: norm },
      { name: `${p}post_attention_layernorm.weight`, dtype: 'F32', shape: [h], init: norm },
      { name: `${p}self_attn.q_proj.weight`, dtype: 'F16', shape: [q, h], init: weight },
      { name: `${p}self_attn.k_proj.weight`, dtype: 'F16', shape: [kv, h], init: weight },
      { name: `${p}self_attn.v_proj.weight`, dtype: 'F16', shape: [kv, h], init: weight },
      { name: `${p}self_attn.o_proj.weight`, dtype: 'F16', shape: [h, q], init: weight },
      { name: `${p}mlp.gate_proj.weight`, dtype: 'BF16', shape: [ff, h], init: weight },
      { name: `${p}mlp.up_proj.weight`, dtype: 'BF16', shape: [ff, h], init: weight },
      { name: `${p}mlp.down_proj.weight`, dtype: 'BF16', shape: [h, ff], init: weight },
    );
  }
  // Plain code-unit order; the names are ASCII, so this is also byte order.
  return specs.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Number of elements of a shape. */
export function elementCount(shape) {
  return shape.reduce((n, d) => n * d, 1);
}

/** The exact (double) values of a tensor before rounding to its dtype. */
export function sampleTensorSource(spec) {
  const normal = normalStream((SAMPLE_SEED ^ fnv1a32(spec.name)) >>> 0);
  const out = new Float64Array(elementCount(spec.shape));
  for (let i = 0; i < out.length; i++) out[i] = spec.init.mean + spec.init.std * normal();
  return out;
}

/** Bytes per element of the dtypes this generator writes. */
export const DTYPE_SIZE = { F32: 4, F16: 2, BF16: 2 };

/** Little-endian bytes of `values` in `dtype` (F32, F16 or BF16). */
export function encodeTensor(dtype, values) {
  const size = DTYPE_SIZE[dtype];
  if (size === undefined) throw new Error(`encodeTensor: unsupported dtype ${dtype}`);
  const bytes = new Uint8Array(values.length * size);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) {
    if (dtype === 'F32') view.setFloat32(i * 4, values[i], true);
    else if (dtype === 'F16') view.setUint16(i * 2, float16Bits(values[i]), true);
    else view.setUint16(i * 2, bfloat16Bits(values[i]), true);
  }
  return bytes;
}

/**
 * A safetensors file: u64 LE header length, compact JSON header (`__metadata__` first, then the
 * tensors in the given order) padded with spaces to a multiple of 8, then the tensors' bytes
 * back to back in the same order.
 */
export function buildSafetensors(tensors, metadata = { format: 'pt' }) {
  const header = { __metadata__: metadata };
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length] };
    offset += t.data.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.length;
  for (const t of tensors) {
    out.set(t.data, pos);
    pos += t.data.length;
  }
  return out;
}

/** model.safetensors of the sample. */
export function sampleSafetensors() {
  const tensors = sampleTensorSpecs().map((spec) => ({
    name: spec.name,
    dtype: spec.dtype,
    shape: spec.shape,
    data: encodeTensor(spec.dtype, sampleTensorSource(spec)),
  }));
  return buildSafetensors(tensors);
}

// ---------------------------------------------------------------------------------------------
// The tokenizer: a byte-level BPE actually trained (greedily, deterministically) on a short text

const CORPUS = `
Model weights are the product of months of work and a great deal of compute. A sealed package
keeps them confidential at rest and in transit: the weights are encrypted with a fresh content key,
the key is wrapped for each recipient, and the publisher signs a manifest that lists every file,
its size and its digest. Anyone who receives the package can check where it came from before they
open it, and only the recipients that were named when it was sealed can open it at all.
The tokenizer that ships with a model is small next to the weights, but it matters just as much:
the same text must always become the same tokens, or the model will not understand its input.
This tokenizer is a tiny byte level model trained on this paragraph and the ones around it, so it
knows common English words such as the, and, model, weights, token, tokens, open, seal, sealed,
package, packages, recipient, recipients, signature, signatures, layer, layers, attention, norm.
Every layer of the network has an attention block and a feed forward block. The attention block
projects the hidden state to queries, keys and values, compares each query with the keys of the
earlier positions, and mixes the values with the resulting weights. The feed forward block widens
the hidden state, applies a gated nonlinearity, and projects it back. Normalization layers keep the
scale of the hidden state steady from one layer to the next, and a final projection turns the last
hidden state into one score for each token of the vocabulary.
Numbers such as 0, 1, 2, 16, 64, 512, 2048 and 10000 appear in the configuration of the model.
`;

/** GPT-2's reversible mapping of bytes to printable characters. */
export function bytesToUnicode() {
  const keep = [];
  for (let b = 0x21; b <= 0x7e; b++) keep.push(b);
  for (let b = 0xa1; b <= 0xac; b++) keep.push(b);
  for (let b = 0xae; b <= 0xff; b++) keep.push(b);
  const map = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    map[b] = keep.includes(b) ? String.fromCharCode(b) : String.fromCharCode(256 + extra++);
  }
  return map;
}

/** tokenizer.json of the sample, with exactly `vocabSize` entries in the vocabulary. */
export function sampleTokenizer(vocabSize = sampleConfig().vocab_size) {
  const specials = ['<unk>', '<s>', '</s>'];
  const byteChars = bytesToUnicode();
  const vocab = new Map();
  for (const s of specials) vocab.set(s, vocab.size);
  for (const c of byteChars) vocab.set(c, vocab.size);

  // Pre-tokenize like GPT-2 (a leading space stays with the word), then map bytes to characters.
  const pieces = CORPUS.replace(/\s+/g, ' ').trim().match(/ ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+/g);
  const counts = new Map();
  for (const p of pieces) {
    const key = Array.from(Buffer.from(p, 'utf8'), (b) => byteChars[b]).join('\u0000');
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const words = [...counts.entries()]
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([key, count]) => ({ symbols: key.split('\u0000'), count }));

  const merges = [];
  while (vocab.size < vocabSize) {
    const pairs = new Map();
    for (const w of words) {
      for (let i = 0; i + 1 < w.symbols.length; i++) {
        const k = `${w.symbols[i]}\u0000${w.symbols[i + 1]}`;
        pairs.set(k, (pairs.get(k) ?? 0) + w.count);
      }
    }
    if (pairs.size === 0) throw new Error('sampleTokenizer: the corpus is too small for the vocabulary');
    // Most frequent pair; ties broken by code-unit order of the pair, so the result is fixed.
    let best = null;
    let bestCount = 0;
    for (const [k, c] of pairs) {
      if (c > bestCount || (c === bestCount && k < best)) {
        best = k;
        bestCount = c;
      }
    }
    const [a, b] = best.split('\u0000');
    merges.push(`${a} ${b}`);
    if (!vocab.has(a + b)) vocab.set(a + b, vocab.size);
    for (const w of words) {
      const s = w.symbols;
      const merged = [];
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
          merged.push(a + b);
          i++;
        } else merged.push(s[i]);
      }
      w.symbols = merged;
    }
  }

  const special = (content, id) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials.map((s, i) => special(s, i)),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '<s>', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '<s>', type_id: 1 } },
        { Sequence: { id: 'B', type_id: 1 } },
      ],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<unk>',
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: Object.fromEntries(vocab),
      merges,
    },
  };
}

/**
 * tokenizer.json text: pretty-printed, with the vocabulary in id order. (A plain object would put
 * integer-like tokens such as "0" or "512" first, whatever their id.)
 */
export function sampleTokenizerJson() {
  const tokenizer = sampleTokenizer();
  const vocab = Object.entries(tokenizer.model.vocab).sort((a, b) => a[1] - b[1]);
  const placeholder = '\u0000vocab\u0000';
  tokenizer.model.vocab = placeholder;
  const body = vocab.map(([token, id]) => `      ${JSON.stringify(token)}: ${id}`).join(',\n');
  const text = JSON.stringify(tokenizer, null, 2).replace(JSON.stringify(placeholder), () => `{\n${body}\n    }`);
  return `${text}\n`;
}

// ---------------------------------------------------------------------------------------------
// Output

/** The default output folder: samples/checkpoint next to this script. */
export const DEFAULT_OUT_DIR = fileURLToPath(new URL('./checkpoint/', import.meta.url));

/** Writes config.json, model.safetensors and tokenizer.json into outDir; returns their paths. */
export function writeSample(outDir = DEFAULT_OUT_DIR) {
  mkdirSync(outDir, { recursive: true });
  const files = {
    'config.json': `${JSON.stringify(sampleConfig(), null, 2)}\n`,
    'model.safetensors': sampleSafetensors(),
    'tokenizer.json': sampleTokenizerJson(),
  };
  const written = [];
  for (const [name, content] of Object.entries(files)) {
    const path = resolve(outDir, name);
    writeFileSync(path, content);
    written.push(path);
  }
  return written;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const outDir = process.argv[2] === undefined ? DEFAULT_OUT_DIR : resolve(process.argv[2]);
  for (const path of writeSample(outDir)) process.stdout.write(`${path}\n`);
}
