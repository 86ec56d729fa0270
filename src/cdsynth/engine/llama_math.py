"""LLaMA math shared by the hand-written forwards (the decoding engine in lean.py and its
one-token step in decode_step.py, the scoring body in packed_llama.py); each is tested against
transformers.

    cos, sin = rope_tables(positions, inv_freq, scale, dtype)   # (B, 1, T, D) each
    q = rotate(q, cos, sin)                                    # RoPE, HF's rotate_half layout
    h = rms_norm(x, weight, eps)                               # LlamaRMSNorm
    qkv = fused_qkv(layer)   gate_up = fused_gate_up(layer)    # one product instead of 3 / 2
    out = attend(q, k, v, mask, fused)                         # softmax attention, GQA
"""

from __future__ import annotations

import math

import torch


def rope_tables(
    positions: torch.Tensor, inv_freq: torch.Tensor, scale: float, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of LLaMA's default RoPE for integer `positions` (B, T): (B, 1, T, D) each,
    computed in float32 and cast to `dtype`, as LlamaRotaryEmbedding does."""
    freqs = positions[..., None].float() * inv_freq
    emb = torch.cat((freqs, freqs), dim=-1)
    return (emb.cos() * scale).to(dtype)[:, None], (emb.sin() * scale).to(dtype)[:, None]


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return x * cos + torch.cat((-x[..., half:], x[..., :half]), dim=-1) * sin


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """LlamaRMSNorm: statistics in float32 (float64 stays float64)."""
    h = x.float() if x.dtype != torch.float64 else x
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
    return weight * h.to(x.dtype)


def fused_qkv(layer) -> torch.Tensor:
    """The q, k and v projections of an HF LlamaDecoderLayer as one (q+k+v, hidden) weight."""
    att = layer.self_attn
    return torch.cat([att.q_proj.weight, att.k_proj.weight, att.v_proj.weight]).detach()


def fused_gate_up(layer) -> torch.Tensor:
    """The gate and up projections of an HF LlamaDecoderLayer as one (2 ffn, hidden) weight."""
    return torch.cat([layer.mlp.gate_proj.weight, layer.mlp.up_proj.weight]).detach()


def attend(q, k, v, mask, fused: bool, keep=None):
    """Softmax attention; q (M, B, H, T, D), k and v (M, B, KV, L, D), mask (B, 1, T, L).
    `fused` (one query per row): products and sums the compiler fuses into one pass over the
    cache; otherwise matmuls. Scores in float32 (float64 for a float64 model). `keep`
    (M, B, H, T, L): an optional dropout multiplier of the attention probabilities."""
    if k.shape[2] != q.shape[2]:
        rep = q.shape[2] // k.shape[2]
        k, v = k.repeat_interleave(rep, dim=2), v.repeat_interleave(rep, dim=2)
    acc = torch.float64 if q.dtype == torch.float64 else torch.float32
    scale = 1.0 / math.sqrt(q.shape[-1])
    if fused:
        s = (q.to(acc) * k.to(acc)).sum(-1) * scale  # (M, B, H, L)
        p = torch.softmax(s.masked_fill(~mask[:, :, 0], -math.inf), dim=-1)
        p = p if keep is None else p * keep[:, :, :, 0]
        return (p.unsqueeze(-1) * v.to(acc)).sum(-2, keepdim=True).to(q.dtype)
    s = torch.matmul(q.to(acc), k.to(acc).transpose(-1, -2)) * scale
    p = torch.softmax(s.masked_fill(~mask, -math.inf), dim=-1)
    p = p if keep is None else p * keep
    return torch.matmul(p, v.to(acc)).to(q.dtype)
