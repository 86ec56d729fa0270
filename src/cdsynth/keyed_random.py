"""Counter-based randomness: a uniform number is a pure function of its integer keys.

    keyed_uniform(seed, STREAM_SAMPLE, prefix_id, completion_id, step)   # float64 in [0, 1)

No generator state, so the text of completion (i, j) does not depend on which batch, shard
or process produced it, or on where a run was resumed. Keys broadcast like numpy arrays.
Mixing is splitmix64 (Steele et al.), applied once per key.
"""

from __future__ import annotations

import numpy as np

STREAM_SAMPLE = 1  # the uniform that picks token t of completion (i, j)
STREAM_DROPOUT = 2  # dropout masks of a dropout amateur

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


def keyed_hash(*keys) -> np.ndarray:
    h = _splitmix64(np.asarray(keys[0], dtype=np.int64).astype(np.uint64))
    for k in keys[1:]:
        h = _splitmix64(h ^ np.asarray(k, dtype=np.int64).astype(np.uint64))
    return h


def keyed_uniform(*keys) -> np.ndarray:
    """float64 uniforms in [0, 1) with 53 random bits, shaped like the broadcast keys."""
    return (keyed_hash(*keys) >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
