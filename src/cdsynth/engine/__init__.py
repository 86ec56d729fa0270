"""What runs models. Engines know nothing of corpora, shards or studies.

    protocol.py      `Engine`: what generation calls (new_cache, forward, step), and `Dropout`
    lean.py          the lean LLaMA engine: GOOD and BAD stacked, our forward and KV cache
    decode_step.py   the lean engine's one-token step as one compiled graph
    hf.py            the generic engine (any AutoModelForCausalLM) and safe checkpoint loading
    llama_math.py    RoPE, RMSNorm, fused weights, attention: the one LLaMA math
    kernels.py       products on oneDNN-packed weights (the `cdsynth::packed_linear` op)
    cpu_attention.py our C++ one-query attention kernel (csrc/), built on first use
    packed_llama.py  the scoring body (evaluate.scoring) on packed weights
    keyed_random.py  counter-based randomness: uniforms as pure functions of integer keys

Three LLaMA forwards, one math: they share `llama_math` but not a forward, because they ask
different things of it. Decoding runs several same-shaped models stacked on a model axis
against a preallocated KV cache with per-row positions, and returns last-position logits with
a float32 output layer: `LeanLlama.forward` (lean.py) takes any number of tokens (prompts,
the dropout amateur) and is the eager reference of `decode_logits` (decode_step.py), one
token per row, free of branches on data, the part of the compiled step. Scoring
(`PackedLlama`) runs one model over whole packed sequences with a tree attention mask, no
cache, and returns every position's hidden states for the caller's output layer. Folding them
into one function would put the stacking and cache of the one on the hot path of the other.
"""

from .lean import LeanLlama, make_engines
from .protocol import Dropout, Engine

__all__ = ["Dropout", "Engine", "LeanLlama", "make_engines"]
