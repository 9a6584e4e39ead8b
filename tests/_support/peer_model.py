"""Write a tiny Llama-architecture GGUF model (random weights, ~200 KB) for the peer-server test.

Run as ``python tests/_support/peer_model.py OUT.gguf`` with a Python that has the ``gguf`` package (the one
that runs llama.cpp's server). No download: the weights are drawn from a seeded generator.

``--prefill WORDS.txt`` writes a larger model (4 layers of width 256, ~12 MB) whose vocabulary also
holds the words of WORDS.txt (one a line, e.g. those of a ``llama-eval synth`` set), so that a prompt of
those words is one token a word, answers run to max_tokens (end-of-sequence is never in the
top 40), and a prompt of 1,500 tokens takes a prefill long enough to time
(tenths of a second on two cores) against the few tokens a cached prefix leaves to evaluate.

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
N_EMBD, N_HEAD, N_LAYER, N_CTX = 64, 4, 1, 2048
EOS_LOGIT, BYTE_LOGIT = 2.0, -10.0


def vocabulary(words: tuple[str, ...] = tuple(WORDS)) -> tuple[list[str], list[float], list[int]]:
    """SentencePiece-style: <unk> <s> </s>, the 256 byte-fallback tokens, then ▁words."""
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + [f"\u2581{w}" for w in words]
    scores = [0.0, 0.0, 0.0] + [0.0] * 256 + [-float(i) for i in range(len(words))]
    types = [2, 3, 3] + [6] * 256 + [1] * len(words)  # UNKNOWN, CONTROL, BYTE, NORMAL
    return tokens, scores, types


def write(path: str, seed: int = 0, *, extra_words: tuple[str, ...] = (), width: int = N_EMBD, layers: int = N_LAYER, eos_logit: float = EOS_LOGIT) -> None:
    """The model at ``path``: ``width`` and ``layers`` set its size (prefill time), ``extra_words`` join the vocabulary;
    ``eos_logit`` below 0 (the words' logit) keeps end-of-sequence out of the top 40: answers run to max_tokens."""
    import gguf

    rng = np.random.default_rng(seed)
    # llama.cpp's SentencePiece tokenizer builds a word by merging symbol pairs whose join is in the vocabulary:
    # every "▁" prefix of an extra word must be a token too, or the word falls back to one byte token a letter
    words = tuple(dict.fromkeys([*WORDS, *(w[:k] for w in extra_words for k in range(1, len(w) + 1))]))
    tokens, scores, types = vocabulary(words)
    ff = 2 * width
    n_vocab = len(tokens)
    w = gguf.GGUFWriter(path, "llama")
    w.add_name("llama-eval tiny test model")
    w.add_context_length(N_CTX)
    w.add_embedding_length(width)
    w.add_block_count(layers)
    w.add_feed_forward_length(ff)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_HEAD)
    w.add_rope_dimension_count(width // N_HEAD)
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
    embd = (rng.standard_normal((n_vocab, width)) * 0.1).astype(f32)
    embd[:, 0] = 10.0  # the constant component: after RMS norm, dim 0 is ~1 for every token
    norm = np.zeros(width, dtype=f32)
    norm[0] = 1.0  # the final norm keeps only dim 0
    output = np.zeros((n_vocab, width), dtype=f32)
    unit = float(np.sqrt(width))  # dim 0 after RMS norm: 10 / rms(~[10, 0, ...]) = sqrt(width)
    output[2, 0] = eos_logit / unit
    output[3:259, 0] = BYTE_LOGIT / unit
    w.add_tensor("token_embd.weight", embd)
    w.add_tensor("output_norm.weight", norm)
    w.add_tensor("output.weight", output)
    for i in range(layers):
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(width, dtype=f32))
        for name in ("attn_q", "attn_k", "attn_v"):
            w.add_tensor(f"blk.{i}.{name}.weight", (rng.standard_normal((width, width)) * 0.1).astype(f32))
        w.add_tensor(f"blk.{i}.attn_output.weight", np.zeros((width, width), dtype=f32))
        w.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(width, dtype=f32))
        w.add_tensor(f"blk.{i}.ffn_gate.weight", (rng.standard_normal((ff, width)) * 0.1).astype(f32))
        w.add_tensor(f"blk.{i}.ffn_up.weight", (rng.standard_normal((ff, width)) * 0.1).astype(f32))
        w.add_tensor(f"blk.{i}.ffn_down.weight", np.zeros((width, ff), dtype=f32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[2] == "--prefill":
        with open(sys.argv[3], encoding="utf-8") as lines:
            write(sys.argv[1], extra_words=tuple(w.strip() for w in lines if w.strip()), width=256, layers=4, eos_logit=-3.0)
    else:
        write(sys.argv[1])
