"""Counter-based randomness: a uniform number is a pure function of its integer keys.

    keyed_uniform(seed, STREAM_SAMPLE, prefix_id, completion_id, step)   # float64 in [0, 1)
    keyed_uniform_torch(seed, STREAM_DROPOUT, rows, layer, heads, ...)  # the same, on a device

No generator state, so the text of completion (i, j) does not depend on which batch, shard
or process produced it, or on where a run was resumed. Keys broadcast like numpy arrays.
Mixing is splitmix64 (Steele et al.), applied once per key: one function (`_splitmix64`) that
runs on numpy uint64 arrays and on torch int64 tensors (the same bits: two's-complement
wrap-around, logical shifts), so that dropout masks can be made on the model's device.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch

STREAM_SAMPLE = 1  # the uniform that picks token t of completion (i, j)
STREAM_DROPOUT = 2  # dropout masks of a dropout amateur

_CONSTANTS = (0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB)


class _Bits(NamedTuple):
    """splitmix64's constants and logical right shift in one array library's 64-bit type."""

    golden: object
    m1: object
    m2: object
    shr: Callable


def _signed(c: int) -> int:
    return c - (1 << 64) if c >= 1 << 63 else c


_NUMPY = _Bits(*(np.uint64(c) for c in _CONSTANTS), lambda z, n: z >> np.uint64(n))
_TORCH = _Bits(  # int64 bits: a logical shift masks off the sign's copies
    *(_signed(c) for c in _CONSTANTS), lambda z, n: (z >> n) & ((1 << (64 - n)) - 1)
)


def _splitmix64(x, bits: _Bits):
    z = x + bits.golden
    z = (z ^ bits.shr(z, 30)) * bits.m1
    z = (z ^ bits.shr(z, 27)) * bits.m2
    return z ^ bits.shr(z, 31)


def keyed_hash(*keys) -> np.ndarray:
    """64 mixed bits (uint64) per broadcast key tuple."""
    with np.errstate(over="ignore"):
        h = _splitmix64(np.asarray(keys[0], dtype=np.int64).astype(np.uint64), _NUMPY)
        for k in keys[1:]:
            h = _splitmix64(h ^ np.asarray(k, dtype=np.int64).astype(np.uint64), _NUMPY)
    return h


def keyed_uniform(*keys) -> np.ndarray:
    """float64 uniforms in [0, 1) with 53 random bits, shaped like the broadcast keys."""
    return (keyed_hash(*keys) >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def keyed_uniform_torch(*keys) -> torch.Tensor:
    """`keyed_uniform` for int64 tensor (or int) keys: float64 uniforms in [0, 1), equal to it
    on the same keys, on the keys' device, shaped like the broadcast keys."""
    dev = next((k.device for k in keys if isinstance(k, torch.Tensor)), None)
    h = _splitmix64(torch.as_tensor(keys[0], dtype=torch.int64, device=dev), _TORCH)
    for k in keys[1:]:
        h = _splitmix64(h ^ torch.as_tensor(k, dtype=torch.int64, device=dev), _TORCH)
    return _TORCH.shr(h, 11).double() * (1.0 / (1 << 53))
