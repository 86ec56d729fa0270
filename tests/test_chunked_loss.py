"""chunked_linear_cross_entropy against the reference F.cross_entropy(hidden @ W.T, targets):
the loss and the gradients with respect to the hidden states and the output layer, in float64,
for chunk sizes that divide the rows and sizes that do not, with ignored rows."""

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from cdsynth.chunked_loss import chunked_linear_cross_entropy, default_chunk_rows


def _inputs(n=37, h=8, v=50, ignored=(0, 5, 10, 36), seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(n, h, dtype=dtype, generator=g).requires_grad_()
    weight = torch.randn(v, h, dtype=dtype, generator=g).requires_grad_()
    targets = torch.randint(0, v, (n,), generator=g)
    targets[list(ignored)] = -100
    return hidden, weight, targets


def _loss_and_grads(fn, hidden, weight, scale=3.0):
    loss = fn()
    grads = torch.autograd.grad(loss * scale, (hidden, weight))
    return loss.detach(), *grads


@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("chunk_rows", [1, 4, 5, 7, 36, 37, 64, None])
def test_equals_the_reference_in_float64(reduction, chunk_rows):
    """37 rows (a prime: 4, 5, 7 and 36 leave a short last chunk), 4 of them ignored; the
    backward gets 3x the loss, so that the incoming gradient is not 1."""
    hidden, weight, targets = _inputs()
    ref = _loss_and_grads(
        lambda: F.cross_entropy(hidden @ weight.T, targets, reduction=reduction), hidden, weight
    )
    got = _loss_and_grads(
        lambda: chunked_linear_cross_entropy(
            hidden, weight, targets, reduction=reduction, chunk_rows=chunk_rows
        ),
        hidden,
        weight,
    )
    assert got[0].dtype == torch.float64
    for a, b in zip(got, ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    # the ignored rows get no gradient, and the loss is not a constant
    assert torch.all(got[1][[0, 5, 10, 36]] == 0) and got[1][1].abs().sum() > 0
    assert ref[0] > 10 if reduction == "sum" else ref[0] > 1


def test_every_row_ignored():
    hidden, weight, targets = _inputs(n=6, ignored=range(6))
    loss, gh, gw = _loss_and_grads(
        lambda: chunked_linear_cross_entropy(hidden, weight, targets, chunk_rows=4), hidden, weight
    )
    assert loss == 0 and torch.all(gh == 0) and torch.all(gw == 0)
    mean = chunked_linear_cross_entropy(hidden, weight, targets, reduction="mean")
    assert torch.isnan(mean) and torch.isnan(F.cross_entropy(hidden @ weight.T, targets))


def test_float32_within_rounding_and_no_gradient_without_need():
    hidden, weight, targets = _inputs(n=64, h=16, v=300, dtype=torch.float32)
    ref = F.cross_entropy(hidden @ weight.T, targets, reduction="sum")
    got = chunked_linear_cross_entropy(hidden, weight, targets, chunk_rows=10)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-4)
    with torch.no_grad():
        plain = chunked_linear_cross_entropy(hidden, weight, targets, chunk_rows=10)
    assert plain == got and not plain.requires_grad


def test_bf16_autocast_close_to_the_reference_under_autocast():
    """Under bf16 autocast the products run in bf16 and the softmax in float32, as the
    reference's `logits.float()`; the two agree to bf16 rounding (a relative difference of
    the whole tensor of a few bf16 ulps, 2^-8 each)."""
    hidden, weight, targets = _inputs(n=64, h=32, v=200, dtype=torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ref = _loss_and_grads(
            lambda: F.cross_entropy((hidden @ weight.T).float(), targets, reduction="sum"),
            hidden,
            weight,
        )
        got = _loss_and_grads(
            lambda: chunked_linear_cross_entropy(hidden, weight, targets, chunk_rows=24),
            hidden,
            weight,
        )
    assert got[0].dtype == torch.float32 and got[1].dtype == got[2].dtype == torch.float32
    for a, b in zip(got, ref, strict=True):
        assert torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b) < 1e-2
    fp32 = _loss_and_grads(
        lambda: chunked_linear_cross_entropy(hidden, weight, targets, chunk_rows=24),
        hidden,
        weight,
    )
    # the products did run in bf16: the gradients moved by more than float32 rounding
    assert torch.linalg.vector_norm(fp32[1] - got[1]) / torch.linalg.vector_norm(fp32[1]) > 1e-4


class _LargestTensor(TorchDispatchMode):
    """The largest number of elements of any tensor an op returns."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, tuple | list) else (out,):
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel())
        return out


def test_the_whole_logits_never_exist():
    """Forward and backward: no tensor as large as [N, V]; the reference makes several."""
    n, v = 64, 500
    hidden, weight, targets = _inputs(n=n, h=8, v=v)
    with _LargestTensor() as seen:
        chunked_linear_cross_entropy(hidden, weight, targets, chunk_rows=16).backward()
    assert seen.largest == 16 * v  # one chunk's logits
    with _LargestTensor() as seen:
        F.cross_entropy(hidden @ weight.T, targets, reduction="sum").backward()
    assert seen.largest == n * v


def test_default_chunk_rows_is_ligers_rule():
    """ceil(N / ceil(V / H)) rounded up to a power of two, at most N."""
    assert default_chunk_rows(32 * 1024, 768, 32000) == 1024  # paper-good: 42 -> 781 -> 1024
    assert default_chunk_rows(4 * 4096, 4096, 32000) == 2048  # Liger's comment's example
    assert default_chunk_rows(128, 32, 400) == 16  # 13 -> 10 -> 16
    assert default_chunk_rows(5, 64, 10) == 5  # V <= H: one chunk
    assert default_chunk_rows(1, 8, 1000) == 1


def test_bad_arguments():
    hidden, weight, targets = _inputs(n=4, ignored=())
    with pytest.raises(ValueError, match="reduction"):
        chunked_linear_cross_entropy(hidden, weight, targets, reduction="none")
    with pytest.raises(ValueError, match="chunk_rows"):
        chunked_linear_cross_entropy(hidden, weight, targets, chunk_rows=-1)
