"""The output layer and the cross-entropy together, over chunks of rows: the full
[tokens, vocabulary] logits never exist at once, in the forward or the backward.

    loss = chunked_linear_cross_entropy(hidden, weight, targets)   # hidden [N, H], weight [V, H]

equals `F.cross_entropy(hidden @ weight.T, targets, ignore_index=-100, reduction="sum")` and
has the same gradients with respect to `hidden` and `weight` (to rounding; in float64 to
~1e-15 relative). It is Liger-Kernel's fused linear cross-entropy
(`liger_kernel/ops/fused_linear_cross_entropy.py`, after mgmalek/efficient_cross_entropy)
written with PyTorch ops instead of a Triton kernel: the loss is the last layer, so the
forward computes the gradients too, chunk by chunk, and the backward only scales them by the
incoming gradient. Per chunk of C rows:

    logits = x_c @ W.T                       # [C, V], in the matmul's dtype (bf16 under autocast)
    z      = logits in at least float32      # as the reference's `logits.float()`
    loss_c = logsumexp(z) - z[target]        # 0 on ignored rows
    g      = softmax(z) - onehot(target)     # d loss_c / d z; 0 on ignored rows
    dx_c   = g @ W,   dW += g.T @ x_c        # g cast back to the logits' dtype first

The peak extra memory is one chunk's logits and their softmax instead of the whole batch's,
plus `dW` (one weight's size, float32 or wider) and `dx` (the hidden states' size) held from
the forward to the backward. The arithmetic is the reference's: the same three products, none
recomputed. The sum over rows is taken chunk by chunk, so in float32 the loss and `dW` differ
from the reference in their last bits (and under bf16 autocast `dW` is summed in float32 over
chunks where the reference rounds the whole product to bf16 once).

Chunks: `chunk_rows` rows (the last one may be shorter), by default Liger's rule, which keeps
a chunk's logits near the size of the hidden states: ceil(N / ceil(V / H)) rounded up to a
power of two, at most N.
"""

from __future__ import annotations

import math

import torch

IGNORE_INDEX = -100


def default_chunk_rows(n_rows: int, hidden: int, vocab: int) -> int:
    """Liger's chunk size: the rows whose [rows, V] logits are about as large as the [N, H]
    hidden states, rounded up to a power of two, at most `n_rows` (and at least 1)."""
    growth = math.ceil(vocab / hidden)
    rows = 1 << max(0, math.ceil(n_rows / growth) - 1).bit_length()
    return max(1, min(rows, n_rows))


class _ChunkedLinearCrossEntropy(torch.autograd.Function):
    """Forward: the summed loss, and the gradients of that sum (kept for the backward).
    Backward: those gradients times the incoming gradient (a scalar)."""

    @staticmethod
    def forward(ctx, hidden, weight, targets, ignore_index: int, chunk_rows: int):
        n_rows = hidden.shape[0]
        want_grad = ctx.needs_input_grad[0] or ctx.needs_input_grad[1]
        keep = targets != ignore_index
        safe = torch.where(keep, targets, 0)  # ignored rows read column 0, then count 0
        wide = torch.promote_types(torch.promote_types(hidden.dtype, weight.dtype), torch.float32)
        losses = []
        if want_grad:  # filled chunk by chunk, in place (dW summed in float32 or wider)
            grad_hidden = torch.empty_like(hidden)
            grad_weight = torch.zeros(weight.shape, dtype=wide, device=weight.device)
        for start in range(0, n_rows, chunk_rows):
            x = hidden[start : start + chunk_rows]
            logits = x @ weight.t()  # the matmul's dtype: bf16 under autocast
            z = logits.to(wide)
            lse = torch.logsumexp(z, dim=-1)
            tgt = safe[start : start + chunk_rows, None]
            row_keep = keep[start : start + chunk_rows]
            losses.append(torch.where(row_keep, lse - z.gather(1, tgt).squeeze(1), 0.0))
            if want_grad:
                g = torch.exp(z - lse[:, None])
                g = g.scatter_add(1, tgt, torch.full_like(tgt, -1, dtype=g.dtype))
                g = (g * row_keep[:, None]).to(logits.dtype)
                grad_hidden[start : start + chunk_rows] = g @ weight
                grad_weight += g.t() @ x
        loss = torch.cat(losses).sum()
        if want_grad:
            ctx.save_for_backward(grad_hidden, grad_weight.to(weight.dtype))
        return loss

    @staticmethod
    def backward(ctx, grad_loss):
        grad_hidden, grad_weight = ctx.saved_tensors
        return grad_hidden * grad_loss, grad_weight * grad_loss, None, None, None


def chunked_linear_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    *,
    ignore_index: int = IGNORE_INDEX,
    reduction: str = "sum",
    chunk_rows: int | None = None,
) -> torch.Tensor:
    """Cross-entropy of the logits `hidden @ weight.T` against `targets`, computed over chunks
    of `chunk_rows` rows (default `default_chunk_rows`).

    hidden: [N, H] (float32, float64, or any dtype under autocast); weight: [V, H] (the output
    layer, no bias); targets: [N] token ids, `ignore_index` where a row has no target.
    reduction: "sum" (over the rows with a target) or "mean" (that sum over their count; NaN
    when no row has a target, as `F.cross_entropy`). Returns a 0-d tensor in at least float32.
    Nothing here reads a tensor on the host.
    """
    if reduction not in ("sum", "mean"):
        raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")
    n_rows, width = hidden.shape
    rows = chunk_rows or default_chunk_rows(n_rows, width, weight.shape[0])
    if rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    loss = _ChunkedLinearCrossEntropy.apply(hidden, weight, targets, ignore_index, rows)
    if reduction == "mean":
        return loss / (targets != ignore_index).sum()
    return loss
