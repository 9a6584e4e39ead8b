"""Write a tiny Llama-architecture GGUF model (random weights, ~200 KB) for the peer-server test.

Run as ``python tests/_support/peer_model.py OUT.gguf`` with a Python that has the ``gguf`` package (the one
that runs llama.cpp's server). No download: the weights are drawn from a seeded generator.

The model answers with a few words and then stops on its own: token embeddings carry a constant
component that, through the final norm and the output matrix, gives end-of-sequence a logit 1.5
above the ordinary words and the byte tokens -10. Attention and feed-forward outputs are zero,
so the logits are the same at every step and the answer length is geometric (about 1 in 6
sampled tokens is end-of-sequence under the server's default top-k 40): rows end with
finish_reason "stop" long before max_tokens, whatever the seed.
"""

from __future__ import annotations

import sys

import numpy as np

WORDS = (
    "the a an of to in is it that for on with as was at by be this from or have not are but had they his her she he you we "
    "one all were there can will more when up out about so what which their time if no said would do each only other into"
).split()
N_EMBD, N_HEAD, N_FF, N_LAYER, N_CTX = 64, 4, 128, 1, 2048
EOS_LOGIT, BYTE_LOGIT = 2.0, -10.0


def vocabulary() -> tuple[list[str], list[float], list[int]]:
    """SentencePiece-style: <unk> <s> </s>, the 256 byte-fallback tokens, then ▁words."""
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + [f"\u2581{w}" for w in WORDS]
    scores = [0.0, 0.0, 0.0] + [0.0] * 256 + [-float(i) for i in range(len(WORDS))]
    types = [2, 3, 3] + [6] * 256 + [1] * len(WORDS)  # UNKNOWN, CONTROL, BYTE, NORMAL
    return tokens, scores, types


def write(path: str, seed: int = 0) -> None:
    import gguf

    rng = np.random.default_rng(seed)
    tokens, scores, types = vocabulary()
    n_vocab = len(tokens)
    w = gguf.GGUFWriter(path, "llama")
    w.add_name("llama-eval tiny test model")
    w.add_context_length(N_CTX)
    w.add_embedding_length(N_EMBD)
    w.add_block_count(N_LAYER)
    w.add_feed_forward_length(N_FF)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_HEAD)
    w.add_rope_dimension_count(N_EMBD // N_HEAD)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)

    f32 = np.float32
    embd = (rng.standard_normal((n_vocab, N_EMBD)) * 0.1).astype(f32)
    embd[:, 0] = 10.0  # the constant component: after RMS norm, dim 0 is ~1 for every token
    norm = np.zeros(N_EMBD, dtype=f32)
    norm[0] = 1.0  # the final norm keeps only dim 0
    output = np.zeros((n_vocab, N_EMBD), dtype=f32)
    unit = float(np.sqrt(N_EMBD))  # dim 0 after RMS norm: 10 / rms(~[10, 0, ...]) = sqrt(N_EMBD)
    output[2, 0] = EOS_LOGIT / unit
    output[3:259, 0] = BYTE_LOGIT / unit
    w.add_tensor("token_embd.weight", embd)
    w.add_tensor("output_norm.weight", norm)
    w.add_tensor("output.weight", output)
    for i in range(N_LAYER):
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(N_EMBD, dtype=f32))
        for name in ("attn_q", "attn_k", "attn_v"):
            w.add_tensor(f"blk.{i}.{name}.weight", (rng.standard_normal((N_EMBD, N_EMBD)) * 0.1).astype(f32))
        w.add_tensor(f"blk.{i}.attn_output.weight", np.zeros((N_EMBD, N_EMBD), dtype=f32))
        w.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(N_EMBD, dtype=f32))
        w.add_tensor(f"blk.{i}.ffn_gate.weight", (rng.standard_normal((N_FF, N_EMBD)) * 0.1).astype(f32))
        w.add_tensor(f"blk.{i}.ffn_up.weight", (rng.standard_normal((N_FF, N_EMBD)) * 0.1).astype(f32))
        w.add_tensor(f"blk.{i}.ffn_down.weight", np.zeros((N_EMBD, N_FF), dtype=f32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    write(sys.argv[1])
