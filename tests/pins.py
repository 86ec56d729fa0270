"""Pins that travel between CPUs: a result's exact part (every token, text, count, name and
field) compared exactly, its floats to a stated tolerance. A CPU with other vector units
(AVX2 vs AVX-512) or another torch sums in another order, so float statistics move in their
last digits; nothing else may."""

import hashlib
import json

import numpy as np

# absolute and relative. Float64 runs of the lean engine moved by ~1e-14 between AVX-512 and
# AVX2; the generic engine by ~2e-9 (transformers' GPT-NeoX rotary tables are float32 even
# in a float64 model, and AVX2 and AVX-512 compute sin and cos differently)
FLOAT_TOL = 1e-6


def split_floats(obj):
    """(obj with each float replaced by "<float>", [the floats in order]); dict keys sorted."""
    floats: list[float] = []

    def walk(x):
        if isinstance(x, float):
            floats.append(x)
            return "<float>"
        if isinstance(x, dict):
            return {k: walk(x[k]) for k in sorted(x)}
        if isinstance(x, (list, tuple)):
            return [walk(v) for v in x]
        return x

    return walk(obj), floats


def pin_of(obj) -> dict:
    """What is pinned of a result: the hash of its exact part and its floats."""
    exact, floats = split_floats(obj)
    return {"exact": hashlib.sha256(json.dumps(exact).encode()).hexdigest(), "floats": floats}


def pin_differences(got: dict, want: dict) -> list[str]:
    """How `got` differs from the pin `want`: the exact part, or a float beyond FLOAT_TOL."""
    out = []
    if got["exact"] != want["exact"]:
        out.append("a token, text, count or field differs")
    g, w = np.asarray(got["floats"]), np.asarray(want["floats"])
    if g.shape != w.shape:
        out.append(f"{len(g)} float statistics, pinned {len(w)}")
    else:
        bad = ~np.isclose(g, w, rtol=FLOAT_TOL, atol=FLOAT_TOL, equal_nan=True)
        if bad.any():
            i = int(np.argmax(bad))
            out.append(
                f"{int(bad.sum())} float statistics beyond {FLOAT_TOL}: {g[i]!r} vs {w[i]!r}"
            )
    return out
