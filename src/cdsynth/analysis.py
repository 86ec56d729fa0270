"""Statistics of a study: mean-max selection, the bootstrap, mu-Delta-REL, the paper's claims
and the corpus diagnostics.

Pure functions on plain data; no I/O.

    best = mean_max({seed: {step: score}}, lower_is_better=False)      # -> MeanMax
    check = held_out_mean_max({seed: {step: items}}, statistic)       # select on half A, report B
    boot = bootstrap_scores({method: {seed: items}}, statistic, B=1000, seed=0,
                            resample="seeds")                         # {method: BootstrapScore}
    cmp = compare(boot["cd"], boot["baseline"])                        # -> Comparison
    cmp = paired_bootstrap(method_items, baseline_items, statistic)    # the two in one call
    relative_improvement(m, b, lower_is_better)    # (m - b) / b; NaN where b <= 0 (undefined)
    mu_delta_rel({task: rel}, exclude=("perplexity",))
    claim_verdicts(summary)                        # the paper's headline claims: supported | ...

Resampling. Items are matched by id: every method and seed is restricted to the ids they all
share. `seeds` (the default) scores each seed on every item and resamples the seed mean with
`seed_weights`, whose weighted means follow the seed mean's t distribution, so two methods with
the same seeds are compared by a paired t over seeds (item noise counted once, inside each
seed's score); with one seed it resamples items within strata (the subtasks). `hierarchical`
draws seeds with replacement and items within strata in every resample (item noise counted
twice: too conservative with many seeds); `items` keeps every seed and resamples items only.
One draw of item indices serves every method, and sides with the same number of seeds share
their seed draws or weights, so any two methods' resampled scores are paired. Draws and
weights are functions of (bootstrap seed, number of seeds or strata sizes, B) only, so every
task of a study shares them and mu-Delta-REL can be resampled across tasks. Calibration and
power under simulated nulls: docs/method.md.

A statistic is `statistic(items, idx) -> scores`: one seed's items (dicts) and an int array
idx (B, n) of item indices, giving the task score of each resample, shape (B,).
"""

from __future__ import annotations

import math
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
from scipy.stats import rankdata

LOWER_IS_BETTER = {"perplexity", "perplexity_packed"}
# metrics on a positive ratio scale, where a relative change (m - b) / b means something;
# correlations and R^2 gains can be near zero or negative: they get absolute differences only
RATIO_METRICS = {"accuracy", "perplexity"}
RESAMPLING = {
    "seeds": "seeds, each scored on every item (a paired t over seeds); items with one seed",
    "hierarchical": "seeds, then items within subtasks (paired by seed and by item)",
    "items": "items within subtasks (paired by item); every seed kept",
}


@dataclass(frozen=True)
class MeanMax:
    value: float  # mean over seeds of each seed's best checkpoint score
    per_seed: dict  # seed -> best score
    steps: dict  # seed -> step of the best checkpoint


def _best_step(finite: dict, lower_is_better: bool):
    """The best step of {step: score} (ties: the earliest step)."""
    if lower_is_better:
        return max(finite, key=lambda s: (-finite[s], -s))
    return max(finite, key=lambda s: (finite[s], -s))


def mean_max(scores: dict, lower_is_better: bool = False) -> MeanMax:
    """scores: {seed: {step: score}}. Per seed the best checkpoint (ties: the earliest step)."""
    per_seed, steps = {}, {}
    for seed, by_step in scores.items():
        finite = {s: v for s, v in by_step.items() if v is not None and math.isfinite(v)}
        if not finite:
            continue
        best = _best_step(finite, lower_is_better)
        per_seed[seed], steps[seed] = finite[best], best
    value = float(np.mean(list(per_seed.values()))) if per_seed else float("nan")
    return MeanMax(value, per_seed, steps)


def split_half(item_id, seed: int = 0) -> int:
    """0 or 1: which half an item belongs to, a function of (seed, id) only."""
    return zlib.crc32(f"{seed}:{item_id}".encode()) % 2


def held_out_mean_max(
    items: dict, statistic: Callable, lower_is_better: bool = False, seed: int = 0
) -> MeanMax:
    """A check of mean-max's selection bias: each seed's checkpoint is picked on half A of
    the items and its score reported on half B (halves by `split_half`, the same for every
    run). items: {seed: {step: [item dicts]}}."""
    scores, selected = {}, {}
    for s, by_step in items.items():
        if not by_step:
            continue
        ids = set.intersection(*({it["id"] for it in v} for v in by_step.values()))
        halves = [sorted(i for i in ids if split_half(i, seed) == h) for h in (0, 1)]
        if not halves[0] or not halves[1]:
            continue
        on = {}
        for h, half in enumerate(halves):
            on[h] = {}
            for step, its in by_step.items():
                by_id = {it["id"]: it for it in its}
                picked = [by_id[i] for i in half]
                on[h][step] = float(statistic(picked, np.arange(len(picked))[None])[0])
        finite = {k: v for k, v in on[0].items() if math.isfinite(v)}
        if not finite:
            continue
        best = _best_step(finite, lower_is_better)
        scores[s], selected[s] = on[1][best], best
    value = float(np.mean(list(scores.values()))) if scores else float("nan")
    return MeanMax(value, scores, selected)


def improvement(method: float, baseline: float, lower_is_better: bool = False) -> float:
    """The signed gain: m - b, or b - m when lower is better (perplexity)."""
    return baseline - method if lower_is_better else method - baseline


def relative_improvement(method: float, baseline: float, lower_is_better: bool = False) -> float:
    """improvement / b; NaN where the baseline is not positive (a relative change of a signed
    score, e.g. a correlation of -0.05, is not defined)."""
    if not (math.isfinite(baseline) and baseline > 0 and math.isfinite(method)):
        return float("nan")
    return improvement(method, baseline, lower_is_better) / baseline


def relative_defined(metric: str, task: str = "") -> bool:
    """Whether a task's relative improvement is well defined (a positive ratio-scale metric)."""
    return metric in RATIO_METRICS


def mu_delta_rel(relative: dict, exclude: Sequence[str] = tuple(LOWER_IS_BETTER)) -> float:
    """Mean relative improvement over the tasks not in `exclude` where it is finite."""
    vals = [v for t, v in relative.items() if t not in exclude and math.isfinite(v)]
    return float(np.mean(vals)) if vals else float("nan")


# --- statistics on items --------------------------------------------------------------------


def _codes(labels) -> tuple[np.ndarray, int]:
    index: dict = {}
    codes = np.array([index.setdefault(x, len(index)) for x in labels], dtype=np.int64)
    return codes, len(index)


def accuracy_statistic(items: list[dict], idx: np.ndarray) -> np.ndarray:
    """Macro mean over subtasks of mean correctness, per resample. idx (B, n) -> (B,)."""
    idx = np.atleast_2d(idx)
    x = np.array([float(it["correct"]) for it in items])
    sub, G = _codes(it["subtask"] for it in items)
    B = idx.shape[0]
    key = (np.arange(B)[:, None] * G + sub[idx]).ravel()
    sums = np.bincount(key, weights=x[idx].ravel(), minlength=B * G).reshape(B, G)
    counts = np.bincount(key, minlength=B * G).reshape(B, G)
    present = counts > 0
    means = np.where(present, sums / np.maximum(counts, 1), 0.0)
    return means.sum(1) / np.maximum(present.sum(1), 1)


def perplexity_statistic(items: list[dict], idx: np.ndarray) -> np.ndarray:
    """exp(total NLL / total tokens) per resample."""
    idx = np.atleast_2d(idx)
    nll = np.array([float(it["nll"]) for it in items])
    tokens = np.array([float(it["tokens"]) for it in items])
    return np.exp(nll[idx].sum(1) / np.maximum(tokens[idx].sum(1), 1))


def spearman_statistic(items: list[dict], idx: np.ndarray) -> np.ndarray:
    """Spearman's rho between p_first and the human ratio per resample (0 where one side is
    constant). Ranks with ties averaged, as scipy.stats.spearmanr."""
    idx = np.atleast_2d(idx)
    p = np.array([float(it["p_first"]) for it in items])[idx]
    r = np.array([float(it["ratio"]) for it in items])[idx]
    rp, rr = rankdata(p, axis=1), rankdata(r, axis=1)
    rp -= rp.mean(1, keepdims=True)
    rr -= rr.mean(1, keepdims=True)
    den = np.sqrt((rp * rp).sum(1) * (rr * rr).sum(1))
    num = (rp * rr).sum(1)
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)


def reading_statistic(items: list[dict], idx: np.ndarray) -> np.ndarray:
    """The reading score refitted on each resample of words: the mean of
    `evaluate.reading.reading_scores` (eye tracking, self-paced reading)."""
    from .evaluate.reading import reading_scores  # imports no analysis: no cycle

    idx = np.atleast_2d(idx)
    out = np.empty(idx.shape[0])
    for b, row in enumerate(idx):
        vals = [v for v in reading_scores([items[i] for i in row]).values() if math.isfinite(v)]
        out[b] = float(np.mean(vals)) if vals else float("nan")
    return out


# The paper (and the BabyLM 2025 pipeline) report reading as two scores: each is a task of
# its own here, read from the reading task's results; "reading" is their mean (ours).
READING_PARTS = {"reading_eye_tracking": "eye_tracking", "reading_self_paced": "self_paced_reading"}


def reading_part_statistic(part: str) -> Callable:
    """One of `evaluate.reading.reading_scores` (`part`), refitted on each resample of words."""

    def statistic(items: list[dict], idx: np.ndarray) -> np.ndarray:
        from .evaluate.reading import reading_scores  # imports no analysis: no cycle

        idx = np.atleast_2d(idx)
        return np.array([reading_scores([items[i] for i in row])[part] for row in idx])

    return statistic


def first_form_statistic(items: list[dict], idx: np.ndarray) -> np.ndarray:
    """WUG as the paper's code scored it: the share of items whose first form scores at least
    as high as the second (P(first) >= 0.5), per resample."""
    first = np.array([it["p_first"] >= 0.5 for it in items], dtype=float)
    return first[np.atleast_2d(idx)].mean(axis=1)


# Tasks the paper's mu-Delta-REL may include beyond ours (its exact set is not recoverable
# from its code; its WUG was an accuracy): the report's paper-mode mu-Delta-REL adds them.
PAPER_MU_EXTRA = ("wug_first_form",)

STATISTICS: dict[str, Callable] = {
    "accuracy": accuracy_statistic,
    "perplexity": perplexity_statistic,
    "spearman": spearman_statistic,
}
TASK_STATISTICS: dict[str, Callable] = {  # before the metric's
    "reading": reading_statistic,
    **{t: reading_part_statistic(part) for t, part in READING_PARTS.items()},
    "wug_first_form": first_form_statistic,
}


def statistic_for(task: str, metric: str) -> Callable | None:
    return TASK_STATISTICS.get(task) or STATISTICS.get(metric)


# --- the bootstrap --------------------------------------------------------------------------


@dataclass(frozen=True)
class BootstrapScore:
    value: float  # the statistic on all shared items, averaged over the side's seeds
    samples: np.ndarray = field(repr=False)  # (B,) resampled values
    seeds: tuple  # the seed keys used
    n_items: int
    per_seed: tuple = ()  # the statistic on all shared items, one value per seed (in `seeds` order)

    def ci(self, level: float = 0.95) -> tuple[float, float]:
        return _percentile_ci(self.samples, level)


def _percentile_ci(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    s = samples[np.isfinite(samples)]
    if len(s) == 0:
        return (float("nan"), float("nan"))
    a = 100 * (1 - level) / 2
    lo, hi = np.percentile(s, [a, 100 - a])
    return (float(lo), float(hi))


def _as_seeds(side) -> dict:
    """{seed: items}; a list of per-seed item lists is keyed by position."""
    side = dict(enumerate(side)) if isinstance(side, (list, tuple)) else dict(side)
    return {k: v for k, v in side.items() if v}


CHUNK_ELEMENTS = 4_000_000  # item indices drawn and scored at a time (memory, not results)


def item_draws(strata: Sequence, B: int, seed: int):
    """Yields blocks (b, n) of item indices, B rows in all, resampled with replacement within
    each stratum (its size kept). The draws are a function of (seed, strata, B) only."""
    groups: dict = {}
    for i, s in enumerate(strata):
        groups.setdefault(s, []).append(i)
    arrays = [np.array(g) for g in groups.values()]
    rows = max(1, CHUNK_ELEMENTS // max(len(strata), 1))
    for c, start in enumerate(range(0, B, rows)):
        rng = np.random.default_rng([seed, 1, c])
        b = min(rows, B - start)
        cols = [g[rng.integers(0, len(g), (b, len(g)))] for g in arrays]
        yield np.concatenate(cols, axis=1) if cols else np.zeros((b, 0), dtype=np.int64)


def seed_draws(n_seeds: int, B: int, seed: int) -> np.ndarray:
    """(B, n_seeds) positions into a sorted seed list, drawn with replacement."""
    return np.random.default_rng([seed, 0, n_seeds]).integers(0, n_seeds, (B, n_seeds))


def seed_weights(n_seeds: int, B: int, seed: int) -> np.ndarray:
    """(B, n_seeds) weights, each row summing to 1, for the `seeds` scheme: for any per-seed
    values v, `weights @ v` is distributed as mean(v) + t_(S-1) x sd(v) / sqrt(S), the
    one-sample t distribution of a mean over S seeds. Row b is 1/S + r_b (z_b - mean z_b) /
    sqrt(S (S - 1)) with z_b standard normal and r_b = sqrt(nu / chi2_nu), nu = S - 1 (a normal
    over an independent chi / sqrt(nu) is a t). A function of (seed, S, B) only, so sides and
    tasks with the same number of seeds share it: their differences are paired by seed."""
    S = n_seeds
    if S < 2:
        raise ValueError("seed weights need at least two seeds")
    rng = np.random.default_rng([seed, 2, S])
    z = rng.standard_normal((B, S))
    z -= z.mean(axis=1, keepdims=True)
    r = np.sqrt((S - 1) / rng.chisquare(S - 1, B))
    return 1 / S + r[:, None] * z / math.sqrt(S * (S - 1))


def bootstrap_scores(
    sides: Mapping[str, object],
    statistic: Callable,
    B: int = 1000,
    seed: int = 0,
    resample: str = "seeds",
    strata: Sequence | None = None,
) -> dict[str, BootstrapScore]:
    """Resampled task scores of several methods, paired by item (and by seed where the seed
    numbers agree). sides: {name: {seed: [item dicts]}} (or a list of per-seed lists).
    Methods without items are left out of the answer; raises ValueError if the methods
    share no items."""
    if resample not in RESAMPLING:
        raise ValueError(f"resample must be one of {', '.join(RESAMPLING)}, got {resample!r}")
    sides = {k: s for k, s in ((k, _as_seeds(v)) for k, v in sides.items()) if s}
    if not sides:
        return {}
    ids = set.intersection(*({it["id"] for it in v} for s in sides.values() for v in s.values()))
    if not ids:
        raise ValueError("the methods share no items")
    first = next(iter(next(iter(sides.values())).values()))
    order = [it["id"] for it in first if it["id"] in ids]  # the first side's order
    if strata is None:
        by_id = {it["id"]: it for it in first}
        strata = [by_id[i].get("subtask", "") for i in order]
    full = np.arange(len(order))[None]
    aligned = {}
    for name, per_seed in sides.items():
        keys = sorted(per_seed, key=lambda k: (str(type(k)), k))
        by_ids = [{it["id"]: it for it in per_seed[k]} for k in keys]
        aligned[name] = (keys, [[by_id[i] for i in order] for by_id in by_ids])

    def by_seeds(keys) -> bool:  # the seeds scheme: per-seed scores, no item draws
        return resample == "seeds" and len(keys) > 1

    chunks: dict = {name: [[] for _ in keys] for name, (keys, _) in aligned.items()}
    if not all(by_seeds(keys) for keys, _ in aligned.values()):
        for idx in item_draws(strata, B, seed):
            for name, (keys, per_seed_items) in aligned.items():
                for s, items in enumerate(per_seed_items):
                    if not by_seeds(keys):
                        chunks[name][s].append(np.asarray(statistic(items, idx), dtype=float))
    out = {}
    for name, (keys, per_seed_items) in aligned.items():
        values = [float(statistic(items, full)[0]) for items in per_seed_items]
        if by_seeds(keys):
            res = seed_weights(len(keys), B, seed) @ np.array(values)
        else:
            S = np.stack([np.concatenate(c) for c in chunks[name]])  # (seeds, B)
            if resample == "hierarchical" and len(keys) > 1:
                J = seed_draws(len(keys), B, seed)  # same number of seeds -> same draws: paired
                res = S[J, np.arange(B)[:, None]].mean(1)
            else:
                res = S.mean(0)
        out[name] = BootstrapScore(
            float(np.mean(values)), res, tuple(keys), len(order), tuple(values)
        )
    return out


@dataclass(frozen=True)
class Comparison:
    method: float  # the statistic on all shared items
    baseline: float
    diff: float  # method - baseline
    ci: tuple[float, float]  # 95% percentile interval of the bootstrap differences
    p: float  # two-sided: 2 * (min(#d < 0, #d > 0) + #(d = 0) / 2 + 1) / (B + 1), <= 1
    n_items: int
    ci99: tuple[float, float] = (float("nan"), float("nan"))

    @property
    def mark(self) -> str:
        return significance_mark(self.ci, self.ci99)


def seed_differences(method: BootstrapScore, baseline: BootstrapScore) -> np.ndarray:
    """Per-seed differences method - baseline, paired by position in the sorted seed lists
    (as the `seeds` scheme pairs them); empty unless both sides have the same >= 2 seeds."""
    if len(method.per_seed) < 2 or len(method.per_seed) != len(baseline.per_seed):
        return np.array([])
    return np.array(method.per_seed) - np.array(baseline.per_seed)


def seeds_needed(method: BootstrapScore, baseline: BootstrapScore, power: float = 0.8):
    """The seeds a paired t would need to find the observed difference with `power`, from
    the measured seed-to-seed spread of the differences (None: not estimable, or > 1000)."""
    from .power import seeds_for_power

    d = seed_differences(method, baseline)
    d = d[np.isfinite(d)]
    if len(d) < 2 or not np.std(d) > 0:
        return None
    return seeds_for_power(float(d.mean()), float(d.std(ddof=1)), power)


def two_sided_p(d: np.ndarray) -> float:
    """Two-sided bootstrap p of the differences d: p < a exactly when the (1 - a) percentile
    interval (about) excludes 0."""
    d = d[np.isfinite(d)]
    if len(d) == 0:
        return float("nan")
    ties = 0.5 * int((d == 0).sum())  # a resample with no difference counts half to each side
    tail = min(int((d < 0).sum()), int((d > 0).sum())) + ties
    return min(1.0, 2 * (tail + 1) / (len(d) + 1))


def compare(method: BootstrapScore, baseline: BootstrapScore) -> Comparison:
    """Method minus baseline; both from one `bootstrap_scores` call (paired resamples)."""
    d = method.samples - baseline.samples
    return Comparison(
        method.value,
        baseline.value,
        method.value - baseline.value,
        _percentile_ci(d, 0.95),
        two_sided_p(d),
        method.n_items,
        _percentile_ci(d, 0.99),
    )


def paired_bootstrap(
    method,
    baseline,
    statistic: Callable,
    B: int = 1000,
    seed: int = 0,
    strata: Sequence | None = None,
    resample: str = "items",
) -> Comparison:
    """Paired bootstrap of method - baseline: {seed: items} (or per-seed lists) per side.

    With `strata` (one label per shared item, default the subtask), items are resampled
    within each stratum so that every subtask keeps its size. `resample="hierarchical"`
    resamples the seeds as well."""
    boot = bootstrap_scores(
        {"method": method, "baseline": baseline}, statistic, B, seed, resample, strata
    )
    if len(boot) < 2:
        raise ValueError("a side has no items")
    return compare(boot["method"], boot["baseline"])


def excludes_zero(ci) -> bool:
    return ci is not None and all(math.isfinite(x) for x in ci) and (ci[0] > 0 or ci[1] < 0)


def significance_mark(ci, ci99=None) -> str:
    """'**' where the 99% interval excludes 0, '*' where the 95% one does, else '': a star
    never stands beside an interval that includes 0."""
    if not excludes_zero(ci):
        return ""
    return "**" if ci99 is not None and excludes_zero(ci99) else "*"


def effect_direction(diff, ci, lower_is_better: bool = False) -> str | None:
    """'gain', 'loss' or None (not significant): the sign of the improvement where the 95%
    interval of the difference excludes 0. Lower perplexity is a gain."""
    if diff is None or not excludes_zero(ci):
        return None
    better = diff < 0 if lower_is_better else diff > 0
    return "gain" if better else "loss"


def mu_delta_rel_samples(
    method: Mapping[str, np.ndarray], baseline: Mapping[str, np.ndarray], lower: Mapping[str, bool]
) -> np.ndarray:
    """Resampled mu-Delta-REL: per resample the mean over the given tasks of the relative
    improvement; tasks: those in both and in `lower` ({task: lower_is_better})."""
    rels = []
    for t, low in lower.items():
        if t in method and t in baseline:
            b = baseline[t]
            with np.errstate(divide="ignore", invalid="ignore"):
                g = (b - method[t]) if low else (method[t] - b)
                rels.append(np.where(b > 0, g / b, np.nan))
    if not rels:
        return np.array([])
    with np.errstate(all="ignore"):
        return np.nanmean(np.stack(rels), axis=0)


def samples_comparison(a: np.ndarray, b: np.ndarray, diff: float) -> dict:
    """{diff, ci, ci99, p} of two paired arrays of resampled values (a - b)."""
    d = a - b
    return {
        "diff": diff,
        "ci": list(_percentile_ci(d, 0.95)),
        "ci99": list(_percentile_ci(d, 0.99)),
        "p": two_sided_p(d),
    }


# --- the paper's claims ----------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    key: str  # e.g. "above_baseline:entity_tracking"
    text: str  # the claim in words, with the study's condition and task
    verdict: str  # supported | contradicted | inconclusive
    evidence: str  # the numbers behind the verdict
    method: str
    task: str


ROLE_LABELS = {
    "no_contrast": "No-Contrast",
    "no_contrast_vhead": "No-Contrast-V_head",
    "cd_early": "CD-Early",
    "cd_small": "CD-Small",
    "cd_drop": "CD-Drop",
}
# (claim task, the study's tasks that stand for it, first found wins)
CLAIM_TASKS = {
    "entity_tracking": ("entity_tracking", "probes_tracking"),
    "ewok": ("ewok",),
    "perplexity": ("perplexity", "perplexity_packed"),
    "blimp": ("blimp", "blimp_filtered", "probes_agreement"),
}
TASK_LABELS = {
    "entity_tracking": "entity tracking",
    "probes_tracking": "the tracking probe (the demo's stand-in for entity tracking)",
    "ewok": "EWoK",
    "perplexity": "perplexity",
    "perplexity_packed": "perplexity (packed, as the paper's code)",
    "blimp": "BLiMP",
    "blimp_filtered": "BLiMP (filtered)",
    "probes_agreement": "the agreement probe (the demo's stand-in for BLiMP)",
    "mu_delta_rel": "the aggregate mu-Delta-REL",
    "reading_eye_tracking": "reading: eye tracking",
    "reading_self_paced": "reading: self-paced",
    "reading": "reading, both (mean of the two; ours)",
    "wug_first_form": "WUG first-form share (the paper's WUG)",
    "mu_delta_rel_paper": "mu-Delta-REL with the paper's WUG",
}


def _fmt(v) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{v:.3g}"


def _ci_text(ci) -> str:
    return f"[{_fmt(ci[0])}, {_fmt(ci[1])}]" if ci else "[no CI]"


def _gain_ci(ci, lower: bool):
    if ci is None:
        return None
    return (-ci[1], -ci[0]) if lower else tuple(ci)


def _verdict_above(diff, ci, lower) -> str:
    g = _gain_ci(ci, lower)
    if g is None or not excludes_zero(g):
        return "inconclusive"
    return "supported" if g[0] > 0 else "contradicted"


def _verdict_best(method, rivals, pairs, lower) -> tuple[str, str]:
    """Best among rivals: supported if significantly better than each, contradicted if some
    rival is significantly better, else inconclusive."""
    gains, parts = [], []
    for r in rivals:
        c = pairs.get(method, {}).get(r)
        if c is None or c.get("ci") is None:
            gains.append(None)
            parts.append(f"vs {r}: no CI")
            continue
        g = _gain_ci(c["ci"], lower)
        gains.append(g)
        parts.append(f"vs {r} {c['diff']:+.3g} {_ci_text(c['ci'])}")
    if any(g is not None and excludes_zero(g) and g[1] < 0 for g in gains):
        verdict = "contradicted"
    elif gains and all(g is not None and g[0] > 0 for g in gains):
        verdict = "supported"
    else:
        verdict = "inconclusive"
    return verdict, "; ".join(parts)


def claim_subject(summary: dict, role: str) -> str | None:
    """The study's first main condition in `role` (from the config), if any."""
    for m in summary.get("main_methods", summary["methods"]):
        if summary.get("roles", {}).get(m) == role:
            return m
    return None


def claim_verdicts(summary: dict) -> list[Claim]:
    """The paper's headline claims that the study can test, each with a verdict from the
    numbers: CD-Early above the baseline on entity tracking and on EWoK; No-Contrast the best
    on perplexity and on BLiMP; CD-Early the best mu-Delta-REL.

    summary: {"tasks", "methods", "main_methods" (baseline + the non-sweep conditions),
    "roles" ({method: role}), "rows" ({method: {task: {"value", "diff", "ci"}, "mu_delta_rel"}}),
    "pairwise" ({task or "mu_delta_rel": {a: {b: {"diff", "ci"}}}}, a - b)}. A verdict is
    "inconclusive" where a needed interval spans 0 or is missing."""
    tasks = summary["tasks"]

    def task_for(claim_task):
        return next((t for t in CLAIM_TASKS[claim_task] if t in tasks), None)

    out = []
    cd = claim_subject(summary, "cd_early")
    nc = claim_subject(summary, "no_contrast")
    rows = summary["rows"]
    main = [m for m in summary.get("main_methods", summary["methods"]) if m in rows]
    pairwise = summary.get("pairwise", {})
    for ct in ("entity_tracking", "ewok"):
        t = task_for(ct)
        if cd is None or t is None or "baseline" not in rows:
            continue
        c = rows[cd].get(t, {})
        lower = t in LOWER_IS_BETTER
        diff, ci = c.get("diff"), c.get("ci")
        verdict = _verdict_above(diff, ci, lower)
        ev = (
            f"{cd} {_fmt(c.get('value'))} vs baseline {_fmt(rows['baseline'][t].get('value'))}: "
            f"{'-' if diff is None else f'{diff:+.3g}'} {_ci_text(ci)}"
        )
        text = f"CD-Early ({cd}) scores above the baseline on {TASK_LABELS[t]}"
        out.append(Claim(f"above_baseline:{ct}", text, verdict, ev, cd, t))
    for ct in ("perplexity", "blimp"):
        t = task_for(ct)
        if nc is None or t is None:
            continue
        lower = t in LOWER_IS_BETTER
        rivals = [m for m in main if m != nc]
        verdict, ev = _verdict_best(nc, rivals, pairwise.get(t, {}), lower)
        text = f"No-Contrast ({nc}) is the best of the main methods on {TASK_LABELS[t]}"
        ev = f"{nc} {_fmt(rows[nc].get(t, {}).get('value'))}; " + ev
        out.append(Claim(f"best:{ct}", text, verdict, ev, nc, t))
    if cd is not None:
        rivals = [m for m in main if m not in (cd, "baseline")]
        mu = rows[cd].get("mu_delta_rel")
        value = mu.get("value") if isinstance(mu, dict) else mu
        if rivals:
            verdict, ev = _verdict_best(cd, rivals, pairwise.get("mu_delta_rel", {}), False)
        else:
            verdict, ev = "inconclusive", "no other condition"
        text = f"CD-Early ({cd}) has the best aggregate mu-Delta-REL of the main conditions"
        ev = f"{cd} {_fmt(None if value is None else 100 * value)}%; " + ev
        out.append(Claim("best:mu_delta_rel", text, verdict, ev, cd, "mu_delta_rel"))
    return out


def forest_data(summary: dict) -> dict[str, list[dict]]:
    """{task: [{method, diff, lo, hi, direction}]} for the forest plots: each method's
    difference from the baseline with its 95% CI, the methods in one order (the table's)
    across tasks; "mu_delta_rel" holds each method's mu-Delta-REL with its CI."""
    methods = [m for m in summary["methods"] if m != "baseline"]
    out: dict[str, list[dict]] = {}
    nan = float("nan")
    for t in summary["tasks"]:
        rows = []
        for m in methods:
            c = summary["rows"][m].get(t, {})
            ci = c.get("ci") or [nan, nan]
            rows.append(
                {
                    "method": m,
                    "diff": nan if c.get("diff") is None else c["diff"],
                    "lo": ci[0],
                    "hi": ci[1],
                    "direction": effect_direction(c.get("diff"), c.get("ci"), t in LOWER_IS_BETTER),
                }
            )
        out[t] = rows
    mu_rows = []
    for m in methods:
        mu = summary["rows"][m].get("mu_delta_rel") or {}
        mu = mu if isinstance(mu, dict) else {"value": mu}
        ci = mu.get("ci") or [nan, nan]
        v = nan if mu.get("value") is None else mu["value"]
        mu_rows.append(
            {
                "method": m,
                "diff": v,
                "lo": ci[0],
                "hi": ci[1],
                "direction": effect_direction(v, mu.get("ci")),
            }
        )
    out["mu_delta_rel"] = mu_rows
    return out


# --- corpus diagnostics ----------------------------------------------------------------------


def ngrams(words: list[str], n: int):
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]


def distinct_n(docs: list[list[str]], n: int) -> float:
    grams = [g for d in docs for g in ngrams(d, n)]
    return len(set(grams)) / max(len(grams), 1)


def repetition_rate(docs: list[list[str]], n: int = 4) -> float:
    """Share of n-grams that repeat an earlier n-gram of the same document."""
    rep = total = 0
    for d in docs:
        seen = set()
        for g in ngrams(d, n):
            total += 1
            rep += g in seen
            seen.add(g)
    return rep / max(total, 1)


def bleu(hyp: list[str], refs: list[list[str]], max_n: int = 4) -> float:
    """Sentence BLEU-4 (uniform weights, +1 smoothing) of one text against references."""
    if not hyp:
        return 0.0
    logp = 0.0
    for n in range(1, max_n + 1):
        h = Counter(ngrams(hyp, n))
        best: Counter = Counter()
        for r in refs:
            for g, c in Counter(ngrams(r, n)).items():
                best[g] = max(best[g], c)
        match = sum(min(c, best[g]) for g, c in h.items())
        logp += math.log((match + 1) / (sum(h.values()) + 1)) / max_n
    ref_len = min((abs(len(r) - len(hyp)), len(r)) for r in refs)[1] if refs else 0
    bp = 1.0 if len(hyp) > ref_len else math.exp(1 - ref_len / max(len(hyp), 1))
    return bp * math.exp(logp)


def self_bleu(docs: list[list[str]], k: int = 30) -> float:
    """Mean BLEU of each of the first k documents against the other k - 1."""
    docs = docs[:k]
    if len(docs) < 2:
        return float("nan")
    return float(np.mean([bleu(d, docs[:i] + docs[i + 1 :]) for i, d in enumerate(docs)]))


def overlap_8gram(docs: list[list[str]], train_grams: set) -> float:
    grams = [g for d in docs for g in ngrams(d, 8)]
    return sum(g in train_grams for g in grams) / max(len(grams), 1)


def corpus_diagnostics(
    texts: list[str], train_grams: set | None, ended_with_eos: list[bool] | None = None
) -> dict:
    """Length, diversity and training-text overlap of a sample of documents. Compare corpora
    on samples of one size (`diagnostic_rows`): distinct-n and self-BLEU depend on it. With
    `train_grams` None (the real train split itself) the overlap is not scored."""
    docs = [t.split() for t in texts]
    lengths = [len(d) for d in docs]
    return {
        "documents": len(docs),
        "mean_words": float(np.mean(lengths)) if lengths else 0.0,
        "median_words": float(np.median(lengths)) if lengths else 0.0,
        "eos_share": float(np.mean(ended_with_eos)) if ended_with_eos else None,
        "distinct_1": distinct_n(docs, 1),
        "distinct_2": distinct_n(docs, 2),
        "distinct_3": distinct_n(docs, 3),
        "repetition_4gram": repetition_rate(docs),
        "self_bleu": self_bleu(docs, k=len(docs)),
        "overlap_8gram_train": None if train_grams is None else overlap_8gram(docs, train_grams),
    }


def diagnostic_rows(rows: Sequence[dict], n: int, seed: int = 0) -> list[int]:
    """Indices of the rows a synthetic corpus is diagnosed on: one completion per prefix (the
    lowest completion id, so completions of one prefix never inflate self-BLEU), `n` prefixes
    drawn at random (all if fewer), in prefix order."""
    first: dict = {}
    for i, r in enumerate(rows):
        p = r["prefix_id"]
        if p not in first or r["completion_id"] < rows[first[p]]["completion_id"]:
            first[p] = i
    prefixes = sorted(first)
    rng = np.random.default_rng(seed)
    chosen = (
        sorted(rng.permutation(len(prefixes))[:n]) if len(prefixes) > n else range(len(prefixes))
    )
    return [first[prefixes[k]] for k in chosen]


def sample_rows(sources: Sequence, prefixes: Sequence, n: int, seed: int = 0) -> list[int]:
    """Indices of n rows drawn at random across sources and prefixes: the sources in turn (in
    a random order), within each a random row, rows of prefixes not yet shown first."""
    rng = np.random.default_rng(seed)
    by_source: dict = {}
    for i in rng.permutation(len(sources)):
        by_source.setdefault(sources[i], []).append(int(i))
    queues = []
    for k in sorted(by_source, key=str):
        seen: Counter = Counter()
        rank = []
        for i in by_source[k]:
            rank.append(seen[prefixes[i]])
            seen[prefixes[i]] += 1
        order = np.argsort(rank, kind="stable")
        queues.append([by_source[k][j] for j in order])
    queues = [queues[i] for i in rng.permutation(len(queues))]
    picked: list[int] = []
    for r in range(max((len(q) for q in queues), default=0)):
        for q in queues:
            if r < len(q) and len(picked) < n:
                picked.append(q[r])
    return picked
