"""A minimal LLaMA forward for decoding, with a preallocated KV cache.

`transformers.LlamaForCausalLM` is the reference: `LeanLlama` takes its weights and computes the
same logits (tests compare the two on the same weights and inputs), without the per-step
overhead that dominates decoding small models on a CPU. Differences from a plain HF forward:

- one preallocated K and V tensor per layer, written in place (no `torch.cat` growth);
- explicit per-row `positions` and a per-row key mask, so left-padded prefixes get the same
  positions as unpadded ones;
- logits for the last position only, returned in float32 (float64 in a float64 model);
- optional dropout on the attention and MLP outputs (a "dropout amateur"), with masks from
  keyed randomness so they do not depend on batching.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .errors import UserError
from .keyed_random import STREAM_DROPOUT, keyed_uniform


@dataclass
class KVCache:
    keys: list[torch.Tensor]  # per layer (batch, kv_heads, max_len, head_dim)
    values: list[torch.Tensor]


@dataclass(frozen=True)
class Dropout:
    """Dropout for an amateur: probability `p`; `row_keys` (batch, 2) are (prefix, completion)
    ids, so a mask depends on (seed, row key, position, layer, site, unit) only."""

    p: float
    seed: int
    row_keys: np.ndarray


class LeanLlama:
    """Weights of a LlamaForCausalLM laid out for decoding."""

    def __init__(self, hf_model, dtype: torch.dtype = torch.float32, device="cpu"):
        cfg = hf_model.config
        if getattr(cfg, "model_type", "") != "llama":
            raise UserError(f"only LLaMA checkpoints are supported, got model_type={cfg.model_type}")
        if getattr(cfg, "attention_bias", False) or getattr(cfg, "mlp_bias", False):
            raise UserError("LLaMA checkpoints with attention or MLP biases are not supported")
        if getattr(cfg, "hidden_act", "silu") != "silu":
            raise UserError(f"unsupported activation {cfg.hidden_act}")
        rope = hf_model.model.rotary_emb
        if getattr(rope, "rope_type", "default") != "default":
            raise UserError(f"unsupported RoPE type {rope.rope_type}")
        self.config = cfg
        self.dtype = dtype
        self.device = torch.device(device)
        self.n_heads = cfg.num_attention_heads
        self.n_kv = cfg.num_key_value_heads
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // self.n_heads
        self.eps = cfg.rms_norm_eps
        self.vocab_size = cfg.vocab_size
        self.inv_freq = rope.inv_freq.detach().float().to(self.device)
        self.rope_scale = float(rope.attention_scaling)

        def w(t):
            return t.detach().to(self.device, dtype).contiguous()

        m = hf_model.model
        self.embed = w(m.embed_tokens.weight)
        self.layers = []
        for layer in m.layers:
            a, f = layer.self_attn, layer.mlp
            qkv = torch.cat([a.q_proj.weight, a.k_proj.weight, a.v_proj.weight], dim=0)
            self.layers.append(
                dict(
                    norm_in=w(layer.input_layernorm.weight),
                    qkv=w(qkv.t()),
                    o=w(a.o_proj.weight.t()),
                    norm_post=w(layer.post_attention_layernorm.weight),
                    gate_up=w(torch.cat([f.gate_proj.weight, f.up_proj.weight], dim=0).t()),
                    down=w(f.down_proj.weight.t()),
                )
            )
        self.norm = w(m.norm.weight)
        self.lm_head = w(hf_model.lm_head.weight.t())

    def new_cache(self, batch: int, max_len: int) -> KVCache:
        shape = (batch, self.n_kv, max_len, self.head_dim)
        mk = lambda: torch.zeros(shape, dtype=self.dtype, device=self.device)  # noqa: E731
        n = len(self.layers)
        return KVCache([mk() for _ in range(n)], [mk() for _ in range(n)])

    def _norm(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        h = x.float() if x.dtype != torch.float64 else x
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return weight * h.to(x.dtype)

    def _rope(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        freqs = positions[..., None].float() * self.inv_freq
        emb = torch.cat((freqs, freqs), dim=-1)
        cos = (emb.cos() * self.rope_scale).to(self.dtype)[:, None]  # (B, 1, T, D)
        sin = (emb.sin() * self.rope_scale).to(self.dtype)[:, None]
        return cos, sin

    @staticmethod
    def _rotate(x, cos, sin):
        half = x.shape[-1] // 2
        rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
        return x * cos + rotated * sin

    def _dropout(self, x, drop: Dropout, positions, layer: int, site: int):
        hidden = x.shape[-1]
        u = keyed_uniform(
            drop.seed, STREAM_DROPOUT,
            drop.row_keys[:, 0, None, None], drop.row_keys[:, 1, None, None],
            positions.cpu().numpy()[:, :, None], layer * 2 + site, np.arange(hidden)[None, None, :],
        )
        keep = torch.from_numpy(u >= drop.p).to(x.device)
        return x * keep.to(x.dtype) / (1.0 - drop.p)

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
        """Run `ids` (B, T) at cache slots [start, start + T); return last-position logits.

        positions (B, T): RoPE positions of the tokens. key_valid (B, start + T) bool: which
        cache slots hold real tokens (False for left padding). Logits (B, vocab), float32
        (float64 for a float64 model).
        """
        B, T = ids.shape
        end = start + T
        x = self.embed[ids]
        cos, sin = self._rope(positions)
        # (B, 1, T, end): causal within the new tokens, only real keys; a padded query may see
        # itself so that no row of the softmax is empty (its output is never used)
        q_slot = torch.arange(start, end, device=self.device)
        k_slot = torch.arange(end, device=self.device)
        mask = (k_slot[None, :] <= q_slot[:, None])[None] & key_valid[:, None, :]
        mask = mask | (k_slot[None, :] == q_slot[:, None])[None]
        mask = mask[:, None]
        H, KV, D = self.n_heads, self.n_kv, self.head_dim
        for li, L in enumerate(self.layers):
            h = self._norm(x, L["norm_in"])
            q, k, v = (h @ L["qkv"]).split([H * D, KV * D, KV * D], dim=-1)
            q = self._rotate(q.view(B, T, H, D).transpose(1, 2), cos, sin)
            k = self._rotate(k.view(B, T, KV, D).transpose(1, 2), cos, sin)
            v = v.view(B, T, KV, D).transpose(1, 2)
            cache.keys[li][:, :, start:end] = k
            cache.values[li][:, :, start:end] = v
            att = F.scaled_dot_product_attention(
                q, cache.keys[li][:, :, :end], cache.values[li][:, :, :end], attn_mask=mask,
                scale=1.0 / math.sqrt(D), enable_gqa=KV != H,
            )
            o = att.transpose(1, 2).reshape(B, T, H * D) @ L["o"]
            if dropout is not None:
                o = self._dropout(o, dropout, positions, li, 0)
            x = x + o
            h = self._norm(x, L["norm_post"])
            gate, up = (h @ L["gate_up"]).chunk(2, dim=-1)
            f = (F.silu(gate) * up) @ L["down"]
            if dropout is not None:
                f = self._dropout(f, dropout, positions, li, 1)
            x = x + f
        x = self._norm(x[:, -1], self.norm)
        logits = x @ self.lm_head
        return logits if logits.dtype == torch.float64 else logits.float()


def load_lean(path: str, dtype: torch.dtype, device="cpu") -> tuple[LeanLlama, object]:
    """Load a checkpoint folder with transformers and lay it out for decoding."""
    from transformers import AutoModelForCausalLM

    hf = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    return LeanLlama(hf, dtype=dtype, device=device), hf.config
