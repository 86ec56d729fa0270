"""A minimal LLaMA forward for decoding, with a preallocated KV cache.

`transformers.LlamaForCausalLM` is the reference: `LeanLlama` takes its weights and computes the
same logits (tests compare the two on the same weights and inputs), without the per-step
overhead that dominates decoding small models on a CPU. Differences from a plain HF forward:

- several models of one shape (GOOD and an earlier BAD checkpoint) are stacked along a leading
  model axis M and run as one batched computation: half the per-op overhead of two forwards;
- one preallocated K and V tensor per layer, written in place (no `torch.cat` growth);
- explicit per-row `positions` and a per-row key mask, so left-padded prefixes get the same
  positions as unpadded ones;
- logits for the last position only, from a final norm and vocabulary projection computed in
  float32 (float64 for a float64 model) whatever the weights' dtype;
- bf16 on a CPU without bf16 arithmetic (AVX2-only: oneDNN has no bf16 kernels there and torch
  emulates bf16 products, ~15x slower): bf16 storage with float32 arithmetic (`arithmetic_dtype`):
  the weights rounded to bf16 and held in float32, the KV cache in bf16 (half the bytes a step
  reads), every product and sum in float32;
- `step` (decode_step.py): one token per row as one compiled graph over the weights laid out
  by `decode_weights` (products on oneDNN-packed copies, attention by our CPU kernel,
  cpu_attention.py), or, in float32 arithmetic on a CPU, the models as one C++ op and then the
  rule (`models_op`); `forward` serves prompts and the dropout amateur, and is the eager
  reference the step is tested against;
- optional dropout in one stacked model (a "dropout amateur"), with masks from keyed
  randomness so they do not depend on batching: on the attention probabilities (the paper's:
  HF's LlamaForCausalLM in train mode with `attention_dropout=p`), or on the attention and MLP
  outputs (the residual branches).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..decoding_rules import DecodingRule
from ..errors import UserError
from .decode_step import DecodeSpec, decode_logits, decode_step
from .keyed_random import STREAM_DROPOUT, keyed_uniform, keyed_uniform_torch
from .llama_math import attend, fused_gate_up, fused_qkv, rms_norm, rope_tables, rotate
from .protocol import Dropout, StepFn

DECODE_ROWS = 64  # rows per product that packed decode weights are laid out for


@dataclass
class KVCache:
    keys: list[torch.Tensor]  # per layer (models, batch, kv_heads, max_len, head_dim)
    values: list[torch.Tensor]


def shape_of(config) -> tuple:
    """What must match for two LLaMA checkpoints to be stacked."""
    return (
        config.vocab_size,
        config.hidden_size,
        config.intermediate_size,
        config.num_hidden_layers,
        config.num_attention_heads,
        config.num_key_value_heads,
        getattr(config, "head_dim", None),
        config.rms_norm_eps,
    )


def unsupported(hf_model) -> str | None:
    """Why `hf_model` is not a LLaMA these minimal forwards compute exactly (None if it is)."""
    cfg = hf_model.config
    if getattr(cfg, "model_type", "") != "llama":
        return f"only LLaMA checkpoints are supported, got model_type={cfg.model_type}"
    if getattr(cfg, "attention_bias", False) or getattr(cfg, "mlp_bias", False):
        return "LLaMA checkpoints with attention or MLP biases are not supported"
    if getattr(cfg, "hidden_act", "silu") != "silu":
        return f"unsupported activation {cfg.hidden_act}"
    if getattr(hf_model.model.rotary_emb, "rope_type", "default") != "default":
        return f"unsupported RoPE type {hf_model.model.rotary_emb.rope_type}"
    return None


def _check_supported(hf_model) -> None:
    reason = unsupported(hf_model)
    if reason:
        raise UserError(reason)


def arithmetic_dtype(dtype: torch.dtype, device) -> torch.dtype:
    """The dtype a lean engine asked for `dtype` computes in on `device`: `dtype` itself,
    except bf16 on a CPU without bf16 arithmetic, which computes in float32 (on weights
    rounded to bf16, over a bf16 KV cache)."""
    from ..distributed import bf16_supported

    if dtype == torch.bfloat16 and not bf16_supported(torch.device(device)):
        return torch.float32
    return dtype


def make_engines(
    good_hf, bad_hf=None, dtype=torch.float32, device="cpu", bad_dropout: float = 0.0
) -> list[LeanLlama]:
    """Lean engines whose stacked models are [GOOD] or [GOOD, BAD], in that order.

    Same-shaped GOOD and BAD (an earlier checkpoint, or GOOD itself as a dropout amateur) are
    stacked into one engine; a differently shaped BAD (a smaller model) gets its own."""
    if bad_hf is None:
        return [LeanLlama([good_hf, good_hf] if bad_dropout > 0 else [good_hf], dtype, device)]
    if good_hf.config.vocab_size != bad_hf.config.vocab_size:
        raise UserError(
            f"GOOD and BAD vocabularies differ ({good_hf.config.vocab_size} vs "
            f"{bad_hf.config.vocab_size})"
        )
    if shape_of(good_hf.config) == shape_of(bad_hf.config):
        return [LeanLlama([good_hf, bad_hf], dtype, device)]
    return [LeanLlama([good_hf], dtype, device), LeanLlama([bad_hf], dtype, device)]


class LeanLlama:
    """Weights of M same-shaped LlamaForCausalLM models laid out for decoding, stacked on dim 0;
    an `Engine` (protocol.py)."""

    def __init__(
        self,
        hf_models,
        dtype: torch.dtype = torch.float32,
        device="cpu",
        compile_decode: bool = True,
    ):
        hf_models = list(hf_models) if isinstance(hf_models, (list, tuple)) else [hf_models]
        for m in hf_models:
            _check_supported(m)
        if len({shape_of(m.config) for m in hf_models}) != 1:
            raise ValueError("stacked models must have the same shape")
        first = hf_models[0]
        cfg = first.config
        rope = first.model.rotary_emb
        self.config = cfg
        self.n_models = len(hf_models)
        self.device = torch.device(device)
        # storage: the KV cache's dtype and the weights' precision; arithmetic: `dtype`
        self.cache_dtype = dtype
        self.dtype = dtype = arithmetic_dtype(dtype, self.device)
        # one-query attention over a bf16 cache: a compiled fused kernel reads the cache once,
        # ~2x faster than matmuls on this memory-bound step (bench/, BENCHMARKS.md)
        self.compiled_decode = compile_decode and dtype == torch.bfloat16
        # the whole decode step as one compiled graph (decode_step.py), in bf16 and fp32
        self.compile_step = compile_decode and dtype in (torch.bfloat16, torch.float32)
        self._decode_weights = None
        self.fused_step = True  # `step` gives the one-graph step (False: None, per-op; benches)
        # the step's models as one C++ op where it applies (decode_step.py; False: benches)
        self.models_op = True
        # `step` gives the static-shape step (decode_step.static_attention; generate.step_shape)
        self.static_step = False
        self._static_cache = None  # the static step's cache, reused while its shape fits
        self.steps = {}  # decode_step.DecodeStep per (rule, vocab), made on first use
        self.n_heads = cfg.num_attention_heads
        self.n_kv = cfg.num_key_value_heads
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // self.n_heads
        self.eps = cfg.rms_norm_eps
        self.vocab_size = cfg.vocab_size
        self.inv_freq = rope.inv_freq.detach().float().to(self.device)
        self.rope_scale = float(rope.attention_scaling)
        self.decode_spec = DecodeSpec(
            self.n_heads, self.n_kv, self.head_dim, self.eps, self.rope_scale
        )

        def stack(get, transpose=False, to=dtype, stored=self.cache_dtype):
            ts = [get(m).detach() for m in hf_models]
            ts = [t.t() if transpose else t for t in ts]
            # bf16 storage under float32 arithmetic: weights rounded to bf16, held in float32
            return torch.stack(ts).to(self.device, stored).to(to).contiguous()

        def norm(get):  # (M, 1, 1, H): broadcasts over (M, B, T, H)
            return stack(get)[:, None, None, :]

        self.embed = stack(lambda m: m.model.embed_tokens.weight)
        self.layers = []
        for i in range(cfg.num_hidden_layers):

            def L(m, i=i):
                return m.model.layers[i]

            self.layers.append(
                dict(
                    norm_in=norm(lambda m: L(m).input_layernorm.weight),
                    qkv=stack(lambda m: fused_qkv(L(m)), transpose=True),
                    o=stack(lambda m: L(m).self_attn.o_proj.weight, transpose=True),
                    norm_post=norm(lambda m: L(m).post_attention_layernorm.weight),
                    gate_up=stack(lambda m: fused_gate_up(L(m)), transpose=True),
                    down=stack(lambda m: L(m).mlp.down_proj.weight, transpose=True),
                )
            )
        # the output layer in float32 whatever the weights' dtype: bf16 logits enter CD's score
        # twice, and their rounding moved ~4x more probability mass than a bf16 body did on a
        # trained model (bench/decode_precision.py, BENCHMARKS.md)
        head = torch.float64 if dtype == torch.float64 else torch.float32
        self.norm = stack(lambda m: m.model.norm.weight, to=head, stored=head)[:, None, :]
        self.lm_head = stack(lambda m: m.lm_head.weight, transpose=True, to=head, stored=head)

    def step(self, rule: DecodingRule, vocab: int | None) -> StepFn | None:
        """The one-graph decode step (decode_step.py) for `rule` and `vocab`, made once per
        engine; None when `fused_step` is off (the caller steps op by op)."""
        return decode_step(self, rule, vocab, self.static_step) if self.fused_step else None

    def new_cache(self, batch: int, max_len: int) -> KVCache:
        """An empty cache (zeros). With the static step, the last one of the same shape, zeroed:
        its tensors keep their addresses from batch to batch, so that a CUDA graph captured
        over them is replayed rather than captured again."""
        shape = (self.n_models, batch, self.n_kv, max_len, self.head_dim)
        kept = self._static_cache
        if self.static_step and kept is not None and tuple(kept.keys[0].shape) == shape:
            for t in (*kept.keys, *kept.values):
                t.zero_()
            return kept
        n = len(self.layers)
        cache = KVCache(
            [torch.zeros(shape, dtype=self.cache_dtype, device=self.device) for _ in range(n)],
            [torch.zeros(shape, dtype=self.cache_dtype, device=self.device) for _ in range(n)],
        )
        self._static_cache = cache if self.static_step else None
        return cache

    def decode_weights(self) -> dict:
        """What a one-token step (`decode_logits`) reads, as plain tensors. Per layer, the
        products' weights per model (out, in) and packed for oneDNN where this CPU build can
        (kernels.py; the packed copies go with the engine; in a whole step this beat one bmm
        of the stacked weights, 12.7 vs 13.7 ms in bf16, though a bmm alone was faster), else
        stacked (M, in, out) for one bmm (float64, a GPU); the output layer likewise, in its
        float32 (float64) dtype."""
        if self._decode_weights is None:
            from .cpu_attention import use_kernel
            from .kernels import can_pack, pack_weights, release

            def own(w):  # (M, in, out) -> per model (out, in)
                return [w[m].t().contiguous() for m in range(self.n_models)]

            packed = can_pack(self.device, self.dtype)
            layers = [
                {
                    "norm_in": L["norm_in"][:, 0],
                    "norm_post": L["norm_post"][:, 0],
                    **{
                        name: own(L[name]) if packed else L[name]
                        for name in ("qkv", "o", "gate_up", "down")
                    },
                }
                for L in self.layers
            ]
            w = {
                "embed": self.embed,
                "inv_freq": self.inv_freq,
                "layers": layers,
                "norm": self.norm,
                "head": own(self.lm_head),
                "packed": packed,
                "head_packed": can_pack(self.device, self.lm_head.dtype),
                "cpu_kernels": use_kernel(self.device),
            }
            products = [t for L in layers for n in ("qkv", "o", "gate_up", "down") for t in L[n]]
            keys = pack_weights(products, DECODE_ROWS) if packed else []
            keys += pack_weights(w["head"], DECODE_ROWS) if w["head_packed"] else []
            weakref.finalize(self, release, keys)
            self._decode_weights = w
        return self._decode_weights

    def decode_logits(
        self, ids: torch.Tensor, positions: torch.Tensor, cache: KVCache, key_valid: torch.Tensor
    ) -> torch.Tensor:
        """`decode_logits` (the module function) on this engine's weights."""
        return decode_logits(
            self.decode_weights(),
            self.decode_spec,
            ids,
            positions,
            cache.keys,
            cache.values,
            key_valid,
        )

    def _rope(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return rope_tables(positions, self.inv_freq, self.rope_scale, self.dtype)

    def _keep_mask(self, drop: Dropout, positions, hidden: int, layer: int, site: int):
        """(M, B, T, hidden) multiplier: 0 or 1/(1-p) on model `drop.model`, 1 elsewhere."""
        u = keyed_uniform(
            drop.seed,
            STREAM_DROPOUT,
            drop.row_keys[:, 0, None, None],
            drop.row_keys[:, 1, None, None],
            positions.cpu().numpy()[:, :, None],
            layer * 2 + site,
            np.arange(hidden)[None, None, :],
        )
        keep = torch.ones((self.n_models, *u.shape), dtype=self.dtype, device=self.device)
        keep[drop.model] = torch.from_numpy(u >= drop.p).to(self.device, self.dtype) / (1 - drop.p)
        return keep

    def _attention_keep(self, drop: Dropout, rows, q_pos, k_pos, layer: int, dtype):
        """(M, B, heads, T, L) multiplier of the attention probabilities: 0 or 1/(1-p) on model
        `drop.model`, 1 elsewhere. rows (B, 2): drop.row_keys on the device; q_pos (B, T) and
        k_pos (B, L): token positions."""
        heads = torch.arange(self.n_heads, device=self.device)
        u = keyed_uniform_torch(  # the big (B, heads, T, L) shape only at the last key
            drop.seed,
            STREAM_DROPOUT,
            rows[:, 0, None, None, None],
            rows[:, 1, None, None, None],
            layer,
            heads[None, :, None, None],
            q_pos[:, None, :, None],
            k_pos[:, None, None, :],
        )
        keep = torch.ones((self.n_models, *u.shape), dtype=dtype, device=self.device)
        keep[drop.model] = (u >= drop.p).to(dtype) / (1 - drop.p)
        return keep

    @torch.no_grad()
    def forward(
        self,
        ids: torch.Tensor,
        positions: torch.Tensor,
        cache: KVCache,
        start: int,
        key_valid: torch.Tensor,
        dropout: Dropout | None = None,
    ) -> torch.Tensor:
        """Run `ids` (B, T) through every stacked model at cache slots [start, start + T).

        positions (B, T): RoPE positions of the tokens. key_valid (B, start + T) bool: which
        cache slots hold real tokens (False for left padding). Returns last-position logits
        (M, B, vocab), float32 (float64 for a float64 model).
        """
        B, T = ids.shape
        end = start + T
        x = self.embed[:, ids]  # (M, B, T, hidden)
        cos, sin = self._rope(positions)
        # (B, 1, T, end): causal within the new tokens, only real keys; a padded query may see
        # itself so that no row of the softmax is empty (its output is never used)
        q_slot = torch.arange(start, end, device=self.device)
        k_slot = torch.arange(end, device=self.device)
        mask = (k_slot[None, :] <= q_slot[:, None])[None] & key_valid[:, None, :]
        mask = (mask | (k_slot[None, :] == q_slot[:, None])[None])[:, None]
        compiled = self.compiled_decode and T == 1
        pre, post, head = _compiled() if compiled else (layer_pre, layer_post, lm_head)
        if dropout is not None and dropout.kind == "attention":
            # key positions: slot minus the row's padding (the last new token is always real)
            k_pos = k_slot[None, :] - (end - 1 - positions[:, -1:])
            acc = torch.float64 if self.dtype == torch.float64 else torch.float32
            rows = torch.as_tensor(dropout.row_keys, dtype=torch.int64).to(self.device)
        for li, L in enumerate(self.layers):
            q, k, v = pre(x, L["norm_in"], L["qkv"], cos, sin, self.n_heads, self.n_kv, self.eps)
            cache.keys[li][:, :, :, start:end] = k
            cache.values[li][:, :, :, start:end] = v
            keeps = (None, None, None)
            if dropout is not None and dropout.kind == "residual":
                keeps = tuple(
                    self._keep_mask(dropout, positions, x.shape[-1], li, site) for site in (0, 1)
                ) + (None,)
            elif dropout is not None:
                keeps = (None, None, self._attention_keep(dropout, rows, positions, k_pos, li, acc))
            x = post(
                x,
                q,
                cache.keys[li][:, :, :, :end],
                cache.values[li][:, :, :, :end],
                mask,
                L["o"],
                L["norm_post"],
                L["gate_up"],
                L["down"],
                self.eps,
                compiled,
                *keeps,
            )
        return head(x[:, :, -1], self.norm, self.lm_head, self.eps)


# The layer math as pure functions: the eager path calls them as they are; one-token steps
# in bf16 call compiled copies (fewer kernels, no dispatch overhead per op).


def layer_pre(x, norm_in, qkv, cos, sin, n_heads: int, n_kv: int, eps: float):
    """x (M, B, T, hidden) -> q (M, B, heads, T, D) and k, v (M, B, kv_heads, T, D), rotated."""
    M, B, T, _ = x.shape
    D = qkv.shape[-1] // (n_heads + 2 * n_kv)
    h = rms_norm(x, norm_in, eps).reshape(M, B * T, -1)
    q, k, v = torch.bmm(h, qkv).split([n_heads * D, n_kv * D, n_kv * D], dim=-1)
    q = rotate(q.view(M, B, T, n_heads, D).transpose(2, 3), cos, sin)
    k = rotate(k.view(M, B, T, n_kv, D).transpose(2, 3), cos, sin)
    return q, k, v.view(M, B, T, n_kv, D).transpose(2, 3)


def layer_post(
    x,
    q,
    k,
    v,
    mask,
    o,
    norm_post,
    gate_up,
    down,
    eps: float,
    fused: bool,
    o_keep=None,
    f_keep=None,
    att_keep=None,
):
    """Attention output, MLP and both residuals; `*_keep` are optional dropout multipliers
    (of the attention output, the MLP output, the attention probabilities)."""
    M, B, T, _ = x.shape
    att = attend(q, k, v, mask, fused, att_keep)
    a = torch.bmm(att.transpose(2, 3).reshape(M, B * T, -1), o).view(M, B, T, -1)
    x = x + (a if o_keep is None else a * o_keep)
    h = rms_norm(x, norm_post, eps).view(M, B * T, -1)
    gate, up = torch.bmm(h, gate_up).chunk(2, dim=-1)
    f = torch.bmm(F.silu(gate) * up, down).view(M, B, T, -1)
    return x + (f if f_keep is None else f * f_keep)


def lm_head(x, norm, weight, eps: float):
    """Final norm and vocabulary projection of the last position: (M, B, vocab) logits, in
    the dtype of `norm` and `weight` (float32, or float64), whatever the dtype of x."""
    return torch.bmm(rms_norm(x.to(weight.dtype), norm, eps), weight)


_COMPILED: tuple | None = None


def _compiled():
    """Compiled copies of (layer_pre, layer_post, lm_head), made on first use."""
    global _COMPILED
    if _COMPILED is None:
        _COMPILED = tuple(torch.compile(f, dynamic=True) for f in (layer_pre, layer_post, lm_head))
    return _COMPILED
