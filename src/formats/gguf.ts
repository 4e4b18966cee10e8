/**
 * A strict reader and writer for GGUF, the model format of ggml and llama.cpp: versions 2 and 3,
 * little-endian only. Spec: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md
 *
 *   "GGUF" · u32 version · u64 tensor_count · u64 kv_count
 *   kv_count × (string key · u32 value type · value)        a string is a u64 length, then UTF-8
 *   tensor_count × (string name · u32 n_dims · n_dims × u64 ne · u32 ggml type · u64 offset)
 *   0x00 padding to the alignment (general.alignment, else 32), then the data section
 *
 * Strict means refusing what ggml's own reader (ggml/src/gguf.cpp) refuses: repeated keys or
 * tensor names, unknown tensor types, a row (ne[0]) that is not whole blocks, an alignment that is
 * not a u32 power of two, and offsets other than the packed layout (each tensor at the padded total
 * of those before it, in table order). Also refused, because readers could disagree on them or they
 * hide bytes: NUL in names, non-ASCII keys, invalid UTF-8, bools other than 0/1, non-zero header
 * padding, bytes after the last tensor's padding, dimensions of 0 (ggml allows them, but no model
 * holds an empty tensor and it has no data range to check), n_dims 0, and anything over
 * {@link GGUF_LIMITS}. Every failure is a ModelsealError INVALID_ARGUMENT naming the problem, and
 * limits are checked before anything is allocated.
 *
 * This module is the public face; the code lives in gguf-layout.ts (types, block sizes, shared
 * checks), gguf-read.ts (parser) and gguf-write.ts (encoder and writer).
 */
export {
  dequantizeQ8_0,
  GGML_TYPE,
  ggmlTensorBytes,
  ggmlTypeName,
  GGUF_LIMITS,
  GGUF_VALUE_TYPE,
  type GgufArray,
  type GgufFile,
  type GgufNumericArray,
  type GgufTensorInfo,
  type GgufValue,
} from './gguf-layout.js';
export { parseGgufHeader, readGgufHeader } from './gguf-read.js';
export { encodeGgufHeader, writeGguf } from './gguf-write.js';
