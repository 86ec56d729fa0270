"""Seeded, stratified random subsets of task files (`evaluate.max_items`,
`evaluate.perplexity_documents`).

    rows = sample_rows(rows, 50, seed=0, salt="entity_tracking/regular", stratum="numops")

A subset is a function of (seed, salt, the rows of that file) only: not of the order in which
files are read, nor of which other files exist. Within a file, the n rows are allocated to the
strata (the values of the `stratum` field; a row without it belongs to stratum None) and each
stratum's rows are drawn without replacement; the kept rows stay in file order.

Allocation follows how the task's score weighs the strata:
- `equal=False` (proportional): the score pools a file's items (EWoK: accuracy over a domain's
  items, whatever their concept; perplexity: tokens of all sources), so each stratum gets its
  share of n by largest remainder, and at least one row when n >= the number of strata;
- `equal=True`: the score averages per-stratum scores (entity tracking: accuracy per numops,
  then the mean), so each stratum gets the same count where it has the rows (water-filling).
When n is smaller than the number of strata, n strata are drawn at random, one row each.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np


def keyed_rng(seed: int, *keys) -> np.random.Generator:
    """A generator that depends on the seed and the keys only (sha256 of their text)."""
    digest = hashlib.sha256("\x1f".join(str(k) for k in keys).encode()).digest()
    return np.random.default_rng([int(seed) % 2**32, *np.frombuffer(digest[:16], dtype=np.uint32)])


def allocate(sizes: dict, n: int, equal: bool, rng: np.random.Generator) -> dict:
    """{stratum: rows to keep}, summing to min(n, total rows)."""
    keys = sorted(sizes, key=str)
    total = sum(sizes.values())
    if n >= total:
        return dict(sizes)
    if n < len(keys):
        chosen = {keys[i] for i in rng.choice(len(keys), size=n, replace=False)}
        return {k: int(k in chosen) for k in keys}
    if equal:
        out = dict.fromkeys(keys, 0)
        order = [keys[i] for i in rng.permutation(len(keys))]  # who gets the odd rows
        left = n
        while left:
            open_ = [k for k in order if out[k] < sizes[k]]
            share = max(left // len(open_), 1)
            for k in open_:
                take = min(share, sizes[k] - out[k], left)
                out[k] += take
                left -= take
                if not left:
                    break
        return out
    # proportional: largest remainder, then one row for each stratum left empty, taken from
    # the most over-allocated stratum
    quota = {k: n * sizes[k] / total for k in keys}
    out = {k: math.floor(quota[k]) for k in keys}
    left = n - sum(out.values())
    for k in sorted(keys, key=lambda k: quota[k] - out[k], reverse=True)[:left]:
        out[k] += 1
    for k in [k for k in keys if out[k] == 0]:
        donor = max((d for d in keys if out[d] > 1), key=lambda d: out[d] - quota[d])
        out[donor] -= 1
        out[k] = 1
    return out


def sample_rows(
    rows: list[dict],
    n: int | None,
    seed: int,
    salt: str,
    stratum: str | None = None,
    equal: bool = False,
) -> list[dict]:
    """n rows of one file, stratified by the `stratum` field; all rows when n is None/0."""
    if not n or n >= len(rows):
        return list(rows)
    groups: dict = {}
    for i, row in enumerate(rows):
        key = row.get(stratum) if stratum else None
        groups.setdefault(str(key) if key is not None else None, []).append(i)
    counts = allocate(
        {k: len(v) for k, v in groups.items()}, n, equal, keyed_rng(seed, salt, "strata")
    )
    keep = []
    for key, idx in groups.items():
        pick = keyed_rng(seed, salt, key).permutation(len(idx))[: counts[key]]
        keep.extend(idx[j] for j in pick)
    return [rows[i] for i in sorted(keep)]


def sample_files(
    files: dict[str, list[dict]],
    n: int | None,
    seed: int,
    task: str,
    stratum: str | None = None,
    equal: bool = False,
) -> tuple[dict[str, list[dict]], dict]:
    """({file: its subset}, the record of the rule) with n rows per file."""
    out = {
        name: sample_rows(rows, n, seed, f"{task}/{name}", stratum, equal)
        for name, rows in files.items()
    }
    return out, record(n, seed, stratum, equal, "per_file")


def record(n: int | None, seed: int, stratum: str | None, equal: bool, unit: str) -> dict:
    """What a task result stores under extra["subset"]."""
    if not n:
        return {"method": "all"}
    return {
        "method": "stratified_random" if stratum else "random",
        "seed": seed,
        unit: n,
        "stratum": stratum,
        "allocation": ("equal" if equal else "proportional") if stratum else None,
    }
