"""A LLaMA body and output layer for scoring, on weights packed once for oneDNN.

`transformers.LlamaModel` is the reference: `PackedLlama(hf_model)(ids, positions, mask)`
returns the same final hidden states (tests compare the two on the same weights and inputs).
It fuses the q/k/v and the gate/up products into one product each, and runs every product on
weights reordered once for oneDNN: on the 2-core AVX-512 VM of BENCHMARKS.md that is
1.2-1.4x the default float32 matmul at scoring shapes (~1.8x for the output layer at 512
rows). Used on a CPU for float32 and bfloat16; the weights are a snapshot of the model when
the scorer is made.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .kernels import packed_linear
from .lean import unsupported
from .llama_math import fused_gate_up, fused_qkv, rms_norm, rope_tables, rotate


def packed_output_layer(linear, rows: int):
    """The model's output layer on packed weights, or the layer itself if it is not a plain
    linear layer."""
    if not isinstance(linear, torch.nn.Linear):
        return linear
    return packed_linear(linear.weight, linear.bias, rows)


class PackedLlama:
    def __init__(self, hf_model):
        cfg = hf_model.config
        body = hf_model.model
        self.n_heads = cfg.num_attention_heads
        self.n_kv = cfg.num_key_value_heads
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // self.n_heads
        self.eps = cfg.rms_norm_eps
        self.embed = body.embed_tokens.weight.detach()
        self.inv_freq = body.rotary_emb.inv_freq.detach().float()
        self.rope_scale = float(body.rotary_emb.attention_scaling)
        self.norm = body.norm.weight.detach()
        self.layers = []
        for layer in body.layers:
            att, mlp = layer.self_attn, layer.mlp
            self.layers.append(
                (
                    layer.input_layernorm.weight.detach(),
                    packed_linear(fused_qkv(layer)),
                    packed_linear(att.o_proj.weight),
                    layer.post_attention_layernorm.weight.detach(),
                    packed_linear(fused_gate_up(layer)),
                    packed_linear(mlp.down_proj.weight),
                )
            )

    @staticmethod
    def supports(hf_model) -> bool:
        return unsupported(hf_model) is None

    @torch.no_grad()
    def __call__(
        self, input_ids: torch.Tensor, position_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """Final (normed) hidden states (B, T, hidden); attention_mask (B, 1, T, T) additive."""
        B, T = input_ids.shape
        H, KV, D = self.n_heads, self.n_kv, self.head_dim
        x = self.embed[input_ids]
        cos, sin = rope_tables(position_ids, self.inv_freq, self.rope_scale, x.dtype)
        mask = attention_mask.to(x.dtype)
        for norm_in, qkv, o, norm_post, gate_up, down in self.layers:
            q, k, v = qkv(rms_norm(x, norm_in, self.eps)).split([H * D, KV * D, KV * D], dim=-1)
            q = rotate(q.view(B, T, H, D).transpose(1, 2), cos, sin)
            k = rotate(k.view(B, T, KV, D).transpose(1, 2), cos, sin)
            v = v.view(B, T, KV, D).transpose(1, 2)
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=KV != H)
            x = x + o(a.transpose(1, 2).reshape(B, T, H * D))
            gate, up = gate_up(rms_norm(x, norm_post, self.eps)).chunk(2, dim=-1)
            x = x + down(F.silu(gate) * up)
        return rms_norm(x, self.norm, self.eps)
