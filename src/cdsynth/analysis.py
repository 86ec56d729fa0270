"""Statistics of a study: mean-max checkpoint selection, paired bootstrap, mu-Delta-REL.

Pure functions on plain data; no I/O.

    best = mean_max({seed: {step: score}}, lower_is_better=False)   # -> MeanMax
    cmp = paired_bootstrap(method_items, baseline_items, statistic, B=1000, seed=0)
    relative_improvement(m, b, lower_is_better)                      # (m - b) / b or (b - m) / b
    mu_delta_rel({task: rel}, exclude=("perplexity",))

Item lists are per seed (the seed's selected checkpoint); both sides are resampled with the
same item indices (items are matched by id). A `statistic(items_per_seed, idx)` returns the
task score averaged over seeds on the items `idx`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from scipy.stats import spearmanr

LOWER_IS_BETTER = {"perplexity"}


@dataclass(frozen=True)
class MeanMax:
    value: float  # mean over seeds of each seed's best checkpoint score
    per_seed: dict  # seed -> best score
    steps: dict  # seed -> step of the best checkpoint


def mean_max(scores: dict, lower_is_better: bool = False) -> MeanMax:
    """scores: {seed: {step: score}}. Per seed the best checkpoint (ties: the earliest step)."""
    per_seed, steps = {}, {}
    for seed, by_step in scores.items():
        finite = {s: v for s, v in by_step.items() if v is not None and math.isfinite(v)}
        if not finite:
            continue
        key = (lambda s: (finite[s], -s)) if not lower_is_better else (lambda s: (-finite[s], -s))
        best = max(finite, key=key)
        per_seed[seed], steps[seed] = finite[best], best
    value = float(np.mean(list(per_seed.values()))) if per_seed else float("nan")
    return MeanMax(value, per_seed, steps)


def relative_improvement(method: float, baseline: float, lower_is_better: bool = False) -> float:
    """(m - b) / b, or (b - m) / b when lower is better (perplexity)."""
    if baseline == 0:
        return float("nan")
    return (baseline - method) / baseline if lower_is_better else (method - baseline) / baseline


def mu_delta_rel(relative: dict, exclude: Sequence[str] = ("perplexity",)) -> float:
    """Mean relative improvement over the tasks not in `exclude`."""
    vals = [v for t, v in relative.items() if t not in exclude and math.isfinite(v)]
    return float(np.mean(vals)) if vals else float("nan")


# --- statistics on items --------------------------------------------------------------------


def accuracy_statistic(items_per_seed: list[list[dict]], idx: np.ndarray) -> float:
    """Macro mean over subtasks of mean correctness, averaged over seeds."""
    vals = []
    for items in items_per_seed:
        groups: dict[str, list[float]] = {}
        for i in idx:
            groups.setdefault(items[i]["subtask"], []).append(float(items[i]["correct"]))
        vals.append(np.mean([np.mean(v) for v in groups.values()]))
    return float(np.mean(vals))


def perplexity_statistic(items_per_seed, idx) -> float:
    vals = []
    for items in items_per_seed:
        nll = sum(items[i]["nll"] for i in idx)
        tokens = sum(items[i]["tokens"] for i in idx)
        vals.append(math.exp(nll / max(tokens, 1)))
    return float(np.mean(vals))


def spearman_statistic(items_per_seed, idx) -> float:
    vals = []
    for items in items_per_seed:
        p = [items[i]["p_first"] for i in idx]
        r = [items[i]["ratio"] for i in idx]
        vals.append(spearmanr(p, r).statistic if len(set(p)) > 1 and len(set(r)) > 1 else 0.0)
    return float(np.mean(vals))


STATISTICS: dict[str, Callable] = {
    "accuracy": accuracy_statistic,
    "perplexity": perplexity_statistic,
    "spearman": spearman_statistic,
}


def align(method: list[list[dict]], baseline: list[list[dict]]):
    """Restrict every seed's items to the ids all of them share, in one order."""
    ids = None
    for items in method + baseline:
        s = {it["id"] for it in items}
        ids = s if ids is None else ids & s
    order = sorted(ids or [])

    def pick(items):
        by_id = {it["id"]: it for it in items}
        return [by_id[i] for i in order]

    return [pick(x) for x in method], [pick(x) for x in baseline]


@dataclass(frozen=True)
class Comparison:
    method: float  # the statistic on all shared items
    baseline: float
    diff: float  # method - baseline
    ci: tuple[float, float]  # 95% percentile interval of the bootstrap differences
    p: float  # (count + 1) / (B + 1), count = resamples whose difference has the other sign
    n_items: int


def paired_bootstrap(
    method: list[list[dict]],
    baseline: list[list[dict]],
    statistic: Callable,
    B: int = 1000,
    seed: int = 0,
    strata: Sequence | None = None,
) -> Comparison:
    """Paired bootstrap over shared items: both sides are resampled with the same indices.

    With `strata` (one label per item, e.g. the subtask), items are resampled within each
    stratum so that every subtask keeps its size. p counts resamples where the difference is
    <= 0 (for an observed difference > 0) or >= 0 (for one < 0): a one-sided p in the
    direction of the observed effect.
    """
    method, baseline = align(method, baseline)
    n = len(method[0])
    if n == 0:
        raise ValueError("the two sides share no items")
    all_idx = np.arange(n)
    m0, b0 = statistic(method, all_idx), statistic(baseline, all_idx)
    diff = m0 - b0
    rng = np.random.default_rng(seed)
    if strata is None:
        strata = [it["subtask"] for it in method[0]]
    groups = {}
    for i, s in enumerate(strata):
        groups.setdefault(s, []).append(i)
    groups = [np.array(g) for g in groups.values()]
    diffs = np.empty(B)
    for b in range(B):
        idx = np.concatenate([g[rng.integers(0, len(g), len(g))] for g in groups])
        diffs[b] = statistic(method, idx) - statistic(baseline, idx)
    count = int((diffs <= 0).sum()) if diff > 0 else int((diffs >= 0).sum())
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return Comparison(m0, b0, diff, (float(lo), float(hi)), (count + 1) / (B + 1), n)


def significance_mark(p: float) -> str:
    return "**" if p < 0.01 else "*" if p < 0.05 else ""
