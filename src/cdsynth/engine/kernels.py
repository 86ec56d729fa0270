"""Products on weights packed once for oneDNN, where torch's default CPU matmul is slow.

    y = packed_linear(w)(x)              # x @ w.T on a packed copy of w (eager code)
    keys = pack_weights([w], rows=64)    # the same, callable inside a compiled graph:
    y = linear(x, w, packed=True)        # the `cdsynth::packed_linear` op on w's packed copy

`torch.nn.functional.linear` is the reference; tests compare the two on the same weights and
inputs. On the 2-core AVX-512 VM of BENCHMARKS.md a packed product is 1.2-1.4x the default
bf16/fp32 matmul at scoring and decoding shapes, and ~3x for the float32 vocabulary product
of a decode step (64 rows x 8192 outputs: 0.6-0.8 ms against 2.1 ms, and 1.7-2.1 ms for the
MKL kernel inductor picks for a float32 product of static batch size).

A packed weight is an opaque oneDNN tensor that a compiled graph cannot take as an input, so
the graph takes the plain weight and the `cdsynth::packed_linear` op looks its packed copy up
in a table (`pack_weights` fills it, `release` empties it). Graphs thus depend on shapes, not
on which model's weights they run.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

ROWS_HINT = 2048  # rows per product that oneDNN lays the packed weights out for


def can_pack(device: torch.device, dtype: torch.dtype) -> bool:
    """Whether this torch build runs packed oneDNN products for `dtype` on `device` (probed
    once on a tiny product: some builds list oneDNN but lack these kernels). Without them
    callers use plain products, which compute the same numbers more slowly."""
    if torch.device(device).type != "cpu" or dtype not in (torch.float32, torch.bfloat16):
        return False
    return _onednn_works(dtype)


@functools.cache
def _onednn_works(dtype: torch.dtype) -> bool:
    if not torch.backends.mkldnn.is_available():
        return False
    w = torch.ones(3, 2, dtype=dtype)
    try:
        y = packed_linear(w, rows=4)(torch.ones(4, 2, dtype=dtype))
    except (RuntimeError, NotImplementedError, AttributeError):
        return False
    return bool((y == 2).all())


def packed_linear(weight: torch.Tensor, bias: torch.Tensor | None = None, rows=ROWS_HINT):
    """x -> x @ weight.T + bias, with `weight` (out, in) packed for oneDNN."""
    packed = torch.ops.mkldnn._reorder_linear_weight(weight.detach().contiguous(), rows)
    bias = None if bias is None else bias.detach()

    def run(x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        y = torch.ops.mkldnn._linear_pointwise(
            x.reshape(-1, shape[-1]).contiguous(), packed, bias, "none", [], ""
        )
        return y.view(*shape[:-1], -1)

    return run


# packed copies of plain weights, keyed by where the weight lives; an entry holds the weight
# itself, so that its memory cannot be reused by another tensor while the entry exists
_PACKED: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}


def _key(w: torch.Tensor) -> tuple:
    return (w.data_ptr(), tuple(w.shape), tuple(w.stride()), w.dtype, w.device)


def pack_weights(weights: list[torch.Tensor], rows: int) -> list[tuple]:
    """Pack each (out, in) weight for `linear(x, w, packed=True)`; returns the table keys
    to `release` when the weights are no longer used."""
    keys = []
    for w in weights:
        k = _key(w)
        if k not in _PACKED:
            _PACKED[k] = (w, torch.ops.mkldnn._reorder_linear_weight(w.detach(), rows))
        keys.append(k)
    return keys


def packed_copy(w: torch.Tensor) -> torch.Tensor:
    """The oneDNN copy `pack_weights` made of `w` (a KeyError if it made none)."""
    return _PACKED[_key(w)][1]


def release(keys: list[tuple]) -> None:
    for k in keys:
        _PACKED.pop(k, None)


def _packed_linear_cpu(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    # same address, shape, strides and dtype as a packed weight whose entry keeps it alive:
    # the same numbers. A weight not packed ahead is packed now (slower, same result).
    entry = _PACKED.get(_key(weight))
    packed = (
        entry[1]
        if entry is not None
        else torch.ops.mkldnn._reorder_linear_weight(weight.contiguous(), x.shape[0])
    )
    return torch.ops.mkldnn._linear_pointwise(x.contiguous(), packed, None, "none", [], "")


# a plain CPU kernel behind the op (torch.library.custom_op's autograd wrapper cost ~20 us a
# call inside a compiled graph; this op is for inference only)
_LIB = torch.library.Library("cdsynth", "DEF")
_LIB.define("packed_linear(Tensor x, Tensor weight) -> Tensor")
_LIB.impl("packed_linear", _packed_linear_cpu, "CPU")


@torch.library.register_fake("cdsynth::packed_linear")
def _(x, weight):
    return x.new_empty(x.shape[0], weight.shape[0])


def linear(x: torch.Tensor, weight: torch.Tensor, packed: bool) -> torch.Tensor:
    """x (rows, in) @ weight.T for a plain (out, in) weight; with `packed`, on the oneDNN
    copy `pack_weights` made (the `cdsynth::packed_linear` op, usable in a compiled graph)."""
    return torch.ops.cdsynth.packed_linear(x, weight) if packed else F.linear(x, weight)
