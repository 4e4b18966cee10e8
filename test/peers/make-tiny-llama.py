"""Writes a tiny llama GGUF with random weights: the test upstream's model (test/support/llama.ts).

usage: make-tiny-llama.py <vocab.gguf> <out.gguf>

The tokenizer (every `tokenizer.*` key, its arrays included) comes from a vocabulary-only GGUF that
llama.cpp ships (models/ggml-vocab-llama-spm.gguf in the llama-cpp-python sdist); the weights are
drawn from a seeded generator, so the file is the same on every machine. Two layers, 64-wide, four
heads, a context of 512, F32: about 17 MB, loaded in well under a second. It answers random text.
"""

import os
import sys

import numpy as np
from gguf import GGUFReader, GGUFValueType, GGUFWriter

SEED = 23
N_LAYER = 2
N_EMBD = 64
N_HEAD = 4
N_FF = 128
N_CTX = 512


def copy_tokenizer(vocab_path: str, writer: GGUFWriter) -> int:
    """Copies the tokenizer keys of the vocabulary GGUF; returns the vocabulary size."""
    reader = GGUFReader(vocab_path)
    n_vocab = 0
    for key, field in reader.fields.items():
        if not key.startswith("tokenizer."):
            continue
        vtype = field.types[0]
        sub = field.types[1] if vtype == GGUFValueType.ARRAY else None
        value = field.contents()
        if key == "tokenizer.ggml.tokens":
            n_vocab = len(value)
        writer.add_key_value(key, value, vtype, sub_type=sub)
    if n_vocab == 0:
        raise SystemExit(f"{vocab_path} has no tokenizer.ggml.tokens")
    return n_vocab


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    vocab_path, out_path = sys.argv[1], sys.argv[2]
    tmp_path = out_path + ".tmp"
    writer = GGUFWriter(tmp_path, "llama")
    writer.add_name("modelseal-tiny-llama")
    writer.add_context_length(N_CTX)
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(N_LAYER)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(N_EMBD // N_HEAD)
    writer.add_file_type(0)  # all F32
    n_vocab = copy_tokenizer(vocab_path, writer)
    writer.add_vocab_size(n_vocab)

    rng = np.random.default_rng(SEED)

    def weight(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    ones = np.ones(N_EMBD, dtype=np.float32)
    # numpy shapes are (rows, columns): ggml's dimensions reversed.
    writer.add_tensor("token_embd.weight", weight(n_vocab, N_EMBD))
    for i in range(N_LAYER):
        writer.add_tensor(f"blk.{i}.attn_norm.weight", ones)
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            writer.add_tensor(f"blk.{i}.{name}.weight", weight(N_EMBD, N_EMBD))
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", ones)
        writer.add_tensor(f"blk.{i}.ffn_gate.weight", weight(N_FF, N_EMBD))
        writer.add_tensor(f"blk.{i}.ffn_up.weight", weight(N_FF, N_EMBD))
        writer.add_tensor(f"blk.{i}.ffn_down.weight", weight(N_EMBD, N_FF))
    writer.add_tensor("output_norm.weight", ones)
    writer.add_tensor("output.weight", weight(n_vocab, N_EMBD))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(tmp_path, out_path)


if __name__ == "__main__":
    main()
